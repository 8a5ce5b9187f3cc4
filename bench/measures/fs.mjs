// FileSystemSessionStore: longest event-loop stall while a save runs, and constructor load time.
import { monitorEventLoopDelay } from "node:perf_hooks";
import fs from "node:fs";
import path from "node:path";
import { loadImpl, sid, meta, median, nowMs, sleep, gcFull } from "../lib/common.mjs";

const BIG_DEBOUNCE = 600_000; // only flush() saves during the measure

export function filePath(cfg, impl) {
  return path.join(cfg.tmpDir, `fs-${impl}-${cfg.sessions.fs}`, "sessions.json");
}

/** Populates a store with N sessions, then measures flush() `reps` times (one change before each). */
export async function save(impl, cfg) {
  const { FileSystemSessionStore } = await loadImpl(impl);
  const N = cfg.sessions.fs;
  const file = filePath(cfg, impl);
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const store = new FileSystemSessionStore({ path: file, debounceMs: BIG_DEBOUNCE });
  const now = Date.now();
  for (let i = 0; i < N; i++) await store.set(sid(i), meta(i, now));
  if (store.size !== N) throw new Error(`size ${store.size} != ${N}`);
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const stalls = [], flushes = [];
  for (let r = 0; r < cfg.reps.fsSave; r++) {
    await store.set(sid(r, 1), meta(r, now)); // one change, so every flush has something to write
    gcFull();
    await sleep(100);
    h.reset();
    const t0 = nowMs();
    await store.flush();
    const t1 = nowMs();
    await sleep(5); // let the histogram's timer record the last delay
    stalls.push(h.max / 1e6);
    flushes.push(t1 - t0);
  }
  h.disable();
  const bytes = fs.statSync(file).size;
  return {
    stallMs: median(stalls), flushMs: median(flushes), stalls, flushes,
    fileMB: bytes / 1e6, sessions: N + cfg.reps.fsSave,
  };
}

/** Loads the file written by `save` (each impl its own format) `reps` times; constructor time. */
export async function load(impl, cfg) {
  const { FileSystemSessionStore } = await loadImpl(impl);
  const file = filePath(cfg, impl);
  if (!fs.existsSync(file)) throw new Error(`missing ${file}: run the fs-save measure first`);
  const expected = cfg.sessions.fs + cfg.reps.fsSave;
  const times = [];
  const keep = [];
  const h = monitorEventLoopDelay({ resolution: 1 });
  // Each repetition loads its own copy (made outside the timed region): a store of this
  // process that is still open on a file is shared by a later store on that file (the
  // addon), which would measure a lookup instead of a load.
  const copies = [];
  const copyOf = (src, r) => {
    const dst = `${src}.load-${process.pid}-${r}.json`;
    fs.copyFileSync(src, dst);
    copies.push(dst);
    return dst;
  };
  for (let r = 0; r < cfg.reps.fsLoad; r++) {
    const copy = copyOf(file, r);
    gcFull();
    await sleep(20);
    const t0 = nowMs();
    const store = new FileSystemSessionStore({ path: copy, debounceMs: BIG_DEBOUNCE });
    const t1 = nowMs();
    if (store.size !== expected) throw new Error(`loaded ${store.size} sessions, expected ${expected}`);
    times.push(t1 - t0);
    keep.push(store); // keep it alive; nothing changes, so nothing is written back
  }
  const out = { loadMs: median(times), times };
  // Info: the addon reading the reference's (pretty-printed) file, the migration case.
  const refFile = filePath(cfg, "ref");
  if (impl === "addon" && fs.existsSync(refFile)) {
    const t = [];
    for (let r = 0; r < cfg.reps.fsLoad; r++) {
      const copy = copyOf(refFile, `ref-${r}`);
      gcFull();
      const t0 = nowMs();
      const s = new FileSystemSessionStore({ path: copy, debounceMs: BIG_DEBOUNCE });
      t.push(nowMs() - t0);
      if (s.size !== expected) throw new Error(`loaded ${s.size} from the reference file`);
      keep.push(s);
    }
    out.loadRefFileMs = median(t);
  }
  h.disable();
  for (const c of copies) {
    for (const f of [c, `${c}.lock`]) fs.rmSync(f, { force: true });
  }
  return out;
}
