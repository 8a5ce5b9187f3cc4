// A round-robin HTTP reverse proxy in a few lines of node:http, for the local fleet
// (examples/fleet/fleet.mjs; compose.yaml uses nginx the same way). The conformance fleet and
// the chaos soak (bench/soak/proxy.mjs) run this same proxy.
//
// - Round robin over every request, GET streams included, with no stickiness: any instance may
//   get any request of any session, which is what RedisSessionStore + RedisStreamManager are for.
// - Streams: response headers are sent at once and each chunk is written as it arrives, so SSE
//   events are not buffered; a client that goes away closes its upstream request.
import http from "node:http";

/**
 * @param {{ host: string, port: number }[]} targets
 * @param {{ onRequest?: (req: http.IncomingMessage, target: { host: string, port: number }) => void | Tap }} [options]
 *   `onRequest` may return a Tap, which a test harness uses to watch and cut one exchange:
 *   `headers` are added to the upstream request; `response(status)`, `data(chunk)` and
 *   `end(why)` report what happens ("upstream-ended", "upstream-died", "client-closed",
 *   "cut", "bad-gateway"); the proxy sets `tap.cut()`, which drops both sides at once.
 * @returns {http.Server} not yet listening
 *
 * @typedef {{ headers?: Record<string, string>, response?: (status: number) => void, data?: (chunk: Buffer) => void,
 *   end?: (why: string) => void, cut?: () => void }} Tap
 */
export function roundRobinProxy(targets, { onRequest } = {}) {
  let next = 0;
  const agent = new http.Agent({ keepAlive: true });
  return http.createServer((req, res) => {
    const target = targets[next++ % targets.length];
    const tap = onRequest?.(req, target) || null;
    let ended = false;
    const end = (why) => {
      if (ended) return;
      ended = true;
      tap?.end?.(why);
    };
    const upstream = http.request(
      { host: target.host, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, ...tap?.headers }, agent },
      (up) => {
        tap?.response?.(up.statusCode);
        res.writeHead(up.statusCode, up.statusMessage, up.headers);
        res.flushHeaders();
        if (tap?.data) up.on("data", tap.data);
        up.pipe(res);
        up.on("end", () => end("upstream-ended"));
        up.on("aborted", () => end("upstream-died"));
        up.on("error", () => {
          end("upstream-died");
          res.destroy();
        });
      },
    );
    upstream.on("error", (e) => {
      if (res.headersSent) {
        end("upstream-died");
        return res.destroy();
      }
      end("bad-gateway");
      res.writeHead(502, { "content-type": "text/plain" });
      res.end(`bad gateway: ${target.host}:${target.port} ${e.code || e.message}\n`);
    });
    res.on("close", () => {
      if (!res.writableFinished) {
        end("client-closed");
        upstream.destroy(); // the client left before the end (an SSE stream)
      }
    });
    if (tap) {
      tap.cut = () => {
        end("cut");
        res.destroy();
        upstream.destroy();
      };
    }
    req.pipe(upstream);
  });
}
