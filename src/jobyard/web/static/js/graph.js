// A recipe's graph: jobs in layers (a job below every parent), edges from parent to child,
// each node coloured by its job's state. Pan by scrolling, zoom with the buttons.

import { h, s } from "./dom.js";

const NODE_W = 170;
const NODE_H = 46;
const GAP_X = 40;
const GAP_Y = 56;

/** nodes: [{name, job_id, type, status, parents: [name]}] → positions by layer. */
export function layout(nodes) {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const depth = new Map();
  const visit = (n, seen = new Set()) => {
    if (depth.has(n.name)) return depth.get(n.name);
    if (seen.has(n.name)) return 0; // a cycle cannot be stored; never loop forever anyway
    seen.add(n.name);
    const d = Math.max(-1, ...n.parents.filter((p) => byName.has(p)).map((p) => visit(byName.get(p), seen))) + 1;
    depth.set(n.name, d);
    return d;
  };
  nodes.forEach((n) => visit(n));
  const layers = [];
  for (const n of nodes) (layers[depth.get(n.name)] ||= []).push(n);
  // order each layer by the mean position of its parents (fewer crossings)
  const position = new Map();
  layers.forEach((layer, i) => {
    if (i > 0) {
      const mean = (n) => {
        const xs = n.parents.map((p) => position.get(p)).filter((x) => x !== undefined);
        return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
      };
      layer.sort((a, b) => mean(a) - mean(b));
    }
    layer.forEach((n, j) => position.set(n.name, j));
  });
  const widest = Math.max(1, ...layers.map((l) => l.length));
  const width = widest * (NODE_W + GAP_X) + GAP_X;
  const placed = new Map();
  layers.forEach((layer, i) => {
    const offset = (width - layer.length * (NODE_W + GAP_X) + GAP_X) / 2;
    layer.forEach((n, j) => placed.set(n.name, { x: offset + j * (NODE_W + GAP_X), y: GAP_Y / 2 + i * (NODE_H + GAP_Y), n }));
  });
  return { placed, width, height: layers.length * (NODE_H + GAP_Y) };
}

export function recipeGraph(recipe, { onOpen } = {}) {
  const { placed, width, height } = layout(recipe.nodes);
  const svg = s("svg", { class: "graph", viewBox: `0 0 ${width} ${height}`, width, height, role: "group", "aria-label": `Recipe ${recipe.id} graph` });
  for (const e of recipe.edges) {
    const a = placed.get(e.parent);
    const b = placed.get(e.child);
    if (!a || !b) continue;
    const x1 = a.x + NODE_W / 2;
    const y1 = a.y + NODE_H;
    const x2 = b.x + NODE_W / 2;
    const y2 = b.y;
    const label = e.connections.map((c) => `${c.output} → ${c.input}`).join(", ");
    svg.append(s("path", { class: "edge", d: `M${x1},${y1} C${x1},${y1 + GAP_Y / 2} ${x2},${y2 - GAP_Y / 2} ${x2},${y2 - 3}`, "marker-end": "url(#arrow)" },
      label ? s("title", {}, label) : null));
  }
  svg.prepend(s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" },
    s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow-head", fill: "currentColor" }))));
  for (const { x, y, n } of placed.values()) {
    const node = s("g", { class: `node s-${n.status}`, transform: `translate(${x},${y})`, tabindex: 0, role: "link",
      "aria-label": `${n.name}: job ${n.job_id}, ${n.status}`, "data-job": n.job_id, "data-status": n.status },
    s("rect", { width: NODE_W, height: NODE_H, rx: 6 }),
    s("rect", { class: "bar", width: 6, height: NODE_H, rx: 3 }),
    s("text", { x: 14, y: 19 }, n.name.length > 22 ? `${n.name.slice(0, 21)}…` : n.name),
    s("text", { x: 14, y: 36, class: "sub" }, `${n.status} · job ${n.job_id}`),
    s("title", {}, `${n.name} (${n.type}): ${n.status}`));
    const open = () => onOpen && onOpen(n);
    node.addEventListener("click", open);
    node.addEventListener("keydown", (e) => { if (e.key === "Enter") open(); });
    svg.append(node);
  }
  let zoom = 1;
  const setZoom = (z) => {
    zoom = Math.max(0.3, Math.min(2.5, z));
    svg.setAttribute("width", String(width * zoom));
    svg.setAttribute("height", String(height * zoom));
  };
  const wrap = h("div", { class: "graph-wrap" }, svg);
  const tools = h("div", { class: "row" },
    h("button", { type: "button", class: "small", "aria-label": "Zoom out", onclick: () => setZoom(zoom / 1.25) }, "−"),
    h("button", { type: "button", class: "small", "aria-label": "Zoom in", onclick: () => setZoom(zoom * 1.25) }, "+"),
    h("button", { type: "button", class: "small", onclick: () => setZoom(Math.min(1, wrap.clientWidth / width)) }, "Fit"));
  return h("div", {}, tools, wrap);
}
