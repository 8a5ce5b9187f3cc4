'use strict'
// The one error `require('mcp-sessions-native')` throws when no native binary loads: it names
// the platform, the libc and its version, the prebuilt packages that exist (and what each
// needs), what happened to the one meant for this machine, and how to build from source.
// The raw loader errors stay attached as `cause`. Called by index.js (the napi-rs generated
// loader, patched by scripts/loader.mjs). Plain ES2018 so that old Node versions (Debian 11
// ships Node 12) get this message rather than a SyntaxError.

const pkg = require('./package.json')

// Rust target triple -> napi-rs platform name, and what the prebuilt binary needs.
const TARGETS = {
  'x86_64-apple-darwin': ['darwin-x64', 'macOS 10.13+ on Intel'],
  'aarch64-apple-darwin': ['darwin-arm64', 'macOS 11+ on Apple silicon'],
  'x86_64-pc-windows-msvc': ['win32-x64-msvc', 'Windows 10+ x64'],
  'x86_64-unknown-linux-gnu': ['linux-x64-gnu', 'Linux x64, glibc >= 2.17'],
  'aarch64-unknown-linux-gnu': ['linux-arm64-gnu', 'Linux arm64, glibc >= 2.17'],
  'x86_64-unknown-linux-musl': ['linux-x64-musl', 'Linux x64, musl >= 1.2.3: Alpine 3.17+'],
  'aarch64-unknown-linux-musl': ['linux-arm64-musl', 'Linux arm64, musl >= 1.2.3: Alpine 3.17+'],
}

function prebuilt() {
  const targets = (pkg.napi && pkg.napi.targets) || []
  return targets.map((triple) => {
    const known = TARGETS[triple]
    const platform = known ? known[0] : triple
    return { triple, platform, name: `${pkg.name}-${platform}`, needs: known ? known[1] : triple }
  })
}

function glibcVersion() {
  try {
    const report = process.report && typeof process.report.getReport === 'function' ? process.report.getReport() : null
    return report && report.header && report.header.glibcVersionRuntime ? report.header.glibcVersionRuntime : null
  } catch (e) {
    return null
  }
}

function muslVersion() {
  // musl's dynamic loader prints "musl libc (x86_64)\nVersion 1.2.4\n..." when run by itself.
  const { spawnSync } = require('child_process')
  const fs = require('fs')
  const loaders = []
  for (const dir of ['/lib', '/usr/lib']) {
    try {
      for (const f of fs.readdirSync(dir)) if (/^ld-musl-.*\.so\.1$/.test(f)) loaders.push(`${dir}/${f}`)
    } catch (e) {
      // no such directory
    }
  }
  for (const cmd of loaders.concat(['ldd'])) {
    try {
      const r = spawnSync(cmd, cmd === 'ldd' ? ['--version'] : [], { encoding: 'utf8', timeout: 2000 })
      const m = /Version\s+([0-9][0-9.]*)/.exec(`${r.stdout || ''}${r.stderr || ''}`)
      if (m) return m[1]
    } catch (e) {
      // try the next one
    }
  }
  return null
}

/** `{ platform, libc, description }` of the running process, in napi-rs's naming. */
function describeHost(isMusl) {
  const os = require('os')
  const { platform, arch } = process
  if (platform === 'linux') {
    const musl = isMusl()
    const version = musl ? muslVersion() : glibcVersion()
    const libc = musl ? 'musl' : 'glibc'
    return {
      platform: `linux-${arch}-${musl ? 'musl' : 'gnu'}`,
      libc: `${libc} ${version || '(version unknown)'}`,
      description: `Linux ${arch} with ${libc} ${version || '(version unknown)'}`,
    }
  }
  if (platform === 'win32') return { platform: `win32-${arch}-msvc`, libc: 'msvcrt', description: `Windows ${arch} (${os.release()})` }
  if (platform === 'darwin') return { platform: `darwin-${arch}`, libc: 'libSystem', description: `macOS ${arch} (Darwin ${os.release()})` }
  return { platform: `${platform}-${arch}`, libc: 'unknown', description: `${platform} ${arch} (${os.release()})` }
}

function oneLine(err) {
  let message
  try {
    message = err && typeof err.message === 'string' ? err.message : String(err)
  } catch (e) {
    message = 'unknown error'
  }
  return message.split('\n')[0]
}

function isNotFound(err) {
  return Boolean(err && err.code === 'MODULE_NOT_FOUND')
}

/**
 * The error to throw. `loadErrors` are the generated loader's collected errors (every
 * candidate it tried); `isMusl` is its musl detection, so both agree on the platform.
 */
function noBindingError(loadErrors, isMusl) {
  const host = describeHost(isMusl)
  const packages = prebuilt()
  const mine = packages.filter((p) => p.platform === host.platform)[0]
  const failures = loadErrors.filter((e) => !isNotFound(e))
  const lines = [`${pkg.name}: no native binary could be loaded for ${host.platform} (${host.description}, Node ${process.version}, N-API ${process.versions.napi}).`]

  if (process.env.NAPI_RS_NATIVE_LIBRARY_PATH) {
    // The loader tries only that path (then the WASI fallbacks): its error comes first.
    lines.push(`NAPI_RS_NATIVE_LIBRARY_PATH is set to ${process.env.NAPI_RS_NATIVE_LIBRARY_PATH}, and loading it failed.`)
    if (loadErrors.length > 0 && isNotFound(loadErrors[0])) failures.unshift(loadErrors[0])
  } else if (!mine) {
    lines.push(`No prebuilt binary is published for ${host.platform}.`)
  } else if (failures.length === 0) {
    lines.push(
      `The prebuilt package for this platform, ${mine.name}@${pkg.version} (${mine.needs}), is not installed. ` +
        'npm skips it when optional dependencies are omitted (--omit=optional, --no-optional) or when package-lock.json ' +
        `was made on another platform (npm/cli#4828). Install it: npm install ${mine.name}@${pkg.version}`
    )
  } else {
    lines.push(`The prebuilt package for this platform, ${mine.name} (${mine.needs}), is there but did not load.`)
  }
  for (const e of failures) lines.push(`  load error: ${oneLine(e)}`)
  if (failures.some((e) => /GLIBC_[0-9.]+' not found/.test(oneLine(e)))) {
    lines.push(`  (this glibc is older than the binary needs: ${host.libc})`)
  }
  lines.push(`Prebuilt packages: ${packages.map((p) => `${p.name} (${p.needs})`).join('; ')}.`)
  lines.push(
    'To build from source (Rust >= 1.89 and a C compiler): in a checkout of the mcp-sessions-native source run ' +
      '`npm install` (it runs `npm run build`, which writes mcp-sessions-native.<platform>.node next to index.js), then ' +
      'depend on that checkout (`npm install /path/to/checkout`) or set NAPI_RS_NATIVE_LIBRARY_PATH to the built .node file.'
  )
  const error = new Error(lines.join('\n'))
  error.code = 'ERR_MCP_SESSIONS_NATIVE_BINDING'
  error.platform = host.platform
  error.libc = host.libc
  error.packages = packages.map((p) => p.name)
  return error
}

module.exports = { noBindingError, describeHost, prebuilt, TARGETS }
