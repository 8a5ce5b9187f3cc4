"use strict";
// Packaging: `npm pack` the main package and the platform package (npm/linux-x64-gnu, staged
// with the built .node copied in), install both tarballs offline into an empty directory
// with no Rust toolchain on PATH, and load the five classes with require() and import().
// The main tarball carries no .node, so this proves the platform-package load path.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { spawnSync } = require("node:child_process");
const { ROOT } = require("./helpers/impls");

const BINARY = "mcp-sessions-native.linux-x64-gnu.node";
const PLATFORM_DIR = path.join(ROOT, "npm", "linux-x64-gnu");
const CLASSES = [
  "InMemorySessionStore",
  "FileSystemSessionStore",
  "RedisSessionStore",
  "InMemoryStreamManager",
  "RedisStreamManager",
];

jest.setTimeout(180_000);

/** PATH without any directory that provides cargo or rustc. */
function pathWithoutRust() {
  return (process.env.PATH || "")
    .split(path.delimiter)
    .filter((d) => d && !["cargo", "rustc"].some((b) => fs.existsSync(path.join(d, b))))
    .join(path.delimiter);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", ...opts });
  if (r.error) throw r.error;
  return r;
}

function fail(what, r) {
  return new Error(`${what} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
}

/**
 * npm pack <dir> into dest; returns { tarball, files } from npm's --json output.
 * --ignore-scripts: pack what is built (a "prepare"/"prepack" build script would need cargo,
 * which is deliberately not on PATH here).
 */
function npmPack(dir, dest, env) {
  const r = run("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", dest], { cwd: dir, env });
  if (r.status !== 0) throw fail(`npm pack ${dir}`, r);
  const info = JSON.parse(r.stdout.slice(r.stdout.indexOf("[")))[0];
  return { tarball: path.join(dest, info.filename), files: info.files.map((f) => f.path), info };
}

describe("packaging: main + platform tarballs, offline install, no Rust toolchain", () => {
  let tmp;
  let env;
  let main;
  let platform;
  let app;

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-pack-"));
    env = {
      ...process.env,
      PATH: pathWithoutRust(),
      npm_config_cache: path.join(tmp, "npm-cache"),
      npm_config_update_notifier: "false",
      NODE_ENV: "production",
    };
    delete env.NODE_OPTIONS;
  });

  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test("the stripped PATH has no cargo/rustc but still has node and npm", () => {
    const which = (b) => run("sh", ["-c", `command -v ${b}`], { env }).status === 0;
    expect({ cargo: which("cargo"), rustc: which("rustc"), node: which("node"), npm: which("npm") }).toEqual({
      cargo: false,
      rustc: false,
      node: true,
      npm: true,
    });
  });

  test("npm pack: main package has the JS/typings and no .node; platform package has the .node", () => {
    const built = path.join(ROOT, BINARY);
    if (!fs.existsSync(built)) throw new Error(`${built} does not exist: run \`npm run build\` first`);
    const platformPkg = JSON.parse(fs.readFileSync(path.join(PLATFORM_DIR, "package.json"), "utf8"));
    expect(platformPkg.name).toBe("mcp-sessions-native-linux-x64-gnu");

    const packs = path.join(tmp, "packs");
    fs.mkdirSync(packs);
    main = npmPack(ROOT, packs, env);
    expect(main.info.name).toBe("mcp-sessions-native");
    expect(main.files).toEqual(expect.arrayContaining(["package.json", "index.js", "index.mjs", "index.d.ts"]));
    expect(main.files.filter((f) => f.endsWith(".node"))).toEqual([]);
    // nothing from the Rust build or the tests leaks into the tarball
    expect(main.files.filter((f) => /^(src|target|__test__|bench|npm)\//.test(f))).toEqual([]);

    // stage a copy of npm/linux-x64-gnu with the built binary
    const stage = path.join(tmp, "platform-stage");
    fs.cpSync(PLATFORM_DIR, stage, { recursive: true });
    fs.copyFileSync(built, path.join(stage, BINARY));
    platform = npmPack(stage, packs, env);
    expect(platform.info.name).toBe("mcp-sessions-native-linux-x64-gnu");
    expect(platform.files).toEqual(expect.arrayContaining(["package.json", BINARY]));
  });

  test("npm install --offline of both tarballs into an empty project", () => {
    if (!main || !platform) throw new Error("packing failed (see previous test)");
    app = path.join(tmp, "app");
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", private: true }));
    const r = run("npm", ["install", "--offline", "--no-audit", "--no-fund", main.tarball, platform.tarball], {
      cwd: app,
      env,
    });
    if (r.status !== 0) throw fail("npm install --offline", r);
    const installed = path.join(app, "node_modules", "mcp-sessions-native");
    expect(fs.existsSync(path.join(installed, "index.js"))).toBe(true);
    expect(fs.readdirSync(installed).filter((f) => f.endsWith(".node"))).toEqual([]);
    expect(fs.existsSync(path.join(app, "node_modules", "mcp-sessions-native-linux-x64-gnu", BINARY))).toBe(true);
  });

  test("require() and import() load the five classes from the installed packages; set/get round trip", () => {
    if (!app) throw new Error("install failed (see previous test)");
    const script = `
      const assert = require("node:assert");
      const path = require("node:path");
      const CLASSES = ${JSON.stringify(CLASSES)};
      (async () => {
        const cjs = require("mcp-sessions-native");
        const esm = await import("mcp-sessions-native");
        for (const [kind, m] of [["require", cjs], ["import", esm]]) {
          for (const c of CLASSES) assert.strictEqual(typeof m[c], "function", kind + ": " + c + " is " + typeof m[c]);
          const mem = new m.InMemorySessionStore();
          await mem.set("sid-" + kind, { lastAccessedAt: 1, kind, nested: { ok: true } });
          assert.deepStrictEqual(await mem.get("sid-" + kind), { lastAccessedAt: 1, kind, nested: { ok: true } });
          assert.strictEqual(await mem.has("sid-" + kind), true);
          assert.strictEqual(mem.size, 1);
          const file = path.join(process.cwd(), kind + "-sessions.json");
          const fsStore = new m.FileSystemSessionStore({ path: file, debounceMs: 10 });
          await fsStore.set("f", { lastAccessedAt: Date.now() });
          await fsStore.flush();
          assert.deepStrictEqual(Object.keys(JSON.parse(require("node:fs").readFileSync(file, "utf8"))), ["f"]);
          const sm = new m.InMemoryStreamManager();
          assert.strictEqual(await sm.has("x"), false);
        }
        const loaded = Object.keys(require.cache).filter((k) => k.endsWith(".node"));
        console.log(JSON.stringify({ ok: true, loaded }));
      })().catch((e) => { console.error(e && e.stack || e); process.exit(1); });
    `;
    // esm entry directly, too
    const esmScript = `
      import { ${CLASSES.join(", ")} } from "mcp-sessions-native";
      const s = new InMemorySessionStore();
      await s.set("e", { lastAccessedAt: 2 });
      const got = await s.get("e");
      if (got?.lastAccessedAt !== 2) throw new Error("round trip failed: " + JSON.stringify(got));
      for (const c of [${CLASSES.join(", ")}]) if (typeof c !== "function") throw new Error("not a class");
      console.log("ESM-OK");
    `;
    const r1 = run(process.execPath, ["-e", script], { cwd: app, env, timeout: 60_000 });
    if (r1.status !== 0) throw fail("require/import in the installed project", r1);
    const out = JSON.parse(r1.stdout.trim().split("\n").pop());
    expect(out.ok).toBe(true);
    for (const p of out.loaded) expect(p).toContain(`${path.sep}mcp-sessions-native-linux-x64-gnu${path.sep}`);

    const r2 = run(process.execPath, ["--input-type=module", "-e", esmScript], { cwd: app, env, timeout: 60_000 });
    if (r2.status !== 0) throw fail("ESM import in the installed project", r2);
    expect(r2.stdout.trim().split("\n").pop()).toBe("ESM-OK");
  });
});
