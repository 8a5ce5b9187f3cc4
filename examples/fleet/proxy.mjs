// A round-robin HTTP reverse proxy in a few lines of node:http, for the local fleet
// (examples/fleet/fleet.mjs; compose.yaml uses nginx the same way).
//
// - Round robin over every request, GET streams included, with no stickiness: any instance may
//   get any request of any session, which is what RedisSessionStore + RedisStreamManager are for.
// - Streams: response headers are sent at once and each chunk is written as it arrives, so SSE
//   events are not buffered; a client that goes away closes its upstream request.
import http from "node:http";

/**
 * @param {{ host: string, port: number }[]} targets
 * @param {{ onRequest?: (req: http.IncomingMessage, target: { host: string, port: number }) => void }} [options]
 * @returns {http.Server} not yet listening
 */
export function roundRobinProxy(targets, { onRequest } = {}) {
  let next = 0;
  const agent = new http.Agent({ keepAlive: true });
  return http.createServer((req, res) => {
    const target = targets[next++ % targets.length];
    onRequest?.(req, target);
    const upstream = http.request(
      { host: target.host, port: target.port, method: req.method, path: req.url, headers: req.headers, agent },
      (up) => {
        res.writeHead(up.statusCode, up.statusMessage, up.headers);
        res.flushHeaders();
        up.pipe(res);
        up.on("error", () => res.destroy());
      },
    );
    upstream.on("error", (e) => {
      if (res.headersSent) return res.destroy();
      res.writeHead(502, { "content-type": "text/plain" });
      res.end(`bad gateway: ${target.host}:${target.port} ${e.code || e.message}\n`);
    });
    res.on("close", () => {
      if (!res.writableFinished) upstream.destroy(); // the client left before the end (an SSE stream)
    });
    req.pipe(upstream);
  });
}
