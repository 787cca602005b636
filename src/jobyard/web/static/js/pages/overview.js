// Overview: jobs by state, load and attempts over a chosen range, queues, job types, workers.

import { allPages, api } from "../api.js";
import { barChart, lineChart } from "../chart.js";
import { badge, h, replace, table, toast } from "../dom.js";
import { duration, fromLocalInput, localInput, num } from "../format.js";

export const title = "Overview";

const STATES = ["scheduled", "blocked", "queued", "running", "retrying", "completed", "failed", "canceled"];
const LIVE = ["scheduled", "blocked", "queued", "running", "retrying"];
const RANGES = { PT1H: ["1 hour", 3600], PT6H: ["6 hours", 21600], P1D: ["24 hours", 86400], P7D: ["7 days", 604800], P30D: ["30 days", 2592000] };
const LOAD_SERIES = [
  { key: "queued", name: "queued", cls: "c1", var: "chart-1" },
  { key: "running", name: "running", cls: "c2", var: "chart-2" },
  { key: "pending", name: "pending (scheduled, retrying)", cls: "c3", var: "chart-3" },
  { key: "blocked", name: "blocked", cls: "c4", var: "chart-4" },
];
const ATTEMPTS = [
  { key: "completed", name: "completed", cls: "ok", var: "completed" },
  { key: "failed", name: "failed, timed out or lost", cls: "bad", var: "failed" },
];
const FAILED = new Set(["failed", "timed_out", "lost"]);
const NICE_STEPS = [60, 300, 900, 1800, 3600, 10800, 21600, 43200, 86400];

function rangeOf(query) {
  const from = query.get("from");
  const to = query.get("to");
  if (from) {
    const start = Date.parse(from);
    const end = to ? Date.parse(to) : Date.now();
    if (!Number.isNaN(start) && !Number.isNaN(end) && end > start) return { key: "custom", start, end, live: !to };
  }
  const key = RANGES[query.get("range")] ? query.get("range") : "P1D";
  const end = Date.now();
  return { key, start: end - RANGES[key][1] * 1000, end, live: true };
}

export async function render(ctx) {
  const { scope, main } = ctx;
  let range = rangeOf(ctx.query);
  const cards = h("div", { class: "cards", "aria-label": "Jobs by state" });
  const loadBox = h("div", { class: "panel", id: "load-chart" }, h("h2", {}, "Load"), h("p", { class: "muted" }, "Loading…"));
  const attemptsBox = h("div", { class: "panel", id: "attempts-chart" }, h("h2", {}, "Attempts finished"), h("p", { class: "muted" }, "Loading…"));
  const queuesBox = h("div", { class: "panel", id: "queues" });
  const typesBox = h("div", { class: "panel", id: "types-status" });
  const workersBox = h("div", { class: "panel", id: "workers-summary", hidden: !ctx.features.has("/api/v1/workers") });

  const select = h("select", { "aria-label": "Range", id: "range" },
    Object.entries(RANGES).map(([key, [label]]) => h("option", { value: key, selected: key === range.key }, `last ${label}`)),
    h("option", { value: "custom", selected: range.key === "custom" }, "custom…"));
  const fromInput = h("input", { type: "datetime-local", "aria-label": "From", value: range.key === "custom" ? localInput(new Date(range.start)) : "" });
  const toInput = h("input", { type: "datetime-local", "aria-label": "To (empty: now)", value: range.key === "custom" && !range.live ? localInput(new Date(range.end)) : "" });
  const custom = h("span", { class: "row", hidden: range.key !== "custom" }, fromInput, "–", toInput);
  const applyRange = () => {
    if (select.value === "custom") {
      custom.hidden = false;
      if (!fromInput.value) return;
      ctx.setQuery({ from: fromInput.value && fromLocalInput(fromInput.value), to: toInput.value && fromLocalInput(toInput.value) });
    } else {
      custom.hidden = true;
      ctx.setQuery({ range: select.value });
    }
    range = rangeOf(new URLSearchParams(location.search));
    refreshCharts();
  };
  select.addEventListener("change", applyRange);
  fromInput.addEventListener("change", applyRange);
  toInput.addEventListener("change", applyRange);

  replace(main,
    h("div", { class: "row" }, h("h1", {}, "Overview"), h("span", { class: "spacer" }),
      h("label", { class: "row muted" }, "Range", select), custom),
    cards,
    h("div", { class: "grid" }, loadBox, attemptsBox),
    h("div", { class: "grid" }, queuesBox, workersBox),
    typesBox);

  async function refreshCounts() {
    const [status, ...finished] = await Promise.all([
      api("/queue-status", { signal: scope.signal }),
      ...["completed", "failed", "canceled"].map((s) => api("/jobs", { params: { status: s, per_page: 1 }, signal: scope.signal })),
    ]);
    const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
    for (const row of status) for (const s of LIVE) counts[s] += row[s] || 0;
    counts.completed = finished[0].count;
    counts.failed = finished[1].count;
    counts.canceled = finished[2].count;
    replace(cards, STATES.map((s) => h("a", { class: `card s-${s}`, href: `/ui/jobs?status=${s}`, "data-state": s },
      h("div", { class: "n" }, num(counts[s])), h("div", { class: "l" }, s))));
    drawTypes(status);
    return status;
  }

  function drawTypes(status) {
    const rows = status.map((t) => h("tr", {},
      h("td", {}, h("a", { href: `/ui/jobs?type=${encodeURIComponent(t.type)}` }, t.type), t.paused ? [" ", badge("canceled", "paused")] : null),
      ...["queued", "running", "blocked", "retrying", "scheduled"].map((k) => h("td", { class: `num${k === "blocked" || k === "scheduled" ? " wide" : ""}` }, num(t[k]))),
      h("td", { class: "num" }, t.longest_queued === null ? "—" : duration(t.longest_queued)),
      h("td", { class: "num wide" }, t.latency === null ? "—" : duration(t.latency))));
    replace(typesBox, h("h2", {}, "Work by job type"), table(["Type",
      { label: "Queued", class: "num" }, { label: "Running", class: "num" }, { label: "Blocked", class: "num wide" },
      { label: "Retrying", class: "num" }, { label: "Scheduled", class: "num wide" },
      { label: "Longest queued", class: "num" }, { label: "Latency", class: "num wide" }], rows, { empty: "No job types yet." }));
  }

  async function refreshQueues(status, workers) {
    const queues = await api("/queues", { signal: scope.signal });
    const oldest = {};
    for (const t of status || []) {
      if (t.longest_queued === null) continue;
      for (const q of t.queues) oldest[q] = Math.max(oldest[q] || 0, t.longest_queued);
    }
    const served = workers ? new Set(workers.filter((w) => w.state === "running").flatMap((w) => w.queues)) : null;
    const rows = queues.map((q) => {
      const toggle = ctx.can("operator") ? h("button", {
        class: "small", type: "button",
        onclick: async () => {
          try {
            await api(`/queues/${encodeURIComponent(q.name)}/${q.paused ? "resume" : "pause"}`, { method: "POST" });
            toast(`Queue ${q.name} ${q.paused ? "resumed" : "paused"}.`);
            refreshAll();
          } catch (e) {
            toast(e.message, "err");
          }
        },
      }, q.paused ? "Resume" : "Pause") : null;
      return h("tr", {},
        h("td", {}, h("a", { href: `/ui/jobs?queue=${encodeURIComponent(q.name)}` }, q.name), " ",
          q.paused ? badge("canceled", "paused") : null,
          served && q.queued > 0 && !served.has(q.name) ? badge("failed", "no worker") : null),
        h("td", { class: "num" }, num(q.queued)), h("td", { class: "num" }, num(q.running)),
        h("td", { class: "num" }, num(q.waiting)),
        h("td", { class: "num" }, oldest[q.name] === undefined ? "—" : duration(oldest[q.name])),
        h("td", {}, toggle));
    });
    replace(queuesBox, h("h2", {}, "Queues"), table(["Queue", { label: "Queued", class: "num" },
      { label: "Running", class: "num" }, { label: "Waiting", class: "num" }, { label: "Latency (oldest)", class: "num" }, ""], rows,
    { empty: "No queues yet." }));
  }

  async function refreshWorkers() {
    if (!ctx.features.has("/api/v1/workers")) return null;
    const workers = await api("/workers", { signal: scope.signal });
    const byState = {};
    for (const w of workers) byState[w.state] = (byState[w.state] || 0) + 1;
    const hosts = new Set(workers.map((w) => w.hostname));
    replace(workersBox, h("h2", {}, h("a", { href: "/ui/workers" }, "Workers")),
      workers.length ? h("p", {}, `${workers.length} seen in the last hour on ${hosts.size} host${hosts.size === 1 ? "" : "s"}: `,
        Object.entries(byState).map(([state, n]) => [badge(state, `${n} ${state}`), " "])) : h("p", { class: "muted" }, "No worker has been seen in the last hour."),
      workers.length ? table(["Worker", "State", { label: "Running", class: "num" }, "Queues"], workers.slice(0, 8).map((w) => h("tr", {},
        h("td", { class: "ellipsis" }, w.id), h("td", {}, badge(w.state)), h("td", { class: "num" }, `${w.running}/${w.concurrency || "?"}`),
        h("td", {}, w.queues.join(", "))))) : null);
    return workers;
  }

  async function refreshAll() {
    const [status, workers] = await Promise.all([refreshCounts(), refreshWorkers()]);
    await refreshQueues(status, workers);
  }

  async function refreshCharts() {
    const r = range;
    const now = Date.now();
    const start = r.live ? now - (r.end - r.start) : r.start;
    const end = r.live ? now : r.end;
    const started = new Date(start).toISOString();
    const ended = new Date(end).toISOString();
    const [load, attempts] = await Promise.all([
      allPages("/load", { started, ended }, { maxPages: 50, signal: scope.signal }),
      allPages("/executions", { started_after: started, started_before: ended, sort: "-id" }, { maxPages: 10, signal: scope.signal }),
    ]);
    if (r !== range) return; // the range changed meanwhile
    const points = load.results.map((p) => ({ ...p, t: Date.parse(p.time) }));
    replace(loadBox, h("h2", {}, "Load ", h("span", { class: "muted" }, `(${num(points.length)} samples)`)),
      points.length ? lineChart({
        start, end, label: "Jobs waiting and running over time",
        series: LOAD_SERIES.map((x) => ({ ...x, points: points.map((p) => [p.t, p[x.key]]) })),
      }) : h("p", { class: "muted" }, "No load samples in this range yet (the engine records one a minute)."));
    loadBox.dataset.started = started;
    loadBox.dataset.ended = ended;
    loadBox.dataset.count = String(load.count);
    loadBox.dataset.sum = String(points.reduce((n, p) => n + p.queued + p.running + p.pending + p.blocked, 0));

    const span = (end - start) / 1000;
    const step = (NICE_STEPS.find((x) => span / x <= 72) || 86400) * 1000;
    const buckets = [];
    for (let t = Math.floor(start / step) * step; t < end; t += step) buckets.push({ t0: t, t1: t + step, values: {} });
    let counted = 0;
    for (const e of attempts.results) {
      if (!e.ended_at) continue;
      const key = e.status === "completed" ? "completed" : FAILED.has(e.status) ? "failed" : null;
      if (!key) continue;
      const t = Date.parse(e.ended_at);
      const b = buckets[Math.floor((t - buckets[0].t0) / step)];
      if (!b) continue;
      b.values[key] = (b.values[key] || 0) + 1;
      counted += 1;
    }
    replace(attemptsBox, h("h2", {}, "Attempts finished ", h("span", { class: "muted" }, `(${num(counted)}, per ${duration(step / 1000)})`)),
      barChart({ buckets, stacks: ATTEMPTS, start, end, label: "Attempts completed and failed per interval" }),
      attempts.truncated ? h("p", { class: "muted" }, `The newest ${num(attempts.results.length)} of ${num(attempts.count)} attempts started in this range.`) : null);
  }

  const onEvent = scope.throttle(2000, refreshAll);
  scope.stream("/events", { kind: "state" }, { state: onEvent });
  scope.every(30000, () => { if (range.live) refreshCharts().catch(() => {}); });
  scope.every(15000, onEvent);
  await Promise.all([refreshAll(), refreshCharts()]);
}
