// Small SVG charts over time: lines (load history) and stacked bars (attempts per interval).
// Drawn from the data given, no library; a pointer over the chart shows the values there.

import { h, s } from "./dom.js";
import { clock, fullTime } from "./format.js";

const W = 800;
const PAD = { left: 44, right: 12, top: 10, bottom: 24 };

function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

function timeTicks(start, end, count) {
  const span = end - start;
  const steps = [1e3, 5e3, 15e3, 6e4, 3e5, 9e5, 36e5, 108e5, 216e5, 864e5, 6048e5, 2592e6];
  const step = steps.find((x) => span / x <= count) || steps[steps.length - 1];
  const out = [];
  // ticks on round local times: shift by the zone offset before rounding
  const offset = new Date(start).getTimezoneOffset() * 6e4;
  for (let t = Math.ceil((start - offset) / step) * step + offset; t <= end; t += step) out.push(t);
  return { ticks: out, step };
}

function tickLabel(t, step) {
  const d = new Date(t);
  if (step >= 864e5) return d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
  if (step >= 36e5) return d.toLocaleString(undefined, { weekday: "short", hour: "2-digit", minute: "2-digit" });
  return clock(d);
}

function frame(svg, { start, end, max, height, yFormat }) {
  const x = (t) => PAD.left + ((t - start) / Math.max(1, end - start)) * (W - PAD.left - PAD.right);
  const y = (v) => height - PAD.bottom - (v / max) * (height - PAD.top - PAD.bottom);
  for (let i = 0; i <= 4; i += 1) {
    const v = (max * i) / 4;
    svg.append(s("line", { class: "grid-line", x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v) }),
      s("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end" }, yFormat(v)));
  }
  const { ticks, step } = timeTicks(start, end, 6);
  for (const t of ticks) {
    svg.append(s("line", { class: "axis", x1: x(t), x2: x(t), y1: height - PAD.bottom, y2: height - PAD.bottom + 4 }),
      s("text", { x: x(t), y: height - 6, "text-anchor": "middle" }, tickLabel(t, step)));
  }
  svg.append(s("line", { class: "axis", x1: PAD.left, x2: W - PAD.right, y1: height - PAD.bottom, y2: height - PAD.bottom }));
  return { x, y };
}

function tooltip(svg, height, x, rowsAt, start, end) {
  const line = s("line", { class: "hover-line", y1: PAD.top, y2: height - PAD.bottom, visibility: "hidden" });
  const overlay = s("rect", { x: PAD.left, y: 0, width: W - PAD.left - PAD.right, height, fill: "transparent" });
  const tip = h("div", { class: "tip", hidden: true });
  svg.append(line, overlay);
  const hide = () => {
    line.setAttribute("visibility", "hidden");
    tip.hidden = true;
  };
  overlay.addEventListener("pointermove", (event) => {
    const box = svg.getBoundingClientRect();
    const t = start + ((event.clientX - box.left) / box.width * W - PAD.left) / (W - PAD.left - PAD.right) * (end - start);
    const found = rowsAt(t);
    if (!found) return hide();
    line.setAttribute("x1", x(found.t));
    line.setAttribute("x2", x(found.t));
    line.setAttribute("visibility", "visible");
    tip.replaceChildren(h("div", {}, h("strong", {}, fullTime(found.t))), ...found.rows.map(([name, value]) => h("div", {}, `${name}: ${value}`)));
    tip.hidden = false;
    tip.style.left = `${Math.min(event.clientX + 12, window.innerWidth - 220)}px`;
    tip.style.top = `${event.clientY + 12}px`;
  });
  overlay.addEventListener("pointerleave", hide);
  return tip;
}

/** Lines: series [{name, cls, points: [[ms, value]]}] sharing one time axis. */
const count = (v) => (Number.isInteger(v) ? v : Number(v.toFixed(1))).toLocaleString();

export function lineChart({ series, start, end, height = 220, yFormat = count, label }) {
  const max = niceMax(Math.max(4, ...series.flatMap((x) => x.points.map((p) => p[1]))));
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${W} ${height}`, role: "img", "aria-label": label });
  const { x, y } = frame(svg, { start, end, max, height, yFormat });
  for (const one of series) {
    const columns = new Map(); // one point per pixel column (its highest value) for long ranges
    for (const [t, v] of one.points) {
      const px = Math.round(x(t));
      const old = columns.get(px);
      if (!old || v > old[1]) columns.set(px, [t, v]);
    }
    const points = [...columns.values()].sort((a, b) => a[0] - b[0]);
    if (!points.length) continue;
    const d = points.map(([t, v], i) => `${i ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join("");
    svg.append(s("path", { class: `line ${one.cls}`, d }));
    if (points.length === 1) svg.append(s("circle", { class: one.cls, cx: x(points[0][0]), cy: y(points[0][1]), r: 3 }));
  }
  const all = series[0] ? series[0].points : [];
  const tip = tooltip(svg, height, x, (t) => {
    if (!all.length) return null;
    let best = 0;
    for (let i = 1; i < all.length; i += 1) if (Math.abs(all[i][0] - t) < Math.abs(all[best][0] - t)) best = i;
    const at = all[best][0];
    return { t: at, rows: series.map((one) => [one.name, (one.points.find((p) => p[0] === at) || [0, 0])[1].toLocaleString()]) };
  }, start, end);
  return h("div", {}, legend(series), svg, tip);
}

/** Stacked bars: buckets [{t0, t1, values: {key: n}}], stacks [{key, name, cls}]. */
export function barChart({ buckets, stacks, start, end, height = 200, label }) {
  const max = niceMax(Math.max(4, ...buckets.map((b) => stacks.reduce((n, k) => n + (b.values[k.key] || 0), 0))));
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${W} ${height}`, role: "img", "aria-label": label });
  const { x, y } = frame(svg, { start, end, max, height, yFormat: count });
  for (const b of buckets) {
    let base = 0;
    const left = x(b.t0) + 0.5;
    const width = Math.max(1, x(b.t1) - x(b.t0) - 1);
    for (const k of stacks) {
      const v = b.values[k.key] || 0;
      if (!v) continue;
      svg.append(s("rect", { class: k.cls, x: left, width, y: y(base + v), height: Math.max(0.5, y(base) - y(base + v)) }));
      base += v;
    }
  }
  const tip = tooltip(svg, height, (t) => x(t), (t) => {
    const b = buckets.find((one) => one.t0 <= t && t < one.t1);
    return b ? { t: b.t0, rows: stacks.map((k) => [k.name, (b.values[k.key] || 0).toLocaleString()]) } : null;
  }, start, end);
  return h("div", {}, legend(stacks), svg, tip);
}

function legend(items) {
  return h("div", { class: "legend" }, items.map((one) => {
    const el = h("span", {}, one.name);
    el.style.setProperty("--k", one.color || `var(--${one.var || "chart-1"})`);
    return el;
  }));
}
