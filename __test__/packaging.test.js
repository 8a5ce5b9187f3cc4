"use strict";
// Packaging: `npm pack` the main package and this machine's platform package (npm/<platform>,
// staged with the built .node copied in), install both tarballs offline into an empty
// directory with no Rust toolchain on PATH, and load the five classes with require() and
// import(). The main tarball carries no .node, so this proves the platform-package load path.
// Then what the loader does when nothing fits (its one clear error), the platform packages
// against package.json's napi.targets, the symbol check's rules, and the release workflow.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { spawnSync } = require("node:child_process");
const YAML = require("yaml");
const { ROOT } = require("./helpers/impls");
const { describeHost, TARGETS } = require("../loader-error.js");
const symbols = require("../scripts/check-symbols.js");
const { lint } = require("../scripts/lint-workflow.js");

const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
// This machine's platform, as the loader names it (linux-x64-gnu, darwin-arm64, ...).
const HOST = describeHost(() => {
  const report = process.report.getReport();
  return !(report.header && report.header.glibcVersionRuntime);
});
const PLATFORM = HOST.platform;
const BINARY = `mcp-sessions-native.${PLATFORM}.node`;
const PLATFORM_DIR = path.join(ROOT, "npm", PLATFORM);
const CLASSES = [
  "InMemorySessionStore",
  "FileSystemSessionStore",
  "RedisSessionStore",
  "InMemoryStreamManager",
  "RedisStreamManager",
  "RedisServerEventBus",
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

describe(`packaging: main + ${PLATFORM} tarballs, offline install, no Rust toolchain`, () => {
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
    expect(platformPkg.name).toBe(`mcp-sessions-native-${PLATFORM}`);

    const packs = path.join(tmp, "packs");
    fs.mkdirSync(packs);
    main = npmPack(ROOT, packs, env);
    expect(main.info.name).toBe("mcp-sessions-native");
    expect(main.files).toEqual(expect.arrayContaining(["package.json", "index.js", "loader-error.js", "index.mjs", "index.d.ts"]));
    expect(main.files.filter((f) => f.endsWith(".node"))).toEqual([]);
    // nothing from the Rust build or the tests leaks into the tarball
    expect(main.files.filter((f) => /^(src|target|__test__|bench|npm)\//.test(f))).toEqual([]);

    // stage a copy of npm/<platform> with the built binary
    const stage = path.join(tmp, "platform-stage");
    fs.cpSync(PLATFORM_DIR, stage, { recursive: true });
    fs.copyFileSync(built, path.join(stage, BINARY));
    platform = npmPack(stage, packs, env);
    expect(platform.info.name).toBe(`mcp-sessions-native-${PLATFORM}`);
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
    expect(fs.existsSync(path.join(app, "node_modules", `mcp-sessions-native-${PLATFORM}`, BINARY))).toBe(true);
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
    expect(out.loaded.length).toBe(1);
    for (const p of out.loaded) expect(p).toContain(`${path.sep}mcp-sessions-native-${PLATFORM}${path.sep}`);

    const r2 = run(process.execPath, ["--input-type=module", "-e", esmScript], { cwd: app, env, timeout: 60_000 });
    if (r2.status !== 0) throw fail("ESM import in the installed project", r2);
    expect(r2.stdout.trim().split("\n").pop()).toBe("ESM-OK");
  });

  /** require("mcp-sessions-native") in `dir`; returns { status, stdout, stderr } with the error as JSON on stdout. */
  function requireIn(dir, extraEnv = {}) {
    const script = `
      try { require("mcp-sessions-native"); console.log(JSON.stringify({ loaded: true })); }
      catch (e) { console.log(JSON.stringify({ loaded: false, code: e.code, message: e.message, platform: e.platform, libc: e.libc, cause: e.cause && e.cause.message })); }
    `;
    const r = run(process.execPath, ["-e", script], { cwd: dir, env: { ...env, ...extraEnv }, timeout: 60_000 });
    if (r.status !== 0) throw fail("require in " + dir, r);
    return JSON.parse(r.stdout.trim().split("\n").pop());
  }

  /** A copy of the installed app whose platform package is changed by `mutate(dir)`. */
  function appVariant(name, mutate) {
    const dir = path.join(tmp, name);
    fs.cpSync(app, dir, { recursive: true });
    mutate(path.join(dir, "node_modules", `mcp-sessions-native-${PLATFORM}`));
    return dir;
  }

  function expectClearError(err) {
    expect(err.loaded).toBe(false);
    expect(err.code).toBe("ERR_MCP_SESSIONS_NATIVE_BINDING");
    expect(err.platform).toBe(PLATFORM);
    expect(err.message).toContain(`for ${PLATFORM} (`);
    expect(err.message).toContain(HOST.libc.split(" ")[0]);
    expect(err.message).toContain("Prebuilt packages: ");
    for (const triple of PKG.napi.targets) expect(err.message).toContain(`mcp-sessions-native-${TARGETS[triple][0]} (`);
    expect(err.message).toContain("To build from source");
  }

  test("no platform package installed: one clear error naming the platform, libc, packages and the fix", () => {
    if (!app) throw new Error("install failed (see previous test)");
    const dir = appVariant("app-no-platform", (pkgDir) => fs.rmSync(pkgDir, { recursive: true }));
    const err = requireIn(dir);
    expectClearError(err);
    expect(err.message).toContain(`mcp-sessions-native-${PLATFORM}@${PKG.version}`);
    expect(err.message).toContain("is not installed");
    expect(err.message).toContain(`npm install mcp-sessions-native-${PLATFORM}@${PKG.version}`);
  });

  test("a platform binary that cannot be loaded: the clear error carries the dlopen message, never alone", () => {
    if (!app) throw new Error("install failed (see previous test)");
    const dir = appVariant("app-broken-binary", (pkgDir) => fs.writeFileSync(path.join(pkgDir, BINARY), "not a shared object"));
    const err = requireIn(dir);
    expectClearError(err);
    expect(err.message).toContain("is there but did not load");
    expect(err.message).toMatch(/load error: .*(invalid ELF header|file too short|not a valid Win32 application|not a mach-o file|slice is not valid)/i);
    expect(err.message.split("\n")[0]).toMatch(/^mcp-sessions-native: no native binary could be loaded/);
  });

  test("version check: a platform package of another version is refused under NAPI_RS_ENFORCE_VERSION_CHECK", () => {
    if (!app) throw new Error("install failed (see previous test)");
    const dir = appVariant("app-old-version", (pkgDir) => {
      const f = path.join(pkgDir, "package.json");
      fs.writeFileSync(f, JSON.stringify({ ...JSON.parse(fs.readFileSync(f, "utf8")), version: "0.0.1-old" }));
    });
    expect(requireIn(dir).loaded).toBe(true); // napi-rs's default: warn-free, loads
    const err = requireIn(dir, { NAPI_RS_ENFORCE_VERSION_CHECK: "1" });
    expectClearError(err);
    expect(err.message).toContain(`version mismatch, expected ${PKG.version} but got 0.0.1-old`);
  });

  test("NAPI_RS_NATIVE_LIBRARY_PATH: loads the given file, and names it when it fails", () => {
    if (!app) throw new Error("install failed (see previous test)");
    const dir = appVariant("app-override", (pkgDir) => fs.rmSync(pkgDir, { recursive: true }));
    expect(requireIn(dir, { NAPI_RS_NATIVE_LIBRARY_PATH: path.join(ROOT, BINARY) }).loaded).toBe(true);
    const missing = path.join(tmp, "nowhere.node");
    const err = requireIn(dir, { NAPI_RS_NATIVE_LIBRARY_PATH: missing });
    expectClearError(err);
    expect(err.message).toContain(`NAPI_RS_NATIVE_LIBRARY_PATH is set to ${missing}`);
  });
});

describe("the loader (index.js) is napi-rs's generated one", () => {
  test("scripts/loader.mjs --check: index.js is what @napi-rs/cli generates for this package.json and index.d.ts", () => {
    const r = run(process.execPath, [path.join(ROOT, "scripts", "loader.mjs"), "--check"], { cwd: ROOT });
    if (r.status !== 0) throw fail("scripts/loader.mjs --check", r);
  });

  test("it keeps napi-rs's behaviours and replaces only the final error", () => {
    const src = fs.readFileSync(path.join(ROOT, "index.js"), "utf8");
    for (const needle of ["/* auto-generated by NAPI-RS */", "const isMusl = () =>", "process.env.NAPI_RS_NATIVE_LIBRARY_PATH", "NAPI_RS_ENFORCE_VERSION_CHECK", `require('./${PKG.napi.binaryName}.linux-x64-musl.node')`, `require('${PKG.name}-linux-arm64-gnu')`]) {
      expect(src).toContain(needle);
    }
    expect(src).toContain("require('./loader-error.js').noBindingError(loadErrors, isMusl)");
    expect(src).not.toContain("Cannot find native binding");
    // Old Node must be able to parse the loader and its error module (Debian 11 ships Node 12).
    for (const f of ["index.js", "loader-error.js"]) expect(fs.readFileSync(path.join(ROOT, f), "utf8")).not.toMatch(/\?\.[\w[(]|\?\?/);
  });
});

describe("platform packages: one npm/<platform> per napi target", () => {
  const OS = { darwin: "darwin", win32: "win32", linux: "linux" };
  test.each(PKG.napi.targets)("%s", (triple) => {
    expect(TARGETS[triple]).toBeDefined();
    const platform = TARGETS[triple][0];
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "npm", platform, "package.json"), "utf8"));
    const [osName, arch, abi] = platform.split("-");
    expect(pkg).toMatchObject({ name: `${PKG.name}-${platform}`, version: PKG.version, main: `${PKG.napi.binaryName}.${platform}.node`, os: [OS[osName]], cpu: [arch] });
    expect(pkg.files).toEqual([`${PKG.napi.binaryName}.${platform}.node`]);
    if (osName === "linux") expect(pkg.libc).toEqual([abi === "musl" ? "musl" : "glibc"]);
  });
  test("built binaries stay out of git", () => {
    expect(fs.readFileSync(path.join(ROOT, ".gitignore"), "utf8")).toMatch(/^\/npm\/\*\/\*\.node$/m);
  });
});

describe("symbol check (scripts/check-symbols.js): the rules fail what would not load", () => {
  const header = (machine) => `ELF Header:\n  Type:                              DYN (Shared object file)\n  Machine:                           ${machine}\n`;
  const dynamic = (...libs) => libs.map((l) => ` 0x0000000000000001 (NEEDED)             Shared library: [${l}]`).join("\n");
  const sym = (i, name, bind = "GLOBAL") => `   ${i}: 0000000000000000     0 FUNC    ${bind} DEFAULT  UND ${name}`;
  const gnu = (syms, libs = ["libc.so.6", "libm.so.6"], machine = "Advanced Micro Devices X86-64") => ({
    header: header(machine),
    dynamic: dynamic(...libs),
    dynSyms: syms.join("\n"),
  });
  const ok = [sym(1, "memcpy@GLIBC_2.14 (3)"), sym(2, "napi_create_object"), sym(3, "gettid", "WEAK")];

  test("a portable binary passes", () => {
    const r = symbols.analyze(gnu(ok), "linux-x64-gnu");
    expect(r.problems).toEqual([]);
    expect(r.facts.join("\n")).toContain("highest glibc symbol version: GLIBC_2.14 (memcpy)");
  });
  test.each([
    ["an unversioned strong import (getrandom)", gnu([...ok, sym(4, "getrandom")]), /getrandom: an unversioned, non-weak import/],
    ["a symbol newer than GLIBC_2.17", gnu([...ok, sym(4, "pthread_create@GLIBC_2.34 (6)")]), /pthread_create@GLIBC_2.34 is newer than GLIBC_2.17/],
    ["a weak but versioned import newer than 2.17", gnu([...ok, sym(4, "gettid@GLIBC_2.30 (7)", "WEAK")]), /gettid@GLIBC_2.30/],
    ["a library from the build machine", gnu(ok, ["libc.so.6", "libssl.so.3"]), /needs libssl.so.3/],
    ["the wrong architecture", gnu(ok, undefined, "AArch64"), /ELF machine is "AArch64"/],
    ["packed relocations", { ...gnu(ok), dynamic: `${dynamic("libc.so.6")}\n 0x0000000000000024 (RELR)               0x36a0` }, /DT_RELR/],
  ])("fails %s", (_name, elf, problem) => {
    const r = symbols.analyze(elf, "linux-x64-gnu");
    expect(r.ok).toBe(false);
    expect(r.problems.join("\n")).toMatch(problem);
  });
  test("musl: every import must be exported by the musl libc", () => {
    const elf = gnu([sym(1, "memcpy"), sym(2, "napi_create_object"), sym(3, "getrandom"), sym(4, "__cxa_thread_atexit_impl", "WEAK")], ["libc.so"]);
    expect(symbols.analyze(elf, "linux-x64-musl", { muslExports: new Set(["memcpy", "getrandom"]) }).problems).toEqual([]);
    const r = symbols.analyze(elf, "linux-x64-musl", { muslExports: new Set(["memcpy"]) });
    expect(r.problems).toEqual(["getrandom is not exported by the musl libc"]);
  });
  test("the readelf parser reads real output, and this machine's own build fails the glibc 2.17 rule", () => {
    const built = path.join(ROOT, BINARY);
    if (PLATFORM !== "linux-x64-gnu" || run("sh", ["-c", "command -v readelf"]).status !== 0) return; // Linux x64 with binutils only
    if (!fs.existsSync(built)) throw new Error(`${built} does not exist: run \`npm run build\` first`);
    const glibc = HOST.libc.split(" ")[1];
    const r = symbols.analyze(symbols.inspect(built), "linux-x64-gnu");
    expect(r.facts.join("\n")).toMatch(/undefined symbols, \d+ of them napi_\*/);
    // Built against this machine's glibc: portable only if that glibc were 2.17.
    if (glibc && glibc !== "2.17") expect(r.ok).toBe(false);
  });
});

describe("release workflow (.github/workflows/release.yml)", () => {
  const file = path.join(ROOT, ".github", "workflows", "release.yml");
  const text = fs.readFileSync(file, "utf8");
  const wf = YAML.parse(text);

  test("passes the workflow lint (scripts/lint-workflow.js)", () => {
    expect(lint(text)).toEqual([]);
  });
  test.each([
    ["a YAML syntax error", (t) => t.replace("jobs:\n", "jobs:\n  - [\n"), /YAML/],
    ["a duplicate key", (t) => t.replace("  build:\n", "  build:\n    name: x\n    name: y\n"), /YAML/],
    ["a job without runs-on", (t) => t.replace("    runs-on: ${{ matrix.settings.host }}\n    steps:\n      - uses: actions/checkout@v4\n      - uses: actions/setup-node@v4\n        with:\n          node-version: 20\n          cache: npm\n      - uses: dtolnay", "    steps:\n      - uses: actions/checkout@v4\n      - uses: actions/setup-node@v4\n        with:\n          node-version: 20\n          cache: npm\n      - uses: dtolnay"), /jobs.build: no runs-on/],
    ["needs naming no job", (t) => t.replace("needs: [build, test-native, test-docker]", "needs: [build, test-nativ, test-docker]"), /needs "test-nativ"/],
    ["a matrix key that does not exist", (t) => t.replace("${{ matrix.settings.build }}", "${{ matrix.settings.biuld }}"), /has no "settings.biuld"/],
    ["a step with both uses and run", (t) => t.replace("      - name: Install dependencies (no build)\n        run: npm ci", "      - name: Install dependencies (no build)\n        uses: actions/cache@v4\n        run: npm ci"), /exactly one of uses and run/],
    ["an unclosed expression", (t) => t.replace("${{ matrix.settings.target }}", "${{ matrix.settings.target"), /unbalanced/],
  ])("the lint fails %s", (_name, mutate, message) => {
    const broken = mutate(text);
    expect(broken).not.toBe(text);
    expect(lint(broken).join("\n")).toMatch(message);
  });

  test("builds every napi target, with the runner or cross build it needs", () => {
    const built = wf.jobs.build.strategy.matrix.settings.map((s) => s.target);
    expect([...built].sort()).toEqual([...PKG.napi.targets].sort());
    for (const s of wf.jobs.build.strategy.matrix.settings) {
      if (s.target.includes("linux")) expect(s.build).toBe(`bash scripts/build-platforms.sh ${TARGETS[s.target][0]}`);
      if (s.target.includes("apple")) expect(s.host).toMatch(/^macos-/);
      if (s.target.includes("windows")) expect(s.host).toMatch(/^windows-/);
    }
  });
  test("tests on every native runner: Linux x64 and arm64, macOS x64 and arm64, Windows x64", () => {
    const native = wf.jobs["test-native"].strategy.matrix.settings;
    expect(native.map((s) => s.target).sort()).toEqual(
      ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu", "x86_64-apple-darwin", "aarch64-apple-darwin", "x86_64-pc-windows-msvc"].sort(),
    );
    expect(native.find((s) => s.target === "aarch64-unknown-linux-gnu").host).toMatch(/arm/);
  });
  test("load tests in Docker on amazonlinux:2, rockylinux:8 and alpine, on x64 and arm64", () => {
    const cases = wf.jobs["test-docker"].strategy.matrix.include;
    for (const image of ["amazonlinux:2", "rockylinux:8"]) {
      expect(cases.filter((c) => c.image === image).map((c) => c.package).sort()).toEqual(["linux-arm64-gnu", "linux-x64-gnu"]);
    }
    expect(cases.filter((c) => c.image.startsWith("alpine:")).map((c) => c.package).sort()).toEqual(["linux-arm64-musl", "linux-x64-musl"]);
    for (const c of cases) {
      expect(TARGETS[c.target][0]).toBe(c.package);
      expect(c.runner).toBe(c.arch === "arm64" ? "ubuntu-24.04-arm" : "ubuntu-latest");
    }
  });
  test("publishes after every test, with napi pre-publish and npm provenance", () => {
    const job = wf.jobs.publish;
    expect(job.needs).toEqual(expect.arrayContaining(["build", "test-native", "test-docker"]));
    expect(job.permissions).toMatchObject({ "id-token": "write" });
    const runs = job.steps.map((s) => s.run || "").join("\n");
    expect(runs).toContain("napi artifacts");
    expect(runs).toContain("napi pre-publish -t npm");
    expect(runs).toMatch(/npm publish --provenance --access public/);
    expect(job.steps.find((s) => /pre-publish/.test(s.run || "")).env.NPM_CONFIG_PROVENANCE).toBe("true");
    expect(job.if).toContain("refs/tags/v");
  });
});
