// The process table: every execution with its pid, host, worker, times, exit and peak memory.

import { api } from "../api.js";
import { badge, h, replace, table } from "../dom.js";
import { between, bytes, num, when } from "../format.js";
import { rowKeys } from "../table-nav.js";

export const title = "Processes";

const STATES = ["running", "completed", "failed", "canceled", "timed_out", "lost"];

export async function render(ctx) {
  const { scope, main } = ctx;
  const q = ctx.query;
  const f = { status: q.get("status") || "", host: q.get("host") || "", queue: q.get("queue") || "", type: q.get("type") || "",
    worker: q.get("worker") || "", page: Math.max(1, Number(q.get("page")) || 1) };
  const sync = () => ctx.setQuery({ ...f, page: f.page > 1 ? f.page : "" });
  const box = h("div", { class: "panel" });
  const summary = h("span", { class: "muted" });
  const statusSelect = h("select", { "aria-label": "State" }, h("option", { value: "" }, "any state"), STATES.map((s) => h("option", { value: s, selected: s === f.status }, s.replace("_", " "))));
  statusSelect.addEventListener("change", () => { f.status = statusSelect.value; f.page = 1; sync(); load(); });
  const inputs = ["host", "queue", "type", "worker"].map((key) => {
    const input = h("input", { placeholder: key, value: f[key], size: 12, "aria-label": key, "data-search": key === "type" ? "" : null });
    input.addEventListener("change", () => { f[key] = input.value.trim(); f.page = 1; sync(); load(); });
    return input;
  });
  const tbodyHolder = { tbody: h("tbody") };

  async function load() {
    const data = await api("/executions", { params: { ...f, per_page: 50 }, signal: scope.signal });
    const last = Math.max(1, Math.ceil(data.count / 50));
    summary.textContent = `${num(data.count)} executions`;
    const t = table(["Execution", "Job", "State", "Pid", { label: "Host", class: "wide" }, { label: "Worker", class: "wide" },
      "Started", "Took", "Exit", { label: "Peak RSS", class: "num" }, { label: "Heartbeat", class: "wide" }],
    data.results.map((e) => h("tr", { "data-id": e.job_id },
      h("td", { class: "mono" }, e.key || String(e.id)),
      h("td", {}, h("a", { href: `/ui/jobs/${e.job_id}` }, `${e.job_id}`), " ", h("span", { class: "muted" }, e.type || "")),
      h("td", {}, badge(e.status)), h("td", { class: "mono" }, e.pid === null ? "—" : `${e.pid}${e.ppid ? ` ← ${e.ppid}` : ""}`),
      h("td", { class: "wide" }, e.hostname || "—"), h("td", { class: "wide ellipsis" }, e.worker_id || "—"),
      h("td", {}, when(e.started_at)), h("td", {}, between(e.started_at, e.ended_at)),
      h("td", { class: "mono" }, e.signal ? `signal ${e.signal}` : e.exit_code === null ? "—" : String(e.exit_code)),
      h("td", { class: "num" }, bytes(e.peak_rss)), h("td", { class: "wide" }, e.status === "running" ? when(e.heartbeat_at) : "—"))),
    { empty: "No executions match." });
    tbodyHolder.tbody.replaceChildren(...t.querySelector("tbody").childNodes);
    t.querySelector("table").replaceChild(tbodyHolder.tbody, t.querySelector("tbody"));
    replace(box, t, h("div", { class: "pager" },
      h("button", { type: "button", class: "small", disabled: f.page <= 1, onclick: () => { f.page -= 1; sync(); load(); } }, "← Newer"),
      h("span", { class: "muted" }, `page ${f.page} of ${last}`),
      h("button", { type: "button", class: "small", disabled: f.page >= last, onclick: () => { f.page += 1; sync(); load(); } }, "Older →")));
    keys.restore();
  }
  const keys = rowKeys(scope, tbodyHolder.tbody, { open: (id) => ctx.navigate(`/ui/jobs/${id}`) });

  replace(main, h("div", { class: "row" }, h("h1", {}, "Processes"), summary),
    h("div", { class: "panel filters" }, statusSelect, inputs), box);
  const refresh = scope.throttle(1500, load);
  scope.stream("/events", { kind: "state" }, { state: refresh });
  scope.every(10000, refresh);
  await load();
}
