#!/usr/bin/env node
// Checks what each built Linux binary asks of the system it is loaded on, so that a binary
// that would fail on an older glibc fails here first:
//   - ELF machine matches the platform package (x86-64 / AArch64), and it is a shared object;
//   - NEEDED libraries are only the C library's own (libc, libm, libpthread, libdl, librt,
//     the dynamic loader, libgcc_s) — nothing from this build machine;
//   - glibc builds: the highest GLIBC_x.y symbol version is at most the promised minimum
//     (2.17), and no strong undefined symbol is unversioned except napi_* (Node provides
//     those). An unversioned strong import such as `getrandom` (glibc 2.25) passes an
//     `objdump | grep GLIBC_` check and still fails to load on glibc 2.17, hence this rule.
//     Weak unversioned imports are allowed and listed: std resolves them at run time and
//     copes with their absence (gettid, statx, __cxa_thread_atexit_impl).
//   - no DT_RELR (packed relocations, which older glibc and musl loaders do not apply);
//   - musl builds: no GLIBC_ versions at all, and with --musl-libc FILE every undefined
//     symbol other than napi_* must be exported by that musl libc.so.
//
//   node scripts/check-symbols.js [--musl-libc PATH] [--max-glibc 2.17] [FILE.node|npm/DIR]...
//   (no FILE: every npm/linux-*/*.node that exists)
//
// Exit 1 when any binary fails. The last line reads "symbols: N passed, N failed".
'use strict'
const { execFileSync } = require('node:child_process')
const { existsSync, readdirSync, statSync } = require('node:fs')
const path = require('node:path')

const ROOT = path.resolve(__dirname, '..')

const MACHINES = { x64: 'Advanced Micro Devices X86-64', arm64: 'AArch64' }
const ALLOWED_NEEDED = {
  gnu: [/^libc\.so\.6$/, /^libm\.so\.6$/, /^libpthread\.so\.0$/, /^libdl\.so\.2$/, /^librt\.so\.1$/, /^libgcc_s\.so\.1$/, /^ld-linux-(x86-64|aarch64)\.so\.[12]$/],
  musl: [/^libc\.so$/, /^libc\.musl-(x86_64|aarch64)\.so\.1$/, /^libgcc_s\.so\.1$/],
}

/** `linux-x64-gnu` -> { os, arch, abi } */
function parsePlatform(platform) {
  const [os, arch, abi] = platform.split('-')
  return { os, arch, abi }
}

function cmpVersion(a, b) {
  const pa = a.split('.').map(Number)
  const pb = b.split('.').map(Number)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] || 0) - (pb[i] || 0)
    if (d !== 0) return d
  }
  return 0
}

/** Undefined dynamic symbols from `readelf --dyn-syms -W` output. */
function parseDynSyms(text) {
  const out = []
  for (const line of text.split('\n')) {
    // "   31: 0000000000000000     0 NOTYPE  GLOBAL DEFAULT  UND getrandom"
    // "    5: 0000000000000000     0 FUNC    GLOBAL DEFAULT  UND memcpy@GLIBC_2.14 (3)"
    const m = /^\s*\d+:\s+[0-9a-f]+\s+\d+\s+(\w+)\s+(\w+)\s+\w+\s+UND\s+(\S+)/.exec(line)
    if (!m) continue
    const [, , bind, full] = m
    const at = full.indexOf('@')
    out.push({ name: at === -1 ? full : full.slice(0, at), version: at === -1 ? null : full.slice(at).replace(/^@+/, ''), bind })
  }
  return out
}

/** Exported (defined) dynamic symbol names, for a libc. */
function parseDefinedSyms(text) {
  const names = new Set()
  for (const line of text.split('\n')) {
    const m = /^\s*\d+:\s+[0-9a-f]+\s+\d+\s+\w+\s+(GLOBAL|WEAK)\s+\w+\s+(?!UND)\S+\s+(\S+)/.exec(line)
    if (m) names.add(m[2].split('@')[0])
  }
  return names
}

/**
 * The verdict on one binary from readelf's outputs. Pure, so the rules are unit-tested.
 * @returns {{ ok: boolean, problems: string[], facts: string[] }}
 */
function analyze({ header, dynamic, dynSyms }, platform, { maxGlibc = '2.17', muslExports = null } = {}) {
  const { arch, abi } = parsePlatform(platform)
  const problems = []
  const facts = []
  const machine = (/Machine:\s+(.+)/.exec(header) || [])[1]
  if (machine !== MACHINES[arch]) problems.push(`ELF machine is "${machine}", ${platform} needs "${MACHINES[arch]}"`)
  if (!/Type:\s+DYN/.test(header)) problems.push('not a shared object (ELF type is not DYN)')

  // Packed relative relocations: glibc loads them from 2.36 on, musl from 1.2.4 on; older
  // loaders skip them and the library crashes at its first pointer use.
  if (/\(RELR\)/.test(dynamic)) problems.push('uses DT_RELR packed relocations (needs glibc >= 2.36 or musl >= 1.2.4)')
  const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1])
  facts.push(`NEEDED ${needed.join(' ') || '(none)'}`)
  for (const lib of needed) if (!(ALLOWED_NEEDED[abi] || []).some((re) => re.test(lib))) problems.push(`needs ${lib}, which is not part of the ${abi} C library`)

  const syms = parseDynSyms(dynSyms)
  const glibcVersions = syms.filter((s) => s.version && /^GLIBC_\d/.test(s.version))
  const otherVersions = [...new Set(syms.filter((s) => s.version && !/^GLIBC_\d/.test(s.version)).map((s) => s.version))]
  const unversioned = syms.filter((s) => !s.version && !s.name.startsWith('napi_'))
  const strong = unversioned.filter((s) => s.bind !== 'WEAK')
  const weak = unversioned.filter((s) => s.bind === 'WEAK')
  facts.push(`${syms.length} undefined symbols, ${syms.filter((s) => s.name.startsWith('napi_')).length} of them napi_*`)

  if (abi === 'gnu') {
    let max = null
    for (const s of glibcVersions) {
      const v = s.version.slice('GLIBC_'.length)
      if (!max || cmpVersion(v, max.v) > 0) max = { v, s }
    }
    facts.push(`highest glibc symbol version: ${max ? `GLIBC_${max.v} (${max.s.name})` : 'none'}`)
    for (const s of glibcVersions) {
      if (cmpVersion(s.version.slice('GLIBC_'.length), maxGlibc) > 0) problems.push(`${s.name}@${s.version} is newer than GLIBC_${maxGlibc}`)
    }
    if (otherVersions.length) facts.push(`other symbol versions: ${otherVersions.join(' ')}`)
    for (const s of strong) problems.push(`${s.name}: an unversioned, non-weak import (not napi_*); the loader binds it to whatever the system has, and fails where it is absent`)
    if (weak.length) facts.push(`weak unversioned imports (resolved at run time, may be absent): ${weak.map((s) => s.name).join(' ')}`)
  } else if (abi === 'musl') {
    if (glibcVersions.length) problems.push(`glibc-versioned imports in a musl build: ${[...new Set(glibcVersions.map((s) => `${s.name}@${s.version}`))].slice(0, 10).join(' ')}`)
    if (muslExports) {
      const missing = unversioned.filter((s) => !muslExports.has(s.name))
      const missingStrong = missing.filter((s) => s.bind !== 'WEAK')
      facts.push(`resolved against musl libc: ${unversioned.length - missing.length} of ${unversioned.length} non-napi imports`)
      for (const s of missingStrong) problems.push(`${s.name} is not exported by the musl libc`)
      if (missing.length > missingStrong.length) facts.push(`weak imports musl lacks (allowed): ${missing.filter((s) => s.bind === 'WEAK').map((s) => s.name).join(' ')}`)
    } else {
      facts.push('not resolved against a musl libc (no --musl-libc given)')
    }
  } else {
    problems.push(`unknown ABI "${abi}" in ${platform}`)
  }
  return { ok: problems.length === 0, problems, facts }
}

function readelf(args, file) {
  return execFileSync('readelf', [...args, file], { encoding: 'utf8', maxBuffer: 64 << 20 })
}

function inspect(file) {
  return { header: readelf(['-h'], file), dynamic: readelf(['-d', '-W'], file), dynSyms: readelf(['--dyn-syms', '-W'], file) }
}

/** `mcp-sessions-native.linux-x64-gnu.node` -> `linux-x64-gnu` */
function platformOf(file) {
  const m = /\.([a-z0-9]+-[a-z0-9]+(?:-[a-z0-9]+)?)\.node$/.exec(path.basename(file))
  if (!m) throw new Error(`cannot tell the platform of ${file} from its name`)
  return m[1]
}

function binariesIn(dir) {
  return readdirSync(dir).filter((f) => f.endsWith('.node')).map((f) => path.join(dir, f))
}

module.exports = { MACHINES, parsePlatform, parseDynSyms, parseDefinedSyms, analyze, inspect, platformOf }

if (require.main === module) {
  const args = process.argv.slice(2)
  const opt = (name) => {
    const i = args.indexOf(name)
    if (i === -1) return null
    const v = args[i + 1]
    args.splice(i, 2)
    return v
  }
  const muslLibc = opt('--musl-libc')
  const maxGlibc = opt('--max-glibc') || '2.17'
  let files = []
  for (const a of args) files.push(...(existsSync(a) && statSync(a).isDirectory() ? binariesIn(a) : [a]))
  if (args.length === 0) {
    const npm = path.join(ROOT, 'npm')
    for (const d of readdirSync(npm).filter((d) => d.startsWith('linux-'))) files.push(...binariesIn(path.join(npm, d)))
  }
  if (files.length === 0) {
    console.error('check-symbols: no binaries to check (run `npm run build:platforms` first)')
    process.exit(1)
  }
  const muslExports = muslLibc ? parseDefinedSyms(readelf(['--dyn-syms', '-W'], muslLibc)) : null
  const muslMachine = muslLibc ? (/Machine:\s+(.+)/.exec(readelf(['-h'], muslLibc)) || [])[1] : null
  let passed = 0
  let failed = 0
  for (const file of files) {
    const platform = platformOf(file)
    const elf = inspect(file)
    // A musl libc of another architecture cannot vouch for this binary's imports.
    const sameArch = muslMachine && muslMachine === MACHINES[parsePlatform(platform).arch]
    const { ok, problems, facts } = analyze(elf, platform, { maxGlibc, muslExports: sameArch ? muslExports : null })
    console.log(`${ok ? 'PASS' : 'FAIL'} ${path.relative(process.cwd(), file)} (${platform})`)
    for (const f of facts) console.log(`     ${f}`)
    for (const p of problems) console.log(`  !! ${p}`)
    if (ok) passed++
    else failed++
  }
  console.log(`symbols: ${passed} passed, ${failed} failed`)
  process.exit(failed ? 1 : 0)
}
