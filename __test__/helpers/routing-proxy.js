"use strict";
// An HTTP proxy for fleet tests that picks each request's instance with a function of the
// request: `route({ method, body })` returns a port on localhost (the body is buffered, so a
// route may read a JSON-RPC message). Every request is logged with the port it went to, and
// what the instances sent back on GET (SSE) responses is kept as text.
const http = require("node:http");

function routingProxy(route) {
  const log = [];
  const getStreamText = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const port = route({ method: req.method, body });
      log.push({ method: req.method, port });
      const upstream = http.request({ host: "localhost", port, method: req.method, path: req.url, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode, up.headers);
        if (req.method === "GET") up.on("data", (chunk) => getStreamText.push(chunk.toString("utf8")));
        up.pipe(res);
      });
      upstream.on("error", () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      upstream.end(body);
    });
  });
  return { server, log, getStreamText };
}

/** The JSON-RPC response (an answer to a server-to-client request) a POST body holds, if any. */
function clientAnswer(body) {
  try {
    const m = JSON.parse(body.toString("utf8"));
    return m && !Array.isArray(m) && m.method === undefined && ("result" in m || "error" in m) ? m : null;
  } catch {
    return null;
  }
}

module.exports = { routingProxy, clientAnswer };
