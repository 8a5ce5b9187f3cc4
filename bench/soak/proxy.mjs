// The soak's front door: the fleet's round-robin proxy (examples/fleet/proxy.mjs, no
// stickiness) in its own process, so its forwarding never waits on the soak's clients, with a
// log of every GET stream. Forked by fleet.mjs:
//
//   → { op: "start", ports: [..], log: "/tmp/.../proxy.jsonl" }   ← { op: "listening", port }
//   → { op: "cut", sids: [..] }                                   ← { op: "cut", conns: [..] }
//
// Each request gets an `x-soak-conn` header (its connection id) on its way upstream; the
// instance journals it with every chunk it writes to that GET stream. For GET streams this
// logs (JSONL, fs.writeSync) when it opened, on which instance, for which session, its status,
// which soak seqs / sampling request ids passed through it, and how it ended: "cut" (by us),
// "upstream-died" (the instance died under it), "client-closed", "upstream-ended".
import fs from "node:fs";
import { performance } from "node:perf_hooks";
import { roundRobinProxy } from "../../examples/fleet/proxy.mjs";

const now = () => Math.round((performance.timeOrigin + performance.now()) * 1000) / 1000;
let fd;
const log = (event) => fs.writeSync(fd, `${JSON.stringify({ t: now(), ...event })}\n`);

let nextConn = 0;
const openStreams = new Map(); // conn -> { sid, tap }

/** Soak seqs and sampling request ids in the SSE text of one stream (chunks may split events). */
function watcher(conn) {
  let carry = "";
  return (chunk) => {
    const text = carry + chunk.toString("utf8");
    const cut = text.lastIndexOf("\n\n");
    carry = cut < 0 ? text : text.slice(cut + 2);
    if (cut < 0) return;
    for (const m of text.slice(0, cut).matchAll(/"soak":"(\w)","sid":"[^"]*","seq":(\d+)|"method":"sampling\/createMessage".*?"text":"([^"]*)"/g)) {
      if (m[2]) log({ e: "through", conn, kind: m[1], seq: Number(m[2]) });
      else log({ e: "through", conn, kind: "s", nonce: m[3] });
    }
  };
}

function start(ports) {
  const targets = ports.map((port) => ({ host: "localhost", port }));
  return roundRobinProxy(targets, {
    onRequest(req, target) {
      const conn = `c${++nextConn}`;
      const sid = req.headers["mcp-session-id"];
      if (req.method !== "GET" || !sid) return { headers: { "x-soak-conn": conn } }; // only sessions' GET streams are logged
      const port = target.port;
      log({ e: "open", conn, sid, port });
      const tap = {
        headers: { "x-soak-conn": conn },
        response: (status) => {
          log({ e: "status", conn, status });
          if (status === 200) openStreams.set(conn, { sid, tap });
        },
        data: watcher(conn),
        end: (why) => {
          openStreams.delete(conn);
          log({ e: "end", conn, why });
        },
      };
      return tap;
    },
  });
}

process.on("message", (m) => {
  if (m.op === "start") {
    fd = fs.openSync(m.log, "a");
    const server = start(m.ports);
    server.listen(0, "localhost", () => process.send({ op: "listening", port: server.address().port }));
  } else if (m.op === "cut") {
    const want = new Set(m.sids);
    const conns = [];
    for (const [conn, s] of openStreams) {
      if (!want.has(s.sid)) continue;
      conns.push(conn);
      s.tap.cut();
    }
    process.send({ op: "cut", conns });
  }
});
process.on("disconnect", () => process.exit(0));
