// The table (stdout) and the chart (hand-written SVG) of a run.

export function fmt(v, unit) {
  if (v === null || v === undefined || Number.isNaN(v)) return "-";
  if (v === Infinity) return "inf";
  if (unit === "ops/s") {
    if (v >= 1e6) return `${(v / 1e6).toPrecision(3)} M/s`;
    if (v >= 1e3) return `${(v / 1e3).toPrecision(3)} k/s`;
    return `${v.toPrecision(3)} /s`;
  }
  const num = v === 0 ? "0" : Math.abs(v) >= 1000 ? Math.round(v).toLocaleString("en-US") : Math.abs(v) >= 0.01 ? String(+v.toPrecision(3)) : v.toExponential(1);
  return unit ? `${num} ${unit}` : num;
}

export function fmtRatio(r) {
  if (r === null || r === undefined || Number.isNaN(r)) return "-";
  if (r === 0) return "0x";
  if (r === Infinity) return "inf";
  if (r >= 100) return `${Math.round(r)}x`;
  if (r >= 0.01) return `${+r.toPrecision(2)}x`;
  return `${r.toExponential(1)}x`;
}

export function targetText(t) {
  if (!t) return "-";
  const op = t.op === "<=" ? "≤" : "≥";
  return t.kind === "ratio" ? `${op} ${t.value}x` : `${op} ${t.value}${t.unit ? " " + t.unit : ""} (abs)`;
}

export function table(rows) {
  const head = ["measure", "reference", "addon", "addon/ref", "target", "met"];
  const body = rows.map((r) => [
    r.label, fmt(r.ref, r.unit), fmt(r.addon, r.unit), fmtRatio(r.ratio), targetText(r.target),
    r.met === null ? "info" : r.met ? "yes" : "NO",
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => "| " + cells.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(" | ") + " |";
  return [line(head), "|" + w.map((x, i) => (i === 0 ? "-".repeat(x + 1) + "-" : "-".repeat(x + 1) + ":")).join("|") + "|", ...body.map(line)].join("\n");
}

const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Horizontal bars of addon/reference per measure, log scale, diverging from 1x (parity). */
export function svg(rows, machine) {
  const shown = rows.filter((r) => Number.isFinite(r.ratio));
  const FLOOR = 1e-4;
  const lo = Math.min(1e-3, ...shown.map((r) => Math.max(FLOOR, r.ratio)), ...shown.filter((r) => r.target?.kind === "ratio").map((r) => r.target.value));
  const hi = Math.max(10, ...shown.map((r) => r.ratio), ...shown.filter((r) => r.target?.kind === "ratio").map((r) => r.target.value));
  const d0 = Math.floor(Math.log10(lo)), d1 = Math.ceil(Math.log10(hi));
  const labelW = 330, plotW = 520, rowH = 26, top = 58, left = labelW + 10, right = 250;
  const W = left + plotW + right, H = top + shown.length * rowH + 70;
  const x = (v) => left + ((Math.log10(Math.max(FLOOR, v)) - d0) / (d1 - d0)) * plotW;
  const color = (r) => (r.met === null ? "#9aa0a6" : r.met ? "#2e9e5b" : "#d9463b");
  const o = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  o.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  o.push(`<text x="12" y="22" font-size="15" font-weight="bold">mcp-sessions-native vs mcp-use@1.34.6: addon / reference (log scale)</text>`);
  o.push(`<text x="12" y="40" fill="#555">${esc(`${machine.cpu}, ${machine.cores} cores, node ${machine.node}, ${machine.date.slice(0, 10)}${machine.quick ? ", QUICK run" : ""} · bars start at 1x (same as mcp-use); | = target; green met, red missed, grey no target`)}</text>`);
  for (let d = d0; d <= d1; d++) {
    const gx = x(10 ** d);
    o.push(`<line x1="${gx}" y1="${top - 6}" x2="${gx}" y2="${top + shown.length * rowH}" stroke="${d === 0 ? "#333" : "#e3e3e3"}" stroke-width="${d === 0 ? 1.2 : 1}"/>`);
    o.push(`<text x="${gx}" y="${top + shown.length * rowH + 16}" text-anchor="middle" fill="#555">${d === 0 ? "1x" : d > 0 ? `${10 ** d}x` : `${+(10 ** d).toPrecision(1)}x`}</text>`);
  }
  o.push(`<text x="${x(10 ** d0)}" y="${top + shown.length * rowH + 36}" fill="#555">← addon smaller than reference (time, memory, timers, round trips: better)</text>`);
  o.push(`<text x="${x(10 ** d1)}" y="${top + shown.length * rowH + 54}" text-anchor="end" fill="#555">addon larger than reference (throughput: better) →</text>`);
  shown.forEach((r, i) => {
    const y = top + i * rowH;
    const cy = y + rowH / 2;
    o.push(`<text x="${labelW}" y="${cy + 4}" text-anchor="end">${esc(r.label)}</text>`);
    const a = x(1), b = x(r.ratio);
    const bx = Math.min(a, b), bw = Math.max(1.5, Math.abs(b - a));
    o.push(`<rect x="${bx}" y="${y + 5}" width="${bw}" height="${rowH - 10}" fill="${color(r)}" rx="2"><title>${esc(`${r.label}: reference ${fmt(r.ref, r.unit)}, addon ${fmt(r.addon, r.unit)}`)}</title></rect>`);
    if (r.target?.kind === "ratio") {
      const tx = x(r.target.value);
      o.push(`<line x1="${tx}" y1="${y + 2}" x2="${tx}" y2="${y + rowH - 2}" stroke="#111" stroke-width="2.5"/>`);
    }
    const txt = `${fmtRatio(r.ratio)}${r.ratio < FLOOR ? " (off scale)" : ""}${r.target ? `  target ${targetText(r.target)}` : ""}`;
    o.push(`<text x="${left + plotW + 8}" y="${cy + 4}" fill="${color(r)}">${esc(txt)}</text>`);
  });
  o.push(`</svg>`);
  return o.join("\n") + "\n";
}

/** Panels of lines against a log-scale x (e.g. values against the number of streams; xLog:
 * false for a linear x from 0), log-scale y, in the style of svg() above. panels: [{ title,
 * unit, series: [{ name, color, dash?, hollow?, marker?, labels? ("none", "changes"), points:
 * [{ x, y }] }] }]; a series with one point and `hollow` is drawn as a lone marker. */
export function linesSvg({ title, subtitle, panels, xLabel, legendNote, xLog = true, plotWidth = 430 }) {
  const FLOOR = 1e-3;
  const pw = plotWidth, ph = 300, ml = 70, mr = 34, mt = 88, mb = 58;
  const W = panels.length * (ml + pw + mr) + 10, H = mt + ph + mb + 24 * Math.ceil(new Set(panels.flatMap((p) => p.series.map((s) => s.name))).size / 2) + 12;
  const o = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  o.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  o.push(`<text x="12" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`);
  o.push(`<text x="12" y="40" fill="#555">${esc(subtitle)}</text>`);
  const decades = (vals) => {
    const v = vals.filter((x) => Number.isFinite(x)).map((x) => Math.max(FLOOR, x));
    return [Math.floor(Math.log10(Math.min(...v))), Math.max(Math.floor(Math.log10(Math.min(...v))) + 1, Math.ceil(Math.log10(Math.max(...v)) + 1e-9))];
  };
  const xs = panels.flatMap((p) => p.series.flatMap((s) => s.points.map((q) => q.x)));
  let [xd0, xd1] = decades(xs);
  const xlo = xLog ? Math.log10(Math.min(...xs)) - 0.15 : 0, xhi = xLog ? Math.log10(Math.max(...xs)) + 0.15 : Math.max(...xs) * 1.04;
  const xStep = xLog ? 0 : [1, 2, 5].flatMap((m) => [m * 10 ** Math.floor(Math.log10(xhi / 8))]).concat([10 ** Math.ceil(Math.log10(xhi / 8))]).find((st) => xhi / st <= 8);
  panels.forEach((p, pi) => {
    const ox = pi * (ml + pw + mr) + ml;
    const ys = p.series.flatMap((s) => s.points.map((q) => q.y));
    const [yd0, yd1] = decades(ys);
    const X = (v) => ox + (((xLog ? Math.log10(v) : v) - xlo) / (xhi - xlo)) * pw;
    const Y = (v) => mt + ph - ((Math.log10(Math.max(FLOOR, v)) - yd0) / (yd1 - yd0)) * ph;
    o.push(`<text x="${ox}" y="${mt - 26}" font-size="13" font-weight="bold">${esc(p.title)}</text>`);
    o.push(`<text x="${ox}" y="${mt - 10}" fill="#555">${esc(p.unit)} (log scale)</text>`);
    o.push(`<rect x="${ox}" y="${mt}" width="${pw}" height="${ph}" fill="none" stroke="#ccc"/>`);
    for (let d = yd0; d <= yd1; d++) {
      const gy = Y(10 ** d);
      o.push(`<line x1="${ox}" y1="${gy}" x2="${ox + pw}" y2="${gy}" stroke="#e3e3e3"/>`);
      o.push(`<text x="${ox - 6}" y="${gy + 4}" text-anchor="end" fill="#555">${fmt(10 ** d)}</text>`);
    }
    if (!xLog) {
      for (let v = 0; v <= xhi; v += xStep) {
        o.push(`<line x1="${X(v)}" y1="${mt}" x2="${X(v)}" y2="${mt + ph}" stroke="#e3e3e3"/>`);
        o.push(`<text x="${X(v)}" y="${mt + ph + 16}" text-anchor="middle" fill="#555">${fmt(v)}</text>`);
      }
    }
    for (let d = xd0; xLog && d <= xd1; d++) {
      for (const m of [1, 2, 5]) {
        const v = m * 10 ** d;
        if (Math.log10(v) < xlo || Math.log10(v) > xhi) continue;
        const gx = X(v);
        o.push(`<line x1="${gx}" y1="${mt}" x2="${gx}" y2="${mt + ph}" stroke="${m === 1 ? "#e3e3e3" : "#f3f3f3"}"/>`);
        o.push(`<text x="${gx}" y="${mt + ph + 16}" text-anchor="middle" fill="#555">${fmt(v)}</text>`);
      }
    }
    o.push(`<text x="${ox + pw / 2}" y="${mt + ph + 36}" text-anchor="middle" fill="#555">${esc(xLabel)}</text>`);
    for (const s of p.series) {
      const pts = s.points.filter((q) => Number.isFinite(q.y)).sort((a, b) => a.x - b.x);
      if (pts.length > 1) o.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2.2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ""} points="${pts.map((q) => `${X(q.x).toFixed(1)},${Y(q.y).toFixed(1)}`).join(" ")}"/>`);
      for (const q of pts) {
        const cx = X(q.x), cy = Y(q.y);
        if (s.marker === "square") o.push(`<rect x="${cx - 5}" y="${cy - 5}" width="10" height="10" fill="${s.hollow ? "#fff" : s.color}" stroke="${s.color}" stroke-width="2"><title>${esc(`${s.name}: ${fmt(q.x)} → ${fmt(q.y)} ${p.unit}`)}</title></rect>`);
        else o.push(`<circle cx="${cx}" cy="${cy}" r="${s.hollow ? 5 : 4}" fill="${s.hollow ? "#fff" : s.color}" stroke="${s.color}" stroke-width="2"><title>${esc(`${s.name}: ${fmt(q.x)} → ${fmt(q.y)} ${p.unit}`)}</title></circle>`);
        const j = pts.indexOf(q);
        if (s.labels === "none" || (s.labels === "changes" && j > 0 && j < pts.length - 1 && Math.abs(pts[j - 1].y - q.y) <= 0.02 * q.y && Math.abs(pts[j + 1].y - q.y) <= 0.02 * q.y)) continue;
        o.push(`<text x="${cx + 8}" y="${cy - 7}" fill="${s.color}" font-size="11">${esc(fmt(q.y))}</text>`);
      }
    }
  });
  const ly = mt + ph + mb;
  const legend = [];
  for (const p of panels) for (const s of p.series) if (!legend.some((x) => x.name === s.name)) legend.push(s);
  legend.forEach((s, i) => {
    const lx = 12 + (i % 2) * Math.max(460, W / 2), yy = ly + Math.floor(i / 2) * 24;
    if (s.marker === "square") o.push(`<rect x="${lx + 9}" y="${yy - 5}" width="10" height="10" fill="${s.hollow ? "#fff" : s.color}" stroke="${s.color}" stroke-width="2"/>`);
    else {
      o.push(`<line x1="${lx}" y1="${yy}" x2="${lx + 28}" y2="${yy}" stroke="${s.color}" stroke-width="2.2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ""}/>`);
      o.push(`<circle cx="${lx + 14}" cy="${yy}" r="4" fill="${s.hollow ? "#fff" : s.color}" stroke="${s.color}" stroke-width="2"/>`);
    }
    o.push(`<text x="${lx + 36}" y="${yy + 4}">${esc(s.name)}</text>`);
  });
  if (legendNote) o.push(`<text x="12" y="${H - 8}" fill="#555" font-size="11">${esc(legendNote)}</text>`);
  o.push(`</svg>`);
  return o.join("\n") + "\n";
}
