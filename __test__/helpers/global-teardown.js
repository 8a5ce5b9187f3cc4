"use strict";
// Jest global teardown: stop the private redis-server (whatever pid it has after restarts).
const fs = require("node:fs");
const rs = require("./redis-server");

module.exports = async function globalTeardown() {
  const file = process.env[rs.STATE_ENV];
  if (!file || !fs.existsSync(file)) return;
  // dedicated servers a crashed suite may have left behind
  for (const f of rs.dedicatedRecordFiles()) {
    try {
      const rec = JSON.parse(fs.readFileSync(f, "utf8"));
      if (rec.pid && rs.isAlive(rec.pid)) process.kill(rec.pid, "SIGKILL");
      fs.rmSync(rec.dir, { recursive: true, force: true });
    } catch {}
    fs.rmSync(f, { force: true });
  }
  const st = JSON.parse(fs.readFileSync(file, "utf8"));
  if (st.private) {
    if (st.pid && rs.isAlive(st.pid)) {
      try {
        process.kill(st.pid, "SIGTERM");
      } catch {}
    }
    try {
      await rs.waitFor(async () => !(await rs.ping(st.port, 200)), 5_000, "redis-server to stop");
    } catch {
      if (st.pid) {
        try {
          process.kill(st.pid, "SIGKILL");
        } catch {}
      }
    }
    try {
      fs.rmSync(st.dir, { recursive: true, force: true });
    } catch {}
  }
  fs.rmSync(file, { force: true });
};
