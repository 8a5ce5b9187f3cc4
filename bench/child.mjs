// One measure of one implementation in a fresh process: node --expose-gc bench/child.mjs <task> <impl>
// The configuration comes in BENCH_CFG (JSON); the result goes back over IPC (or stdout).
const [task, impl] = process.argv.slice(2);
const cfg = JSON.parse(process.env.BENCH_CFG || "{}");
const [file, fn] = task.split(":");

const send = (msg) => new Promise((resolve) => {
  if (process.send) process.send(msg, () => resolve());
  else { process.stdout.write(JSON.stringify(msg, null, 2) + "\n"); resolve(); }
});

try {
  const mod = await import(`./measures/${file}.mjs`);
  const result = await mod[fn](impl, cfg);
  await send({ ok: true, result });
} catch (e) {
  await send({ ok: false, error: String(e && e.stack || e) });
}
process.exit(0);
