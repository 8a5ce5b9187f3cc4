"use strict";
// Reliability: FileSystemSessionStore under crashes (SIGKILL), signals and exits, and the
// one-file-one-process lock. Everything that holds the store runs in child processes: the
// addon takes an advisory flock on `<path>.lock` per process, so a store in this (jest)
// process would lock the children out.
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { runNode, describeResult } = require("../helpers/child");

const ADDON = require.resolve("../..");
const WRITER = path.join(__dirname, "..", "fixtures", "faults-fs-writer.js");
const KILLS = 50;

function tmpDir(tag) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `mcp-faults-${tag}-`));
}

/** Spawns the writer; resolves once it printed CHECK (or exited). */
function startWriter(file, round, expectationsFile, env = {}) {
  const child = spawn(process.execPath, [WRITER, ADDON, file, String(round), expectationsFile], {
    env: { ...process.env, MCP_SESSIONS_LOG: "off", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const state = { child, stdout: "", stderr: "", check: null, exit: null };
  state.exited = new Promise((resolve) => child.on("close", (code, signal) => resolve((state.exit = { code, signal }))));
  child.stderr.on("data", (d) => (state.stderr += d));
  state.checked = new Promise((resolve) => {
    child.stdout.on("data", (d) => {
      state.stdout += d;
      if (!state.check) {
        const m = /^CHECK (.*)$/m.exec(state.stdout);
        if (m) {
          state.check = JSON.parse(m[1]);
          resolve(state.check);
        }
      }
    });
    state.exited.then(() => resolve(state.check));
  });
  return state;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe("fault: FileSystemSessionStore killed with SIGKILL at random moments", () => {
  test(`${KILLS} kills: the file always parses and holds every flushed session; the next store opens it`, async () => {
    const dir = tmpDir("kill");
    const file = path.join(dir, "sessions.json");
    const expectationsFile = path.join(dir, "expected.json");
    const flushed = new Set(); // `S id`: flush resolved after set(id)
    const deleteIssued = new Set(); // `d id`: may be gone from now on
    const deleteFlushed = new Set(); // `D id`: flush resolved after delete(id)
    const expectedPresent = () => [...flushed].filter((id) => !deleteIssued.has(id));
    const writeExpectations = () =>
      fs.writeFileSync(expectationsFile, JSON.stringify({ present: expectedPresent(), absent: [...deleteFlushed] }));

    const failures = [];
    const stats = { flushedPerRound: [], killedDuringSave: 0, fileSizes: [] };
    writeExpectations();
    for (let round = 0; round < KILLS; round++) {
      const w = startWriter(file, round, expectationsFile);
      const check = await w.checked;
      if (!check) {
        throw new Error(`round ${round}: the writer exited before opening the store\n${describeResult({ ...w.exit, stdout: w.stdout, stderr: w.stderr, timedOut: false })}`);
      }
      // The next start of a store (this child) found everything the previous ones flushed.
      if (!check.ok) failures.push(`round ${round}: store opened after the crash: ${JSON.stringify(check)}`);
      // Random moment: from right after the load to well into the write loop.
      await sleep(Math.floor(Math.random() * 250));
      w.child.kill("SIGKILL");
      const exit = await w.exited;
      expect(exit.signal).toBe("SIGKILL");
      if (/FATAL/.test(w.stdout)) failures.push(`round ${round}: writer failed: ${w.stdout.slice(w.stdout.indexOf("FATAL"))}`);

      let confirmed = 0;
      for (const line of w.stdout.split("\n")) {
        const [kind, id] = [line.slice(0, 1), line.slice(2)];
        if (kind === "S") (flushed.add(id), confirmed++);
        else if (kind === "d") deleteIssued.add(id);
        else if (kind === "D") deleteFlushed.add(id);
      }
      stats.flushedPerRound.push(confirmed);
      // The addon's temp file is `<path>.<pid>.tmp`: present now means the kill hit a save.
      if (fs.existsSync(`${file}.${w.child.pid}.tmp`)) stats.killedDuringSave++;

      // The file as the crash left it: valid JSON holding every flushed session.
      if (!fs.existsSync(file)) {
        if (flushed.size > 0) failures.push(`round ${round}: file absent although ${flushed.size} sessions were flushed`);
      } else {
        const text = fs.readFileSync(file, "utf8");
        stats.fileSizes.push(text.length);
        let onDisk;
        try {
          onDisk = JSON.parse(text);
        } catch (e) {
          failures.push(`round ${round}: file does not parse after SIGKILL (${e.message}); ${text.length} bytes`);
          continue;
        }
        const missing = expectedPresent().filter((id) => !(id in onDisk));
        if (missing.length) failures.push(`round ${round}: ${missing.length} flushed sessions missing from the file: ${missing.slice(0, 10)}`);
        const back = [...deleteFlushed].filter((id) => id in onDisk);
        if (back.length) failures.push(`round ${round}: sessions whose delete was flushed are back: ${back.slice(0, 10)}`);
      }
      writeExpectations();
      if (failures.length > 5) break;
    }
    expect(failures).toEqual([]);
    // Enough happened for the test to mean something: most rounds flushed something.
    expect(flushed.size).toBeGreaterThan(KILLS);
    expect(stats.flushedPerRound.filter((n) => n > 0).length).toBeGreaterThan(KILLS / 2);
    // ...and some kills landed in the middle of a save (its temp file was left behind).
    expect(stats.killedDuringSave).toBeGreaterThan(0);

    // The final state opens in a fresh store (leftover temp files of killed pids are ignored).
    const final = startWriter(file, "final", expectationsFile, { FAULTS_CHECK_ONLY: "1" });
    const check = await final.checked;
    const exit = await final.exited;
    expect({ check, exit }).toEqual({ check: expect.objectContaining({ ok: true }), exit: { code: 0, signal: null } });
    expect(check.size).toBeGreaterThanOrEqual(expectedPresent().length);
    const leftovers = fs.readdirSync(dir).filter((n) => n.endsWith(".tmp"));
    // Numbers for the report.
    console.log(
      `[faults] ${KILLS} SIGKILLs: ${flushed.size} sessions confirmed flushed, ${deleteFlushed.size} confirmed deleted, ` +
        `final store ${check.size} sessions, file ${stats.fileSizes.at(-1)} bytes, ` +
        `${stats.killedDuringSave} kills hit a save and left its temp file (${leftovers.length} temp files on disk, ignored by the next store)`,
    );
    fs.rmSync(dir, { recursive: true, force: true });
  }, 240_000);
});

describe("fault: signals and exits write the debounced changes", () => {
  const program = (file, tail) => `
    const { FileSystemSessionStore } = require(${JSON.stringify(ADDON)});
    const s = new FileSystemSessionStore({ path: ${JSON.stringify(file)}, debounceMs: 100000 });
    s.set("unsaved", { lastAccessedAt: Date.now(), v: 1 }).then(() => {
      process.stdout.write("SET-OK\\n");
      ${tail}
    });
  `;

  /** Runs a child until it prints SET-OK, sends `signal`, resolves its exit. */
  function runAndSignal(code, signal) {
    const child = spawn(process.execPath, ["-e", code], { env: { ...process.env, MCP_SESSIONS_LOG: "off" }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.stderr.on("data", (d) => (stderr += d));
    child.stdout.on("data", (d) => {
      stdout += d;
      if (stdout.includes("SET-OK") && !child.sent) {
        child.sent = true;
        child.kill(signal);
      }
    });
    return new Promise((resolve) =>
      child.on("close", (code, sig) => {
        clearTimeout(killer);
        resolve({ code, signal: sig, stdout, stderr, timedOut: false });
      }),
    );
  }

  const onDisk = (file) => (fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : {});

  test.each(["SIGTERM", "SIGINT"])("%s: the unsaved session is on disk and the process died by the signal", async (signal) => {
    const dir = tmpDir("sig");
    const file = path.join(dir, "sessions.json");
    // Keeps the event loop alive: only the signal ends it.
    const r = await runAndSignal(program(file, "setInterval(() => {}, 1000);"), signal);
    expect({ signal: r.signal, code: r.code }).toEqual({ signal, code: null });
    expect(onDisk(file)).toEqual({ unsaved: expect.objectContaining({ v: 1 }) });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test.each(["SIGTERM", "SIGINT"])("%s with an application listener: written, and the application decides (exits 7)", async (signal) => {
    const dir = tmpDir("sigapp");
    const file = path.join(dir, "sessions.json");
    const tail = `
      const t = setInterval(() => {}, 1000);
      process.on(${JSON.stringify(signal)}, () => {
        // our listener ran first or runs next; either way the file must hold it at exit
        setTimeout(() => { process.stdout.write("APP-HANDLED\\n"); process.exit(7); }, 50);
      });`;
    const r = await runAndSignal(program(file, tail), signal);
    expect({ code: r.code, signal: r.signal }).toEqual({ code: 7, signal: null });
    expect(r.stdout).toContain("APP-HANDLED");
    expect(onDisk(file)).toEqual({ unsaved: expect.objectContaining({ v: 1 }) });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  // Natural end of the event loop and process.exit(0) are covered in differential.test.js
  // ("FS: writes inside the debounce window are flushed ..."); these are the other exits.
  test.each([
    ["process.exit(3)", "process.exit(3);", { code: 3, signal: null }],
    ["an uncaught exception", "setTimeout(() => { throw new Error('boom'); }, 0);", { code: 1, signal: null }],
    ["process.exitCode = 4 and a natural end", "process.exitCode = 4;", { code: 4, signal: null }],
  ])("exit by %s: the unsaved session is on disk", async (_, tail, expected) => {
    const dir = tmpDir("exit");
    const file = path.join(dir, "sessions.json");
    const r = await runNode(program(file, tail), { env: { MCP_SESSIONS_LOG: "off" }, timeoutMs: 20_000 });
    expect({ code: r.code, signal: r.signal, timedOut: r.timedOut }).toEqual({ ...expected, timedOut: false });
    expect(onDisk(file)).toEqual({ unsaved: expect.objectContaining({ v: 1 }) });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("SIGTERM with two stores on two files: both written", async () => {
    const dir = tmpDir("sig2");
    const a = path.join(dir, "a.json");
    const b = path.join(dir, "b.json");
    const code = `
      const { FileSystemSessionStore } = require(${JSON.stringify(ADDON)});
      const sa = new FileSystemSessionStore({ path: ${JSON.stringify(a)}, debounceMs: 100000 });
      const sb = new FileSystemSessionStore({ path: ${JSON.stringify(b)}, debounceMs: 100000 });
      Promise.all([sa.set("in-a", { lastAccessedAt: Date.now() }), sb.set("in-b", { lastAccessedAt: Date.now() })])
        .then(() => { process.stdout.write("SET-OK\\n"); setInterval(() => {}, 1000); });
    `;
    const r = await runAndSignal(code, "SIGTERM");
    expect(r.signal).toBe("SIGTERM");
    expect(Object.keys(onDisk(a))).toEqual(["in-a"]);
    expect(Object.keys(onDisk(b))).toEqual(["in-b"]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe("fault: two processes on one session file", () => {
  test("the second constructor throws 'in use' with the holder's pid; after the holder dies, it opens", async () => {
    const dir = tmpDir("lock");
    const file = path.join(dir, "sessions.json");
    const holder = spawn(
      process.execPath,
      ["-e", `
        const { FileSystemSessionStore } = require(${JSON.stringify(ADDON)});
        const s = new FileSystemSessionStore({ path: ${JSON.stringify(file)} });
        s.set("held", { lastAccessedAt: Date.now() }).then(() => s.flush()).then(() => { process.stdout.write("READY\\n"); setInterval(() => {}, 1000); });
      `],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const exited = new Promise((r) => holder.on("close", (code, signal) => r({ code, signal })));
    try {
      await new Promise((resolve, reject) => {
        let out = "";
        holder.stdout.on("data", (d) => ((out += d), out.includes("READY") && resolve()));
        exited.then((e) => reject(new Error(`holder exited early: ${JSON.stringify(e)}`)));
      });
      const second = `
        const { FileSystemSessionStore } = require(${JSON.stringify(ADDON)});
        try {
          new FileSystemSessionStore({ path: ${JSON.stringify(file)} });
          console.log(JSON.stringify({ opened: true }));
        } catch (e) {
          console.log(JSON.stringify({ opened: false, name: e.name, isError: e instanceof Error, message: e.message }));
        }
      `;
      const r = await runNode(second, { timeoutMs: 20_000 });
      expect(r.code).toBe(0);
      const res = JSON.parse(r.stdout);
      expect(res).toEqual({ opened: false, name: "Error", isError: true, message: expect.stringMatching(/in use/) });
      expect(res.message).toContain(`pid ${holder.pid}`);
      // Nothing was changed by the refused open.
      expect(Object.keys(JSON.parse(fs.readFileSync(file, "utf8")))).toEqual(["held"]);

      holder.kill("SIGKILL");
      await exited;
      // flock is released with the process: the next one opens the file and sees the session.
      const again = await runNode(
        `const { FileSystemSessionStore } = require(${JSON.stringify(ADDON)});
         const s = new FileSystemSessionStore({ path: ${JSON.stringify(file)} });
         s.keys().then((k) => console.log(JSON.stringify(k)));`,
        { timeoutMs: 20_000 },
      );
      expect({ code: again.code, out: again.stdout.trim() }).toEqual({ code: 0, out: '["held"]' });
    } finally {
      holder.kill("SIGKILL");
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
