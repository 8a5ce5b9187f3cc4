// The soak's chart, hand-written SVG (no dependency): over the run's time, notifications
// acknowledged and delivered per 5 s with the faults as bands (instance kills, Redis kills) and
// ticks (stream cuts); below, each instance's RSS and V8 heap as the soak sampled them.
const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const COLORS = { a: "#1f77b4", b: "#2ca02c", c: "#9467bd" };

/**
 * @param {{ title: string, subtitle: string, t0: number, t1: number, chaosEnd: number,
 *   acked: number[], delivered: number[], faults: { kind, t, until?, label }[],
 *   memory: { t: number, byName: Record<string, { rss: number, heapUsed: number }> }[] }} run  times in ms (epoch)
 */
export function soakSvg(run) {
  const W = 1000, ml = 60, mr = 20, pw = W - ml - mr;
  const top = 84, ph1 = 230, gap = 58, ph2 = 200;
  const H = top + ph1 + gap + ph2 + 70;
  const span = Math.max(1, run.t1 - run.t0);
  const X = (t) => ml + ((t - run.t0) / span) * pw;
  const o = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  o.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  o.push(`<text x="12" y="22" font-size="15" font-weight="bold">${esc(run.title)}</text>`);
  o.push(`<text x="12" y="40" fill="#555">${esc(run.subtitle)}</text>`);

  // Panel 1: notifications per 5 s.
  const BUCKET = 5000;
  const nb = Math.ceil(span / BUCKET);
  const bucket = (ts) => {
    const b = new Array(nb).fill(0);
    for (const t of ts) if (t >= run.t0 && t < run.t1) b[Math.floor((t - run.t0) / BUCKET)]++;
    return b;
  };
  const acked = bucket(run.acked), delivered = bucket(run.delivered);
  const ymax = Math.max(10, ...acked, ...delivered) * 1.1;
  const Y1 = (v) => top + ph1 - (v / ymax) * ph1;
  for (const f of run.faults) {
    if (f.kind === "cut-streams") o.push(`<line x1="${X(f.t)}" y1="${top}" x2="${X(f.t)}" y2="${top + ph1}" stroke="#0a9396" stroke-width="2.5" stroke-dasharray="5 3"><title>${esc(f.label)}</title></line>`);
    else {
      const fill = f.kind === "kill-redis" ? "#d62728" : "#ff7f0e";
      o.push(`<rect x="${X(f.t)}" y="${top}" width="${Math.max(2, X(f.until ?? f.t) - X(f.t))}" height="${ph1}" fill="${fill}" opacity="0.25"><title>${esc(f.label)}</title></rect>`);
      if (f.kind === "kill-instance") o.push(`<text x="${X(f.t) + 1}" y="${top + 11}" font-size="10" fill="#b35900">${esc(f.instance)}</text>`);
    }
  }
  o.push(`<rect x="${ml}" y="${top}" width="${pw}" height="${ph1}" fill="none" stroke="#ccc"/>`);
  for (let i = 0; i <= 4; i++) {
    const v = (ymax / 4) * i;
    o.push(`<line x1="${ml}" y1="${Y1(v)}" x2="${ml + pw}" y2="${Y1(v)}" stroke="#eee"/><text x="${ml - 6}" y="${Y1(v) + 4}" text-anchor="end" fill="#555">${Math.round(v)}</text>`);
  }
  const line = (vals, color, dash = "") =>
    `<polyline fill="none" stroke="${color}" stroke-width="1.8"${dash ? ` stroke-dasharray="${dash}"` : ""} points="${vals.map((v, i) => `${X(run.t0 + (i + 0.5) * BUCKET).toFixed(1)},${Y1(v).toFixed(1)}`).join(" ")}"/>`;
  o.push(line(acked, "#999", "4 3"));
  o.push(line(delivered, "#222"));
  o.push(`<line x1="${X(run.chaosEnd)}" y1="${top}" x2="${X(run.chaosEnd)}" y2="${top + ph1}" stroke="#000" stroke-dasharray="2 2"/><text x="${X(run.chaosEnd) + 3}" y="${top + ph1 - 4}" fill="#000" font-size="10">chaos stops</text>`);
  o.push(`<text x="${ml}" y="${top - 8}" font-weight="bold">notifications per 5 s: delivered (black), acknowledged (grey dashed); faults: instance killed (orange), Redis killed (red), streams cut (teal, dashed)</text>`);

  // Panel 2: memory.
  const t2 = top + ph1 + gap;
  const MB = 1024 * 1024;
  const names = [...new Set(run.memory.flatMap((m) => Object.keys(m.byName)))].sort();
  const mmax = Math.max(50, ...run.memory.flatMap((m) => Object.values(m.byName).map((x) => x.rss / MB))) * 1.1;
  const Y2 = (v) => t2 + ph2 - (v / mmax) * ph2;
  o.push(`<rect x="${ml}" y="${t2}" width="${pw}" height="${ph2}" fill="none" stroke="#ccc"/>`);
  for (let i = 0; i <= 4; i++) {
    const v = (mmax / 4) * i;
    o.push(`<line x1="${ml}" y1="${Y2(v)}" x2="${ml + pw}" y2="${Y2(v)}" stroke="#eee"/><text x="${ml - 6}" y="${Y2(v) + 4}" text-anchor="end" fill="#555">${Math.round(v)}</text>`);
  }
  for (const name of names) {
    for (const [field, dash] of [["rss", ""], ["heapUsed", "4 3"]]) {
      // One polyline per process: a restart starts a new line.
      const segs = [];
      let last = null;
      for (const m of run.memory) {
        const x = m.byName[name];
        if (!x) { last = null; continue; }
        if (!last || last.inst !== x.inst) segs.push([]);
        segs.at(-1).push(`${X(m.t).toFixed(1)},${Y2(x[field] / MB).toFixed(1)}`);
        last = x;
      }
      for (const s of segs) o.push(`<polyline fill="none" stroke="${COLORS[name] ?? "#333"}" stroke-width="1.6"${dash ? ` stroke-dasharray="${dash}"` : ""} points="${s.join(" ")}"/>`);
    }
  }
  o.push(`<text x="${ml}" y="${t2 - 8}" font-weight="bold">instance memory, MB: RSS (solid), V8 heap used (dashed); ${names.map((n) => `${n}`).join(", ")} = ${names.map((n) => COLORS[n] === "#1f77b4" ? "blue" : COLORS[n] === "#2ca02c" ? "green" : "purple").join(", ")}</text>`);
  for (let s = 0; s <= span / 1000; s += span > 900_000 ? 300 : span > 300_000 ? 60 : 30) {
    const x = X(run.t0 + s * 1000);
    o.push(`<text x="${x}" y="${t2 + ph2 + 16}" text-anchor="middle" fill="#555">${s}</text>`);
  }
  o.push(`<text x="${ml + pw / 2}" y="${t2 + ph2 + 36}" text-anchor="middle" fill="#555">seconds since the clients connected</text>`);
  o.push("</svg>");
  return `${o.join("\n")}\n`;
}
