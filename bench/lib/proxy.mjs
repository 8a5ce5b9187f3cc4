// A counting TCP proxy in front of redis-server. It parses RESP in both directions and counts,
// per client connection, commands and round trips ("flights"): a flight starts when a complete
// command arrives while the connection has no reply outstanding; commands pipelined behind it
// (sent before the replies came back) belong to the same flight. Connections that SUBSCRIBE are
// marked as subscribers (their pushes are not replies) and reported apart.
//
// Run as a forked child (IPC): send {op:"start", upstreamPort}, get {port}; send {op:"snapshot"},
// get the counters. Running it in its own process keeps its work off the measured event loop.
import net from "node:net";

const CR = 13;

/** End offset of the RESP value at `pos`, or -1 if `buf` does not hold all of it yet. */
function skipValue(buf, pos) {
  if (pos >= buf.length) return -1;
  const t = buf[pos];
  const eol = buf.indexOf(CR, pos);
  if (eol < 0 || eol + 1 >= buf.length) return -1;
  const next = eol + 2;
  switch (t) {
    case 0x2b: case 0x2d: case 0x3a: case 0x5f: case 0x23: case 0x2c: case 0x28: // + - : _ # , (
      return next;
    case 0x24: case 0x3d: case 0x21: { // $ = !
      const len = parseInt(buf.toString("latin1", pos + 1, eol), 10);
      if (len < 0) return next;
      const end = next + len + 2;
      return end <= buf.length ? end : -1;
    }
    case 0x2a: case 0x7e: case 0x3e: case 0x25: case 0x7c: { // * ~ > % |
      let n = parseInt(buf.toString("latin1", pos + 1, eol), 10);
      if (n < 0) return next;
      if (t === 0x25 || t === 0x7c) n *= 2;
      let p = next;
      for (let i = 0; i < n; i++) { p = skipValue(buf, p); if (p < 0) return -1; }
      if (t === 0x7c) return skipValue(buf, p); // an attribute precedes the actual reply
      return p;
    }
    default: { // inline command: up to CRLF
      return next;
    }
  }
}

/** Upper-cased command name of the request at `pos` (an array of bulk strings). */
function commandName(buf, pos) {
  if (buf[pos] !== 0x2a) {
    const eol = buf.indexOf(CR, pos);
    return buf.toString("latin1", pos, eol).split(" ")[0].toUpperCase();
  }
  const eol = buf.indexOf(CR, pos);
  const bulk = eol + 2; // "$len\r\n"
  const eol2 = buf.indexOf(CR, bulk);
  const len = parseInt(buf.toString("latin1", bulk + 1, eol2), 10);
  return buf.toString("latin1", eol2 + 2, eol2 + 2 + len).toUpperCase();
}

const conns = [];
let nextId = 1;

function handle(client, upstreamPort) {
  const st = { id: nextId++, subscriber: false, chunks: 0, commands: 0, flights: 0, replies: 0, outstanding: 0, byCmd: {}, flightLog: [] };
  conns.push(st);
  const up = net.connect(upstreamPort, "127.0.0.1");
  up.setNoDelay(true);
  client.setNoDelay(true);
  let reqBuf = Buffer.alloc(0);
  let repBuf = Buffer.alloc(0);
  let current = null; // the open flight
  client.on("data", (d) => {
    up.write(d);
    st.chunks++;
    reqBuf = reqBuf.length ? Buffer.concat([reqBuf, d]) : d;
    let pos = 0;
    for (;;) {
      const end = skipValue(reqBuf, pos);
      if (end < 0) break;
      const name = commandName(reqBuf, pos);
      pos = end;
      if (/^(P|S)?SUBSCRIBE$/.test(name)) st.subscriber = true;
      st.commands++;
      st.byCmd[name] = (st.byCmd[name] || 0) + 1;
      if (st.outstanding === 0 || current === null) {
        st.flights++;
        current = { t: Date.now(), cmds: {} };
        st.flightLog.push(current);
        if (st.flightLog.length > 200_000) st.flightLog.shift();
      }
      current.cmds[name] = (current.cmds[name] || 0) + 1;
      st.outstanding++;
    }
    reqBuf = pos === reqBuf.length ? Buffer.alloc(0) : reqBuf.subarray(pos);
  });
  up.on("data", (d) => {
    client.write(d);
    if (st.subscriber) return; // pushes are not replies; we do not count this connection
    repBuf = repBuf.length ? Buffer.concat([repBuf, d]) : d;
    let pos = 0;
    for (;;) {
      const end = skipValue(repBuf, pos);
      if (end < 0) break;
      pos = end;
      st.replies++;
      if (st.outstanding > 0) st.outstanding--;
      if (st.outstanding === 0) current = null;
    }
    repBuf = pos === repBuf.length ? Buffer.alloc(0) : repBuf.subarray(pos);
  });
  const close = () => { client.destroy(); up.destroy(); st.closed = true; };
  client.on("error", close); up.on("error", close);
  client.on("close", close); up.on("close", close);
}

export function snapshot(sinceMs = 0) {
  return conns.map((c) => ({
    id: c.id, subscriber: c.subscriber, chunks: c.chunks, commands: c.commands, flights: c.flights, replies: c.replies,
    byCmd: { ...c.byCmd },
    flightsSince: sinceMs ? c.flightLog.filter((f) => f.t >= sinceMs).map((f) => ({ t: f.t, cmds: f.cmds })) : undefined,
  }));
}

if (process.send) {
  let server;
  process.on("message", (m) => {
    if (m.op === "start") {
      server = net.createServer((c) => handle(c, m.upstreamPort));
      server.listen(0, "127.0.0.1", () => process.send({ op: "started", port: server.address().port }));
    } else if (m.op === "snapshot") {
      process.send({ op: "snapshot", conns: snapshot(m.sinceMs), at: Date.now() });
    } else if (m.op === "stop") {
      for (const c of conns) c.closed = true;
      process.exit(0);
    }
  });
  process.on("disconnect", () => process.exit(0));
}
