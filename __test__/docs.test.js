"use strict";
// Every command in the README, CONTRIBUTING.md and docs/ (each line of a ```sh block) is run
// by a test or by CI. EXERCISED says where, and this file checks that the place exists and
// still does it; the commands nothing else runs are run here. A command missing from
// EXERCISED fails the first test: add it, with the test that runs it (or run it here).
// Also: every relative link in those pages points at a file that exists.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { spawnSync } = require("node:child_process");
const { ROOT, e2eImpl } = require("./helpers/impls");
const { runNode } = require("./helpers/child");
const { startServer, freePort } = require("./helpers/mcp");
const { tour } = require("./helpers/example-client");
const { TARGETS } = require("../loader-error.js");

jest.setTimeout(180_000);

const PAGES = ["README.md", "CONTRIBUTING.md", "docs/architecture.md", "docs/performance.md", "docs/redis.md", "docs/compatibility.md", "docs/event-bus.md", "docs/soak.md"];
const read = (f) => fs.readFileSync(path.join(ROOT, f), "utf8");
const PKG = JSON.parse(read("package.json"));
const script = (name) => PKG.scripts[name];

/** command → [where it is exercised, a string that file must contain]; "docs.test.js" = below. */
const EXERCISED = {
  // README
  "npm install": [".ci/run", "npm install --no-audit --no-fund && npm test"],
  "npm run pack:local": ["__test__/packaging.test.js", 'const PACK_LOCAL = "npm run pack:local"'],
  // the tarballs pack:local wrote, installed into an empty project (the names: checked below)
  "npm install ../mcp-sessions-native/dist/mcp-sessions-native-0.1.0.tgz ../mcp-sessions-native/dist/mcp-sessions-native-linux-x64-gnu-0.1.0.tgz": [
    "__test__/packaging.test.js",
    'run("npm", ["install", "--offline"',
  ],
  "docker build -f examples/app/Dockerfile -t mcp-app .": ["__test__/packaging.test.js", 'path.join(ROOT, "examples", "app", "Dockerfile")'], // statically, and its commands run: no Docker engine here
  // as it will be published: the same two tarballs, the main one pinning the platform one
  "npm install mcp-sessions-native": ["__test__/packaging.test.js", 'run("npm", ["install", "--offline"'],
  "npm install ../mcp-sessions-native": ["__test__/docs.test.js", "installs a checkout into an app"],
  "npm install && npm start": ["__test__/example.test.js", 'path.join(ROOT, "examples", "server.mjs")'], // = npm start, checked below
  "npm run start:fleet": ["__test__/fleet.test.js", "npm run start:fleet"],
  "docker compose up": ["__test__/compose.test.js", "compose.yaml"], // statically: no Docker engine here
  "MCP_SESSIONS_LOG=debug npm start": ["__test__/docs.test.js", "MCP_SESSIONS_LOG=debug"],
  "MCP_SESSIONS_LOG=off npm start": ["__test__/docs.test.js", "MCP_SESSIONS_LOG=off"],
  // CONTRIBUTING.md
  "npm install && npm test": [".ci/run", "npm install --no-audit --no-fund && npm test"],
  "npx jest --runInBand __test__/example.test.js": ["package.json", '"test:jest": "jest --runInBand"'],
  "npm run test:faults": ["package.json", '"test:faults": "jest --runInBand __test__/faults"'],
  "npm run test:cargo": ["package.json", "npm run test:cargo"],
  "python3 -m venv .venv && .venv/bin/pip install -r python/requirements.txt": [".ci/run", "-r python/requirements.txt"],
  "bash .ci/run": [".ci/run", "CI entry point"],
  // docs/performance.md: full runs take minutes and rewrite bench/results/, so CI checks the
  // tasks and flags exist (bench --list) and runs the quick one.
  "npm run bench": ["__test__/docs.test.js", "bench/run.mjs --list"],
  "node bench/run.mjs --only rstore:ops,stream:latency": ["__test__/docs.test.js", "bench/run.mjs --list"],
  "node bench/run.mjs --cpu-prof": ["bench/run.mjs", 'flag("--cpu-prof")'],
  "node bench/calls.mjs": ["__test__/docs.test.js", "bench/calls.mjs"],
  // docs/event-bus.md
  "npm run start:bus-fleet": ["__test__/bus-fleet.test.js", "npm run start:bus-fleet"],
  // the full run takes ~2 minutes and rewrites bench/results/bus.json: the quick one runs here
  "npm run bench:bus": ["__test__/docs.test.js", "bench/bus.mjs --quick"],
  // README "What a probe costs": run here with fewer calls (the full run takes a minute and
  // rewrites bench/results/probes.json)
  "node bench/probes.mjs": ["__test__/docs.test.js", '"bench", "probes.mjs"), "--calls"'],
  // docs/soak.md: CI runs the short form after npm test; the other forms are the same script
  // with other flags, checked here without running (--list prints the schedules they follow).
  "npm run soak -- --minutes 3 --seed 25": [".ci/run", "npm run soak -- --minutes 3 --seed 25\n"],
  "npm run soak": ["__test__/docs.test.js", "bench/soak.mjs --list"],
  "npm run soak -- --minutes 30 --seed 25 --impl mcp-use": ["__test__/docs.test.js", "bench/soak.mjs --list"],
  "node bench/soak.mjs --seed 25 --minutes 3 --list": ["__test__/docs.test.js", "bench/soak.mjs --list"],
  "node bench/soak.mjs --seeds": ["__test__/docs.test.js", "bench/soak.mjs --list"],
};

/** The command lines of every ```sh block: comments and blank lines dropped. */
function commands(page) {
  const out = [];
  for (const block of read(page).matchAll(/^```sh\n([\s\S]*?)^```$/gm)) {
    for (const line of block[1].split("\n")) {
      const cmd = line.replace(/\s+#.*$/, "").trim();
      if (cmd && !cmd.startsWith("#")) out.push(cmd);
    }
  }
  return out;
}

describe("the commands of README.md, CONTRIBUTING.md and docs/", () => {
  const all = PAGES.flatMap((p) => commands(p).map((cmd) => ({ page: p, cmd })));

  test("each is exercised by a test or by CI (EXERCISED in __test__/docs.test.js)", () => {
    const missing = all.filter(({ cmd }) => !EXERCISED[cmd]).map(({ page, cmd }) => `${page}: ${cmd}`);
    expect(missing).toEqual([]);
    // and the table has nothing the pages no longer say
    const said = new Set(all.map(({ cmd }) => cmd));
    expect(Object.keys(EXERCISED).filter((c) => !said.has(c))).toEqual([]);
  });

  test("where each is exercised still does it", () => {
    for (const [cmd, [file, needle]] of Object.entries(EXERCISED)) {
      expect([cmd, read(file).includes(needle)]).toEqual([cmd, true]);
    }
    // the npm scripts the pages name run what the tests run
    expect(script("start")).toBe("node examples/server.mjs");
    expect(script("start:fleet")).toBe("node examples/fleet/fleet.mjs");
    expect(script("test")).toMatch(/npm run test:jest && npm run test:cargo/);
    expect(script("test:cargo")).toBe("cargo test");
    expect(script("bench")).toBe("node bench/run.mjs");
    expect(script("start:bus-fleet")).toBe("node examples/bus-fleet/fleet.mjs");
    expect(script("bench:bus")).toBe("node bench/bus.mjs");
    expect(script("soak")).toBe("node bench/soak.mjs");
    expect(fs.existsSync(path.join(ROOT, "__test__/example.test.js"))).toBe(true);
  });

  test("README: that the package is not on npm yet comes before the first npm install", () => {
    const readme = read("README.md");
    const notice = readme.search(/not on the npm registry yet: build it from a checkout/i);
    const firstInstall = readme.search(/^npm install\b/m);
    expect(notice).toBeGreaterThan(0);
    expect(firstInstall).toBeGreaterThan(0);
    expect(notice).toBeLessThan(firstInstall);
  });

  test("README: the tarballs it installs are the ones npm run pack:local writes for this version", () => {
    const line = commands("README.md").find((c) => c.startsWith("npm install ") && c.endsWith(".tgz"));
    const names = line.split(" ").slice(2).map((p) => path.basename(p));
    // pack:local's names (packaging.test.js checks it writes these): main, then one platform
    const platforms = PKG.napi.targets.map((t) => TARGETS[t][0]);
    expect(names[0]).toBe(`${PKG.name}-${PKG.version}.tgz`);
    expect(platforms.map((p) => `${PKG.name}-${p}-${PKG.version}.tgz`)).toContain(names[1]);
    expect(names).toHaveLength(2);
  });

  test("README: which mcp-use it is for, the same line as package.json's peer range", () => {
    const readme = read("README.md");
    const [major, minor] = PKG.devDependencies["mcp-use"].split(".");
    expect(PKG.peerDependencies["mcp-use"]).toBe(`~${major}.${minor}.0`);
    expect(readme).toContain(`**mcp-use ${major}.${minor}.x**`);
    expect(readme).toMatch(new RegExp(`mcp-use\\s+${Number(major) + 1}\\.x\\s+has no session layer`));
  });

  test("every relative link points at a file that exists", () => {
    const broken = [];
    for (const page of PAGES) {
      for (const [, target] of read(page).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target) || target.startsWith("#")) continue;
        const file = path.resolve(path.dirname(path.join(ROOT, page)), target.split("#")[0]);
        if (!fs.existsSync(file)) broken.push(`${page}: ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });
});

describe("docs/architecture.md", () => {
  /** The files the src/ tree of "## Files" names: a name per line, its folder by indentation. */
  function listedSrcFiles() {
    const page = read("docs/architecture.md");
    const block = page.slice(page.indexOf("## Files")).split("```")[1];
    const lines = block.split("\n");
    const start = lines.findIndex((l) => l === "src/");
    const files = [];
    const folders = [{ indent: -1, path: "src" }];
    for (const line of lines.slice(start + 1)) {
      const indent = line.length - line.trimStart().length;
      if (indent === 0) break; // past src/
      const name = line.trim().split(/\s+/)[0];
      while (folders[folders.length - 1].indent >= indent) folders.pop();
      const full = `${folders[folders.length - 1].path}/${name.replace(/\/$/, "")}`;
      if (name.endsWith("/")) folders.push({ indent, path: full });
      else files.push(full);
    }
    return files;
  }

  function srcFiles(dir = "src") {
    return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? srcFiles(`${dir}/${e.name}`) : [`${dir}/${e.name}`],
    );
  }

  test("names every file under src/, and only files that exist", () => {
    const listed = listedSrcFiles();
    expect(listed.length).toBeGreaterThan(50);
    expect({ missing: srcFiles().filter((f) => !listed.includes(f)), gone: listed.filter((f) => !fs.existsSync(path.join(ROOT, f))) }).toEqual({
      missing: [],
      gone: [],
    });
  });
});

test("the TypeScript snippets of README.md and docs/redis.md type-check against index.d.ts and mcp-use", () => {
  // In __test__/types, so that "mcp-sessions-native" resolves to this package (self-reference).
  const dir = path.join(ROOT, "__test__", "types", `.docs-${process.pid}`);
  fs.mkdirSync(dir, { recursive: true });
  try {
    const files = [];
    for (const page of ["README.md", "docs/redis.md", "docs/event-bus.md"]) {
      [...read(page).matchAll(/^```ts\n([\s\S]*?)^```$/gm)].forEach((m, i) => {
        const name = `${path.basename(page, ".md")}-${i}.ts`;
        fs.writeFileSync(path.join(dir, name), `${m[1]}export {};\n`);
        files.push(name);
      });
    }
    expect(files.length).toBeGreaterThanOrEqual(2);
    fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify({ extends: "../tsconfig.json", files }));
    const tsc = path.join(ROOT, "node_modules", ".bin", "tsc");
    const r = spawnSync(tsc, ["--noEmit", "--pretty", "false", "-p", dir], { cwd: ROOT, encoding: "utf8" });
    expect(`${r.stdout}${r.stderr}`.trim()).toBe("");
    expect(r.status).toBe(0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

describe("commands run here", () => {
  test("npm install ../mcp-sessions-native: installs a checkout into an app, which loads it", async () => {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-app-"));
    try {
      // the README's layout: the app next to a checkout named mcp-sessions-native
      fs.symlinkSync(ROOT, path.join(parent, "mcp-sessions-native"));
      const app = path.join(parent, "my-app");
      fs.mkdirSync(app);
      fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "my-app", version: "1.0.0", private: true }));
      const r = spawnSync("npm", ["install", "--offline", "--no-audit", "--no-fund", "../mcp-sessions-native"], { cwd: app, encoding: "utf8" });
      expect([r.status, r.stderr]).toEqual([0, expect.any(String)]);
      const code = `
        const { InMemorySessionStore } = require("mcp-sessions-native");
        import("mcp-sessions-native").then(async (esm) => {
          const s = new esm.FileSystemSessionStore({ path: "s.json" });
          await s.set("a", { lastAccessedAt: 1 });
          await s.flush();
          console.log(JSON.stringify({ cjs: typeof InMemorySessionStore, got: await s.get("a") }));
        });`;
      const out = await runNode(code, { cwd: app });
      expect(JSON.parse(out.stdout)).toEqual({ cjs: "function", got: { lastAccessedAt: 1 } });
    } finally {
      fs.rmSync(parent, { recursive: true, force: true });
    }
  });

  const logStart = (level) =>
    test(`MCP_SESSIONS_LOG=${level} npm start`, async () => {
      const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-log-"));
      const port = await freePort();
      // npm start = node examples/server.mjs (checked above), here in a scratch directory
      const server = await startServer(path.join(ROOT, "examples", "server.mjs"), {
        port,
        ready: /example listening on /,
        env: { CWD: cwd, NODE_ENV: "", REDIS_URL: "", MCP_SESSIONS_LOG: level },
      });
      try {
        await tour(server.url);
        server.proc.kill("SIGINT");
        expect((await server.exited).code).toBe(0);
        const native = server.output().split("\n").filter((l) => / mcp_sessions_native::/.test(l));
        if (level === "off") expect(native).toEqual([]);
        else expect(native.join("\n")).toMatch(/DEBUG mcp_sessions_native::store::filesystem(::\w+)?: no session file, starting empty/);
      } finally {
        await server.kill();
        fs.rmSync(cwd, { recursive: true, force: true });
      }
    });
  if (e2eImpl === "native") {
    logStart("debug");
    logStart("off");
  }

  test("npm run bench / node bench/run.mjs --only rstore:ops,stream:latency: the tasks exist (bench/run.mjs --list)", async () => {
    const r = await runNode([path.join(ROOT, "bench", "run.mjs"), "--list"], { cwd: ROOT });
    expect(r.code).toBe(0);
    const tasks = r.stdout.split("\n").map((l) => l.split(/\s+/)[0]).filter(Boolean);
    for (const t of ["rstore:ops", "stream:latency"]) expect(tasks).toContain(t);
  });

  test("npm run bench:bus: bench/bus.mjs --quick measures both buses and writes its JSON", async () => {
    const out = path.join(os.tmpdir(), `bus-bench-${process.pid}.json`);
    try {
      const r = await runNode([path.join(ROOT, "bench", "bus.mjs"), "--quick", "--out", out], { cwd: ROOT, timeoutMs: 170_000 });
      expect([r.code, r.stderr]).toEqual([0, expect.any(String)]);
      const j = JSON.parse(fs.readFileSync(out, "utf8"));
      expect(j.memory.crossLatencyUs.delivered).toBe(false);
      expect(j.redis.crossLatencyUs.delivered).toBe(true);
      expect(j.redis.fanout).toMatchObject({ delivered: true, listeners: 10_000 });
      expect(j.redis.lostOrDropped).toBe(0);
    } finally {
      fs.rmSync(out, { force: true });
    }
  });

  test("node bench/probes.mjs prints what stats() and health() cost per class, as the README's table", async () => {
    const r = await runNode([path.join(ROOT, "bench", "probes.mjs"), "--calls", "200"], { cwd: ROOT, timeoutMs: 120_000 });
    expect(r.code).toBe(0);
    const classes = ["InMemorySessionStore", "FileSystemSessionStore", "RedisSessionStore", "InMemoryStreamManager", "RedisStreamManager"];
    for (const c of classes) expect(r.stdout).toMatch(new RegExp(`^${c} +\\d+ ns +\\d+ ns +\\d+ ns +[\\d.]+x +[\\d.]+x$`, "m"));
    expect(r.stdout).toMatch(/^renderPrometheus of a RedisSessionStore and a RedisStreamManager: [\d.]+ µs per call$/m);
    const readme = read("README.md");
    for (const c of classes) expect(readme).toContain(`| \`${c}\` |`);
  });

  test("npm run soak: bench/soak.mjs --list prints the schedule of a seed, of each regression seed, and of both implementations", async () => {
    const list = (...args) => runNode([path.join(ROOT, "bench", "soak.mjs"), ...args, "--list"], { cwd: ROOT });
    const ci = await list("--seed", "25", "--minutes", "3");
    expect(ci.code).toBe(0);
    expect(ci.stdout).toMatch(/^native seed 25, 3 min: \d+ fault events/);
    for (const kind of ["kill redis", "kill a", "cut s"]) expect(ci.stdout).toContain(kind);
    // the same seed, the same schedule
    expect((await list("--seed", "25", "--minutes", "3")).stdout).toBe(ci.stdout);
    const both = await list("--seed", "25", "--minutes", "30", "--impl", "both");
    expect(both.stdout).toMatch(/^native seed 25, 30 min: (\d+) fault events[\s\S]*^mcp-use seed 25, 30 min: \1 fault events/m);
    const seeds = await list("--seeds");
    const listed = JSON.parse(read("bench/soak/seeds.json")).seeds;
    expect(seeds.stdout.match(/^native seed \d+/gm)).toEqual(listed.map((s) => `native seed ${s.seed}`));
    const bad = await runNode([path.join(ROOT, "bench", "soak.mjs"), "--impl", "nope", "--list"], { cwd: ROOT });
    expect(bad.code).toBe(2);
  });

  test("node bench/calls.mjs prints the per-call costs docs/performance.md cites", async () => {
    const r = await runNode([path.join(ROOT, "bench", "calls.mjs")], { cwd: ROOT, timeoutMs: 120_000 });
    expect(r.code).toBe(0);
    for (const row of ["addon has", "addon get", "JSON.stringify(metadata)", "await of a resolved promise"]) expect(r.stdout).toContain(row);
  });
});
