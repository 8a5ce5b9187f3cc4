'use strict'
// Smoke test of an installed mcp-sessions-native, run by scripts/test-platforms.sh inside each
// target root (Debian 11 x64, Debian 11 arm64 under qemu, a musl root) with the root's own
// Node. Plain ES2018 CommonJS: Debian 11's Node is 12.22.
//
//   node platform-smoke.js                   load the package and exercise all five classes
//                                            (REDIS_URL: a Redis to do the round trips on)
//   node platform-smoke.js --expect-error S  require() must fail with the loader's one clear
//                                            error, whose message contains every `|`-separated
//                                            part of S
//
// EXPECT_PLATFORM (e.g. linux-arm64-gnu): the .node must come from that platform package.
// SMOKE_NO_REDIS=1: skip (and say so) the two Redis round trips, where no Redis can run.
// Prints one line a check and a closing "smoke: N passed, N failed" line; exits 1 on failure.
const assert = require('assert')
const fs = require('fs')
const os = require('os')
const path = require('path')

let passed = 0
let failed = 0
async function check(name, fn) {
  try {
    await fn()
    passed++
    console.log(`ok   ${name}`)
  } catch (e) {
    failed++
    console.log(`FAIL ${name}: ${(e && e.stack) || e}`)
  }
}
function done() {
  console.log(`smoke: ${passed} passed, ${failed} failed`)
  process.exit(failed === 0 && passed > 0 ? 0 : 1)
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
async function waitFor(predicate, what, ms) {
  const end = Date.now() + (ms || 10000)
  while (Date.now() < end) {
    if (await predicate()) return
    await sleep(10)
  }
  throw new Error(`timed out waiting for ${what}`)
}
/** A minimal ReadableStreamDefaultController (Node 12 has no WHATWG streams). */
function controller() {
  const c = {
    received: [],
    closed: false,
    enqueue(chunk) {
      c.received.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('utf8'))
    },
    close() {
      c.closed = true
    },
    error() {
      c.closed = true
    },
  }
  return c
}

const CLASSES = ['InMemorySessionStore', 'FileSystemSessionStore', 'RedisSessionStore', 'InMemoryStreamManager', 'RedisStreamManager']

async function main() {
  const expectError = process.argv.indexOf('--expect-error')
  console.log(`node ${process.version} (N-API ${process.versions.napi}) on ${process.platform}-${process.arch}, ${os.release()}`)

  if (expectError !== -1) {
    const parts = String(process.argv[expectError + 1] || '').split('|').filter(Boolean)
    await check(`require() fails with one error naming: ${parts.join(', ')}`, () => {
      let err = null
      try {
        require('mcp-sessions-native')
      } catch (e) {
        err = e
      }
      assert(err, 'require() succeeded')
      console.log(`---- the error ----\n${err.message}\n-------------------`)
      assert.strictEqual(err.code, 'ERR_MCP_SESSIONS_NATIVE_BINDING', `not the loader's error: ${err.stack}`)
      for (const p of parts) assert(err.message.indexOf(p) !== -1, `message lacks "${p}"`)
      assert(/To build from source/.test(err.message), 'no build-from-source hint')
      assert(/Prebuilt packages: /.test(err.message), 'no list of packages')
    })
    return done()
  }

  let m
  await check('require("mcp-sessions-native") loads the five classes', () => {
    m = require('mcp-sessions-native')
    for (const c of CLASSES) assert.strictEqual(typeof m[c], 'function', `${c} is ${typeof m[c]}`)
    const loaded = Object.keys(require.cache).filter((k) => k.endsWith('.node'))
    console.log(`     loaded ${loaded.join(', ')}`)
    assert.strictEqual(loaded.length, 1)
    if (process.env.EXPECT_PLATFORM) {
      const pkgDir = `${path.sep}mcp-sessions-native-${process.env.EXPECT_PLATFORM}${path.sep}`
      assert(loaded[0].indexOf(pkgDir) !== -1, `expected the binary of ${pkgDir}`)
    }
  })
  if (!m) return done()

  await check('InMemorySessionStore: set/get/has/keys/delete, setWithTTL expiry', async () => {
    const s = new m.InMemorySessionStore()
    await s.set('a', { lastAccessedAt: 1, nested: { ok: true, list: [1, 'two'] } })
    assert.deepStrictEqual(await s.get('a'), { lastAccessedAt: 1, nested: { ok: true, list: [1, 'two'] } })
    assert.strictEqual(await s.has('a'), true)
    assert.deepStrictEqual(await s.keys(), ['a'])
    await s.setWithTTL('ttl', { lastAccessedAt: 2 }, 50)
    await waitFor(async () => !(await s.has('ttl')), 'the TTL to expire', 5000)
    await s.delete('a')
    assert.strictEqual(await s.get('a'), null)
    assert.strictEqual(s.size, 0)
  })

  await check('FileSystemSessionStore: set, flush to disk, a new store reads it back', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcp-smoke-'))
    const file = path.join(dir, 'sessions.json')
    const s = new m.FileSystemSessionStore({ path: file, debounceMs: 10 })
    await s.set('f1', { lastAccessedAt: Date.now(), clientInfo: { name: 'smoke', version: '1' } })
    await s.flush()
    const onDisk = JSON.parse(fs.readFileSync(file, 'utf8'))
    assert.deepStrictEqual(Object.keys(onDisk), ['f1'])
    assert.ok(fs.existsSync(`${file}.lock`), 'the advisory lock file')
    // A newer store on the same file in this process takes it over and sees the session.
    const again = new m.FileSystemSessionStore({ path: file, debounceMs: 10 })
    assert.strictEqual((await again.get('f1')).clientInfo.name, 'smoke')
  })

  await check('InMemoryStreamManager: create, send, delete closes the stream', async () => {
    const sm = new m.InMemoryStreamManager()
    const c = controller()
    await sm.create('s', c)
    assert.strictEqual(await sm.has('s'), true)
    await sm.send(['s'], 'data: one\n\n')
    await sm.send(undefined, 'data: all\n\n')
    await waitFor(() => c.received.length === 2, 'two messages')
    assert.deepStrictEqual(c.received, ['data: one\n\n', 'data: all\n\n'])
    await sm.delete('s')
    assert.strictEqual(await sm.has('s'), false)
    assert.strictEqual(c.closed, true)
    await sm.close()
  })

  const url = process.env.REDIS_URL
  if (process.env.SMOKE_NO_REDIS === '1') {
    // Only where no Redis can run (the Windows runners); said loudly, never counted as passed.
    console.log('SKIP RedisSessionStore and RedisStreamManager round trips: SMOKE_NO_REDIS=1')
    return done()
  }
  const prefix = `smoke:${process.pid}:${Date.now()}:`
  await check(`RedisSessionStore round trip on ${url}`, async () => {
    assert(url, 'REDIS_URL is not set')
    const a = new m.RedisSessionStore({ url, prefix })
    const b = new m.RedisSessionStore({ url, prefix })
    await a.set('r1', { lastAccessedAt: 5, protocolVersion: '2025-06-18' })
    assert.deepStrictEqual(await b.get('r1'), { lastAccessedAt: 5, protocolVersion: '2025-06-18' })
    assert.strictEqual(await b.has('r1'), true)
    assert.deepStrictEqual(await b.keys(), ['r1'])
    await b.delete('r1')
    assert.strictEqual(await a.get('r1'), null)
    await Promise.all([a.close(), b.close()])
  })

  await check(`RedisStreamManager round trip on ${url}: send on one instance reaches a stream on another`, async () => {
    assert(url, 'REDIS_URL is not set')
    const holder = new m.RedisStreamManager({ url, prefix, heartbeatInterval: 5 })
    const sender = new m.RedisStreamManager({ url, prefix, heartbeatInterval: 5 })
    try {
      const c = controller()
      await holder.create('rs', c)
      await waitFor(() => sender.has('rs'), 'the stream to be visible through Redis')
      await sender.send(['rs'], 'event: message\ndata: {"n":1}\n\n')
      await waitFor(() => c.received.length === 1, 'the message through Redis pub/sub')
      assert.deepStrictEqual(c.received, ['event: message\ndata: {"n":1}\n\n'])
      await sender.delete('rs')
      await waitFor(() => c.closed, 'the holder to close the stream after a remote delete')
    } finally {
      await Promise.all([holder.close(), sender.close()])
    }
  })
  done()
}

main().catch((e) => {
  console.log(`FAIL ${(e && e.stack) || e}`)
  failed++
  done()
})
