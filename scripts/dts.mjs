// index.d.ts is generated: `npm run build` writes the declarations napi-rs derives from the
// #[napi] attributes of src/node/*.rs (ts_args_type, ts_return_type, doc comments), under
// the header types/header.d.ts, to target/napi-generated.d.ts.
//
//   node scripts/dts.mjs           copy the generated file to index.d.ts (commit it)
//   node scripts/dts.mjs --check   fail when the committed index.d.ts differs from it
//                                  (`npm test` runs this right after the build)
import { readFileSync, writeFileSync, existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const generatedPath = path.join(ROOT, 'target', 'napi-generated.d.ts')
const committedPath = path.join(ROOT, 'index.d.ts')

if (!existsSync(generatedPath)) {
  console.error(`${path.relative(ROOT, generatedPath)} is missing: run \`npm run build\` first`)
  process.exit(1)
}
const generated = readFileSync(generatedPath, 'utf8')

if (!process.argv.includes('--check')) {
  writeFileSync(committedPath, generated)
  console.log('index.d.ts updated from target/napi-generated.d.ts')
  process.exit(0)
}

const committed = readFileSync(committedPath, 'utf8')
if (committed === generated) process.exit(0)
const a = committed.split('\n')
const b = generated.split('\n')
let line = 0
while (line < a.length && line < b.length && a[line] === b[line]) line++
console.error(
  'index.d.ts is not what the build generates from src/node (the #[napi] attributes and ' +
    'types/header.d.ts).\n' +
    `First difference at line ${line + 1}:\n` +
    `  index.d.ts:     ${JSON.stringify(a[line] ?? '<end of file>')}\n` +
    `  generated:      ${JSON.stringify(b[line] ?? '<end of file>')}\n` +
    'Run `npm run build && npm run dts` and commit index.d.ts.',
)
process.exit(1)
