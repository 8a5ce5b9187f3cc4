// `npm run pack:local`: the package as `npm publish` would ship it, without the registry.
//
//   node scripts/pack-local.mjs [--out DIR]     (default DIR: dist/ in the checkout)
//
// Writes two tarballs into DIR and prints their absolute paths on stdout, one a line (what
// it packed goes to stderr, so `npm run -s pack:local` prints the paths alone):
//
//   mcp-sessions-native-<version>.tgz             the main package: loader, types, README,
//                                                 LICENSE, CHANGELOG; no binary
//   mcp-sessions-native-<platform>-<version>.tgz  this machine's platform package
//                                                 (npm/<platform>) with the built .node
//
// The release runs `napi pre-publish`, which pins every napi target's platform package in the
// main package's optionalDependencies at the exact version, then publishes them. The main
// tarball here gets the same optionalDependencies (napi-rs's own target names), so an app that
// installs both tarballs gets what `npm install mcp-sessions-native` would give it: npm takes
// the given platform tarball for that optional dependency and skips the six others (another
// os/cpu/libc, and not on any registry yet). Installing needs no Rust and no network.
//
// Nothing in the checkout changes: both packages are staged in a temporary directory (a
// copy of the files `npm pack` would take, and of npm/<platform> plus the binary), packed
// with --ignore-scripts (the "prepare" script would rebuild the addon), then removed. The
// binary is the one `npm run build` wrote next to index.js, so it needs this machine's C
// library or a newer one (docs/platforms.md); run `npm run build` first.
// __test__/packaging.test.js packs through this script and installs the result.
import { spawnSync } from 'node:child_process'
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseTriple } from '@napi-rs/cli'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const { describeHost } = require('../loader-error.js')

function args(argv) {
  const out = { out: path.join(ROOT, 'dist') }
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out' && argv[i + 1]) out.out = path.resolve(argv[++i])
    else throw new Error(`unknown argument ${argv[i]} (usage: node scripts/pack-local.mjs [--out DIR])`)
  }
  return out
}

/** npm pack DIR (or only list it with --dry-run); returns npm's JSON entry for the package. */
function npmPack(dir, dest, dryRun = false) {
  const flags = ['pack', '--json', '--ignore-scripts', ...(dryRun ? ['--dry-run'] : ['--pack-destination', dest])]
  const r = spawnSync('npm', flags, { cwd: dir, encoding: 'utf8' })
  if (r.error) throw r.error
  if (r.status !== 0) throw new Error(`npm pack in ${dir} failed (exit ${r.status}):\n${r.stderr}`)
  return JSON.parse(r.stdout.slice(r.stdout.indexOf('[')))[0]
}

const readJson = (f) => JSON.parse(readFileSync(f, 'utf8'))
const writeJson = (f, value) => writeFileSync(f, `${JSON.stringify(value, null, 2)}\n`)

/** This machine's platform as the loader names it (linux-x64-gnu, darwin-arm64, ...). */
function hostPlatform() {
  return describeHost(() => {
    const report = process.report.getReport()
    return !(report.header && report.header.glibcVersionRuntime)
  }).platform
}

/** What napi pre-publish adds to the main package.json: every target's package, exact version. */
function optionalDependencies(pkg) {
  const deps = { ...pkg.optionalDependencies }
  for (const triple of pkg.napi.targets) deps[`${pkg.name}-${parseTriple(triple).platformArchABI}`] = pkg.version
  return deps
}

function packMain(pkg, stage, out) {
  mkdirSync(stage)
  for (const { path: file } of npmPack(ROOT, null, true).files) {
    mkdirSync(path.dirname(path.join(stage, file)), { recursive: true })
    copyFileSync(path.join(ROOT, file), path.join(stage, file))
  }
  writeJson(path.join(stage, 'package.json'), { ...pkg, optionalDependencies: optionalDependencies(pkg) })
  return npmPack(stage, out)
}

function packPlatform(pkg, platform, built, stage, out) {
  const binary = path.basename(built)
  cpSync(path.join(ROOT, 'npm', platform), stage, { recursive: true })
  // A binary that build:platforms left in npm/<platform> is replaced by this machine's build.
  copyFileSync(built, path.join(stage, binary))
  const platformPkg = readJson(path.join(stage, 'package.json'))
  // napi pre-publish sets each platform package's version to the main package's.
  writeJson(path.join(stage, 'package.json'), { ...platformPkg, version: pkg.version })
  console.error(`pack:local: ${platformPkg.name} carries ${path.relative(process.cwd(), built) || built}`)
  return npmPack(stage, out)
}

function packLocal(out) {
  const pkg = readJson(path.join(ROOT, 'package.json'))
  const platform = hostPlatform()
  const triple = pkg.napi.targets.find((t) => parseTriple(t).platformArchABI === platform)
  if (!triple) throw new Error(`this machine (${platform}) is none of package.json's napi.targets`)
  const built = path.join(ROOT, `${pkg.napi.binaryName}.${platform}.node`)
  if (!existsSync(built)) throw new Error(`${path.basename(built)} is not built: run \`npm run build\` first`)
  mkdirSync(out, { recursive: true })
  // Earlier tarballs (another version) would be installed by a `dist/*.tgz` glob too.
  for (const f of readdirSync(out)) if (f.startsWith(`${pkg.name}-`) && f.endsWith('.tgz')) rmSync(path.join(out, f))
  const work = mkdtempSync(path.join(tmpdir(), 'pack-local-'))
  try {
    const main = packMain(pkg, path.join(work, 'main'), out)
    const platformPack = packPlatform(pkg, platform, built, path.join(work, 'platform'), out)
    return [main, platformPack].map((p) => path.join(out, p.filename))
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

try {
  for (const tarball of packLocal(args(process.argv.slice(2)).out)) console.log(tarball)
} catch (e) {
  console.error(`pack:local: ${e.message}`)
  process.exit(1)
}
