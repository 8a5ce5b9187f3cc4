"use strict";
// Packaging: `npm run pack:local` (scripts/pack-local.mjs) packs the main package and this
// machine's platform package (npm/<platform> with the built .node) as `npm publish` would ship
// them; both tarballs are installed offline into an empty directory with no Rust toolchain on
// PATH, and the five classes load with require() and import(). The main tarball carries no
// .node, so this proves the platform-package load path. Then what the loader does when nothing
// fits (its one clear error), what every package carries (LICENSE, CHANGELOG, the mcp-use peer
// range), the platform packages against package.json's napi.targets, the symbol check's rules
// and the release workflow. Last, a deploy without the registry: examples/app installed from
// the tarballs the way its Dockerfile does, serving a real MCP request.
const crypto = require("node:crypto");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { spawnSync } = require("node:child_process");
const YAML = require("yaml");
const { ROOT } = require("./helpers/impls");
const { startServer, sdk, toolJson, freePort } = require("./helpers/mcp");
const dockerfile = require("./helpers/dockerfile");
const { lockfileFor } = require("./helpers/locked-tree");
const changelog = require("./helpers/changelog");
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
// The README's command, and the one examples/app/Dockerfile's build stage runs.
const PACK_LOCAL = "npm run pack:local";
const DIST = path.join(ROOT, "dist");

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

/** The files of a package tarball, without npm's "package/" prefix. */
function tarFiles(tgz) {
  const r = run("tar", ["-tzf", tgz]);
  if (r.status !== 0) throw fail(`tar -tzf ${tgz}`, r);
  return r.stdout.split("\n").filter(Boolean).map((f) => f.replace(/^package\//, ""));
}

/** One file of a package tarball, as a Buffer. */
function tarRead(tgz, file) {
  const r = spawnSync("tar", ["-xzOf", tgz, `package/${file}`], { maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`tar -xzOf ${tgz} package/${file} failed: ${r.stderr}`);
  return r.stdout;
}

const sha256 = (buf) => crypto.createHash("sha256").update(buf).digest("hex");

let packed;
/**
 * PACK_LOCAL, run once for the whole file (in the checkout, as the README and the Dockerfile
 * run it; it writes dist/, git-ignored); -> { main, platform, tarballs }: the absolute paths
 * it printed.
 */
function packLocal(env) {
  if (packed) return packed;
  const [cmd, ...args] = PACK_LOCAL.split(" ");
  const r = run(cmd, args, { cwd: ROOT, env });
  if (r.status !== 0) throw fail(PACK_LOCAL, r);
  const tarballs = r.stdout.split("\n").filter((l) => path.isAbsolute(l) && l.endsWith(".tgz"));
  packed = { main: tarballs[0], platform: tarballs[1], tarballs };
  return packed;
}

describe(`packaging: main + ${PLATFORM} tarballs (npm run pack:local), offline install, no Rust toolchain`, () => {
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

  test("npm run pack:local (no Rust needed): two tarballs in dist/, their paths on stdout, older ones removed, the checkout unchanged", () => {
    const built = path.join(ROOT, BINARY);
    if (!fs.existsSync(built)) throw new Error(`${built} does not exist: run \`npm run build\` first`);
    const packageJsonBefore = fs.readFileSync(path.join(ROOT, "package.json"), "utf8");
    const platformDirBefore = fs.readdirSync(PLATFORM_DIR).sort();
    fs.mkdirSync(DIST, { recursive: true });
    const stale = path.join(DIST, `${PKG.name}-0.0.0-stale.tgz`);
    fs.writeFileSync(stale, "an older pack");

    const r = packLocal(env);
    expect(r.tarballs).toEqual([path.join(DIST, `${PKG.name}-${PKG.version}.tgz`), path.join(DIST, `${PKG.name}-${PLATFORM}-${PKG.version}.tgz`)]);
    for (const t of r.tarballs) expect(fs.existsSync(t)).toBe(true);
    expect(fs.existsSync(stale)).toBe(false);
    // napi pre-publish rewrites package.json in place; pack:local must leave the checkout alone
    expect(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).toBe(packageJsonBefore);
    expect(fs.readdirSync(PLATFORM_DIR).sort()).toEqual(platformDirBefore);
    ({ main, platform } = r);
  });

  test("the main tarball: JS, typings, README, LICENSE, CHANGELOG and no .node; package.json as napi pre-publish leaves it", () => {
    if (!main) throw new Error("packing failed (see previous test)");
    const files = tarFiles(main);
    expect(files).toEqual(expect.arrayContaining(["package.json", "index.js", "loader-error.js", "index.mjs", "index.d.ts", "README.md", "LICENSE", "CHANGELOG.md"]));
    expect(files.filter((f) => f.endsWith(".node"))).toEqual([]);
    // nothing from the Rust build, the tests, the examples or the tooling leaks into the tarball
    expect(files.filter((f) => /^(src|target|__test__|tests|bench|npm|examples|scripts|dist)\//.test(f))).toEqual([]);
    expect(tarRead(main, "LICENSE").toString()).toBe(fs.readFileSync(path.join(ROOT, "LICENSE"), "utf8"));
    expect(tarRead(main, "CHANGELOG.md").toString()).toBe(fs.readFileSync(path.join(ROOT, "CHANGELOG.md"), "utf8"));
    // package.json: the checkout's, plus every target's platform package pinned at this exact
    // version as an optional dependency (the names here from the loader's table, pack:local
    // takes them from napi-rs), as `napi pre-publish` makes it before `npm publish`
    const optionalDependencies = Object.fromEntries(PKG.napi.targets.map((t) => [`${PKG.name}-${TARGETS[t][0]}`, PKG.version]));
    expect(Object.keys(optionalDependencies)).toContain(`${PKG.name}-${PLATFORM}`);
    expect(JSON.parse(tarRead(main, "package.json"))).toEqual({ ...PKG, optionalDependencies });
  });

  test("the platform tarball: the built .node, LICENSE, and npm/<platform>'s package.json at the main version", () => {
    if (!platform) throw new Error("packing failed (see previous test)");
    const files = tarFiles(platform);
    expect(files.sort()).toEqual(["LICENSE", "README.md", BINARY, "package.json"].sort());
    expect(sha256(tarRead(platform, BINARY))).toBe(sha256(fs.readFileSync(path.join(ROOT, BINARY))));
    expect(tarRead(platform, "LICENSE").toString()).toBe(fs.readFileSync(path.join(ROOT, "LICENSE"), "utf8"));
    const platformPkg = JSON.parse(fs.readFileSync(path.join(PLATFORM_DIR, "package.json"), "utf8"));
    expect(JSON.parse(tarRead(platform, "package.json"))).toEqual({ ...platformPkg, version: PKG.version });
  });

  test("npm install --offline of both tarballs into an empty project", () => {
    if (!main || !platform) throw new Error("packing failed (see previous test)");
    app = path.join(tmp, "app");
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", private: true }));
    const r = run("npm", ["install", "--offline", "--no-audit", "--no-fund", main, platform], {
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

describe("what every package carries: LICENSE, CHANGELOG, the mcp-use it is for", () => {
  const read = (f) => fs.readFileSync(path.join(ROOT, f), "utf8");

  test("LICENSE is the MIT license of package.json, for the project's contributors, and ships", () => {
    expect(PKG.license).toBe("MIT");
    const text = read("LICENSE");
    expect(text.split("\n")[0]).toBe("MIT License");
    expect(text).toMatch(/^Copyright \(c\) \d{4} mcp-sessions-native contributors$/m);
    expect(text).toContain('THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND');
    expect(PKG.files).toEqual(expect.arrayContaining(["LICENSE", "CHANGELOG.md"]));
  });

  test("CHANGELOG.md is a Keep a Changelog file whose releases include package.json's version", () => {
    const text = read("CHANGELOG.md");
    expect(changelog.problems(text)).toEqual([]);
    expect(changelog.releases(text)).toContain(PKG.version);
  });

  const good = fs.readFileSync(path.join(ROOT, "CHANGELOG.md"), "utf8");
  test.each([
    ["no Unreleased section first", (t) => t.replace("## [Unreleased]", "## [Next]"), /first section is not/],
    ["a release heading without a date", (t) => t.replace(/^## \[(\d+\.\d+\.\d+)\] - [\d-]+$/m, "## [$1]"), /is not "## \[x\.y\.z\] - YYYY-MM-DD"/],
    ["a kind of change Keep a Changelog does not have", (t) => t.replace("### Added", "### New"), /"### New" .* is none of/],
    ["an empty kind", (t) => t.replace("### Added\n", "### Security\n\n### Added\n"), /"### Security" under .* has no entries/],
    ["releases oldest first", (t) => t.replace("## [Unreleased]", "## [Unreleased]\n\n## [0.0.1] - 2026-01-01\n\n### Added\n\n- x\n"), /\[0\.0\.1\] is listed before/],
    ["another top heading", (t) => `${t}\n# Notes\n`, /a heading of another level/],
  ])("the CHANGELOG check fails %s", (_name, mutate, problem) => {
    const broken = mutate(good);
    expect(broken).not.toBe(good);
    expect(changelog.problems(broken).join("\n")).toMatch(problem);
  });

  test("mcp-use is an optional peer dependency on the minor line the suites run against", () => {
    const [major, minor] = PKG.devDependencies["mcp-use"].split(".");
    expect(PKG.peerDependencies).toEqual({ "mcp-use": `~${major}.${minor}.0` });
    // optional: the Redis classes alone need no mcp-use, so npm must not install one
    expect(PKG.peerDependenciesMeta).toEqual({ "mcp-use": { optional: true } });
    // and the committed lock says the same (npm ci fails on a lock out of step)
    const lockRoot = JSON.parse(read("package-lock.json")).packages[""];
    expect(lockRoot.peerDependencies).toEqual(PKG.peerDependencies);
    expect(lockRoot.peerDependenciesMeta).toEqual(PKG.peerDependenciesMeta);
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
    // npm packs a LICENSE whatever "files" says: the binary ships under the same license
    expect(fs.readFileSync(path.join(ROOT, "npm", platform, "LICENSE"), "utf8")).toBe(fs.readFileSync(path.join(ROOT, "LICENSE"), "utf8"));
  });
  test("built binaries and packed tarballs stay out of git", () => {
    // Ask git itself: a rule that reads right but does not match (or a later `!` rule) fails.
    const ignored = (file) => run("git", ["check-ignore", "--no-index", "-q", file], { cwd: ROOT }).status === 0;
    for (const file of [`npm/${PLATFORM}/mcp-sessions-native.${PLATFORM}.node`, `mcp-sessions-native.${PLATFORM}.node`, "dist/mcp-sessions-native-0.1.0.tgz"]) {
      expect([file, ignored(file)]).toEqual([file, true]);
    }
    for (const file of [`npm/${PLATFORM}/package.json`, "index.js", "scripts/pack-local.mjs"]) {
      expect([file, ignored(file)]).toEqual([file, false]);
    }
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

describe("a deploy without the registry: examples/app installed from the tarballs, as its Dockerfile does", () => {
  const APP_DIR = path.join(ROOT, "examples", "app");
  const DOCKERFILE = path.join(ROOT, "examples", "app", "Dockerfile");
  const stages = dockerfile.parse(fs.readFileSync(DOCKERFILE, "utf8"));
  const [build, runtime] = stages;
  let tmp;
  let env;
  let app;

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-deploy-"));
    // npm's own cache (the checkout's `npm ci` / `npm install` filled it): mcp-use comes from
    // there, offline. No Rust on PATH: the app must not need it.
    env = { ...process.env, PATH: pathWithoutRust(), npm_config_update_notifier: "false", NAPI_RS_NATIVE_LIBRARY_PATH: "" };
    delete env.NODE_OPTIONS;
  });

  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** "a && b" -> ["a", "b"] */
  const commands = (run) => run.command.split("&&").map((c) => c.trim());

  test("the Dockerfile: a build stage with Rust that runs npm run pack:local, a slim stage without Rust that installs the tarballs; what it copies exists", () => {
    expect(stages).toHaveLength(2);
    // same Node and Debian release in both: the binary needs the glibc it was built with
    expect(build.from).toMatch(/^node:\d+-[a-z]+$/);
    expect(runtime.from).toBe(`${build.from}-slim`);
    expect(build.name).toBeTruthy();

    // build stage: the checkout with Rust, then the README's two commands (npm ci = install + build)
    expect(build.runs.map((r) => r.command).join("\n")).toMatch(/sh\.rustup\.rs/);
    expect(build.copies).toEqual([{ flags: {}, sources: ["."], dest: "." }]);
    const buildCommands = build.runs.flatMap(commands);
    expect(buildCommands).toEqual(expect.arrayContaining(["npm ci --no-audit --no-fund", PACK_LOCAL]));
    expect(buildCommands.indexOf(PACK_LOCAL)).toBeGreaterThan(buildCommands.indexOf("npm ci --no-audit --no-fund"));

    // runtime stage: nothing of Rust, the tarballs from pack:local's dist/, the app's files
    expect(JSON.stringify(runtime)).not.toMatch(/rust|cargo/i);
    const fromBuild = runtime.copies.filter((c) => c.flags.from);
    expect(fromBuild).toEqual([{ flags: { from: build.name }, sources: [`${build.workdir}/${path.relative(ROOT, DIST)}/`], dest: "./vendor/" }]);
    for (const c of runtime.copies.filter((c) => !c.flags.from)) {
      for (const src of c.sources) expect([src, fs.existsSync(path.join(ROOT, src))]).toEqual([src, true]);
    }
    // the build context (.dockerignore) keeps what the build stage packs and what is copied:
    // each file of the two tarballs (but the .node, built there), pack:local, the lock
    const leftOut = dockerfile.ignored(fs.readFileSync(path.join(ROOT, ".dockerignore"), "utf8"));
    const { main, platform } = packLocal(env);
    const needed = [
      ...tarFiles(main),
      ...tarFiles(platform).filter((f) => f !== BINARY).map((f) => `npm/${PLATFORM}/${f}`),
      "scripts/pack-local.mjs",
      "package-lock.json",
      ...runtime.copies.filter((c) => !c.flags.from).flatMap((c) => c.sources),
    ];
    for (const f of needed) expect(fs.existsSync(path.join(ROOT, f))).toBe(true);
    expect(needed.filter(leftOut)).toEqual([]);
    expect(leftOut(BINARY) && leftOut("node_modules/x") && leftOut("target/release")).toBe(true);

    // one npm install of those tarballs; the test below runs this very command
    expect(runtime.runs[0].command).toMatch(/^npm install .*\.\/vendor\/\*\.tgz$/);
    expect(runtime.cmd).toEqual(["node", "server.mjs"]);
    expect(runtime.env).toMatchObject({ NODE_ENV: "production", HOST: "0.0.0.0" });
    expect(runtime.expose).toEqual([runtime.env.PORT]);
    expect(runtime.user).toBe("node");
  });

  test("the Dockerfile's npm install of the two tarballs, offline and with no Rust, mcp-use pinned to the checkout's locked versions", () => {
    const { main, platform } = packLocal(env);
    app = path.join(tmp, "app");
    fs.mkdirSync(path.join(app, "vendor"), { recursive: true });
    // what the runtime stage copies: the app's files, and pack:local's tarballs into vendor/
    for (const c of runtime.copies.filter((c) => !c.flags.from)) {
      for (const src of c.sources) fs.copyFileSync(path.join(ROOT, src), path.join(app, path.basename(src)));
    }
    for (const t of [main, platform]) fs.copyFileSync(t, path.join(app, "vendor", path.basename(t)));

    // The image resolves mcp-use from the registry. Here a lockfile pins it (and all it needs)
    // to the checkout's locked versions, the ones every other suite runs, so that the same
    // command installs it from npm's cache, offline.
    const appPkg = JSON.parse(fs.readFileSync(path.join(app, "package.json"), "utf8"));
    const lock = lockfileFor(JSON.parse(fs.readFileSync(path.join(ROOT, "package-lock.json"), "utf8")), appPkg);
    fs.writeFileSync(path.join(app, "package-lock.json"), JSON.stringify(lock, null, 2));
    const install = run("sh", ["-c", runtime.runs[0].command], { cwd: app, env: { ...env, npm_config_offline: "true" } });
    if (install.status !== 0) {
      const hint = /ENOTCACHED/.test(install.stderr) ? "\nnpm's cache lacks a package of the checkout's lock: run `npm ci` in the checkout first." : "";
      throw fail(`${runtime.runs[0].command} (offline)${hint}`, install);
    }

    const version = (name) => JSON.parse(fs.readFileSync(path.join(app, "node_modules", name, "package.json"), "utf8")).version;
    expect(version("mcp-sessions-native")).toBe(PKG.version);
    expect(version(`mcp-sessions-native-${PLATFORM}`)).toBe(PKG.version);
    expect(version("mcp-use")).toBe(PKG.devDependencies["mcp-use"]);
    expect(fs.readdirSync(path.join(app, "node_modules", "mcp-sessions-native")).filter((f) => f.endsWith(".node"))).toEqual([]);
    // the optional peer is met by the app's mcp-use: npm ls exits non-zero on an invalid one
    const ls = run("npm", ["ls", "--offline", "mcp-use"], { cwd: app, env });
    if (ls.status !== 0) throw fail("npm ls mcp-use", ls);
    expect(ls.stdout).toMatch(new RegExp(`mcp-sessions-native@${PKG.version}[^\\n]*\\n[^\\n]*mcp-use@${PKG.devDependencies["mcp-use"]}`));
  });

  test("node server.mjs with the image's ENV serves MCP: initialize, a tool call that reads FileSystemSessionStore, and SIGTERM writes the session file", async () => {
    if (!app) throw new Error("install failed (see previous test)");
    const port = await freePort();
    // the image's ENV, but on localhost and a free port
    const server = await startServer(path.join(app, runtime.cmd[1]), {
      port,
      env: { ...env, ...runtime.env, CWD: app, HOST: "localhost", PORT: String(port) },
    });
    const { Client, StreamableHTTPClientTransport } = sdk();
    const client = new Client({ name: "deploy-test", version: "1.0.0" });
    const transport = new StreamableHTTPClientTransport(new URL(server.url));
    try {
      await client.connect(transport);
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain("session");
      const got = toolJson(await client.callTool({ name: "session", arguments: {} }));
      expect(got.sessionId).toBe(transport.sessionId);
      expect(got.metadata).toMatchObject({ lastAccessedAt: expect.any(Number) });
      await client.close();

      server.proc.kill("SIGTERM");
      const exit = await server.exited;
      expect([exit, server.output()]).toEqual([{ code: 0, signal: null }, expect.any(String)]);
      const file = JSON.parse(fs.readFileSync(path.join(app, ".mcp-use", "sessions.json"), "utf8"));
      expect(Object.keys(file)).toEqual([got.sessionId]);
    } finally {
      await client.close().catch(() => {});
      await server.kill();
    }
  });
});
