// A fetch-style MCP handler (`createMcpHandler(...).fetch`, @modelcontextprotocol/server 2.x)
// served by node:http. The SDK speaks WHATWG Request/Response; this is the few lines between:
//
// - the body is buffered, then handed over as the Request body;
// - the Request's signal aborts when the client goes away before the response ended: that
//   abort is what tears a `subscriptions/listen` stream down (and unsubscribes it from the bus);
// - status and headers are written and flushed at once (an SSE stream must not wait for its
//   first event), then each body chunk is written as it comes.
import { Readable } from "node:stream";

/**
 * @param {(request: Request) => Promise<Response>} fetchHandler
 * @returns {(req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => void}
 */
export function nodeHandler(fetchHandler) {
  return (req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("error", () => res.destroy());
    req.on("end", async () => {
      const aborter = new AbortController();
      res.on("close", () => {
        if (!res.writableFinished) aborter.abort();
      });
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) {
        if (Array.isArray(value)) for (const v of value) headers.append(name, v);
        else if (value !== undefined) headers.set(name, value);
      }
      const body = chunks.length > 0 && req.method !== "GET" && req.method !== "HEAD" ? Buffer.concat(chunks) : undefined;
      const url = `http://${req.headers.host || "localhost"}${req.url}`;
      let response;
      try {
        response = await fetchHandler(new Request(url, { method: req.method, headers, body, signal: aborter.signal }));
      } catch (e) {
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
        res.end(`internal error: ${e && e.message}\n`);
        return;
      }
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.flushHeaders();
      if (!response.body) return res.end();
      const body$ = Readable.fromWeb(response.body);
      body$.on("error", () => res.destroy());
      body$.pipe(res);
    });
  };
}
