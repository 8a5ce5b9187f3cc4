'use strict'
// Loads the native addon: the .node built next to this file (a source checkout), else the
// prebuilt platform package (an npm install).

const { platform, arch } = process

function libc() {
  if (platform !== 'linux') return ''
  const report = typeof process.report?.getReport === 'function' ? process.report.getReport() : null
  return report?.header?.glibcVersionRuntime ? '-gnu' : '-musl'
}

const triple = `${platform}-${arch}${libc()}`
const candidates = [`./mcp-sessions-native.${triple}.node`, `mcp-sessions-native-${triple}`]
const errors = []
let binding = null
for (const candidate of candidates) {
  try {
    binding = require(candidate)
    break
  } catch (err) {
    if (err && err.code !== 'MODULE_NOT_FOUND') errors.push(`${candidate}: ${err.message}`)
  }
}
if (!binding) {
  throw new Error(
    `mcp-sessions-native: no native binary for ${triple}. Tried ${candidates.join(', ')}.` +
      (errors.length ? ` Load errors: ${errors.join('; ')}` : ' Build it with `npm run build` (needs Rust) or install the platform package.')
  )
}

module.exports = binding
