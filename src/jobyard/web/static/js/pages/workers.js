// Workers: hosts, state, queues, what they run, memory; quiet or stop a Faktory worker.

import { api } from "../api.js";
import { badge, confirmDialog, h, replace, table, toast } from "../dom.js";
import { bytes, when } from "../format.js";

export const title = "Workers";

export async function render(ctx) {
  const { scope, main } = ctx;
  let all = ctx.query.get("stopped") === "1";
  const box = h("div", { class: "panel" });
  const stoppedBox = h("input", { type: "checkbox", checked: all });
  stoppedBox.addEventListener("change", () => { all = stoppedBox.checked; ctx.setQuery({ stopped: all ? "1" : "" }); load(); });

  async function control(w, action) {
    if (!(await confirmDialog(`${action === "quiet" ? "Quiet" : "Stop"} worker ${w.id}?`,
      action === "quiet" ? "It finishes what it runs and takes nothing new." : "It finishes (or fails) what it runs and exits.",
      { action: action === "quiet" ? "Quiet" : "Stop", danger: action === "stop" }))) return;
    try {
      await api(`/workers/${encodeURIComponent(w.id)}/${action}`, { method: "POST" });
      toast(`Worker ${w.id}: ${action} asked.`);
      load();
    } catch (e) {
      toast(e.message, "err");
    }
  }

  async function load() {
    const workers = await api("/workers", { params: { include_stopped: all }, signal: scope.signal });
    const operator = ctx.can("operator");
    replace(box, table(["Worker", "State", { label: "Host", class: "wide" }, { label: "Pid", class: "wide" }, "Running", "Queues",
      { label: "Memory", class: "num wide" }, { label: "Started", class: "wide" }, "Last beat", ""],
    workers.map((w) => h("tr", { "data-id": w.id },
      h("td", {}, h("div", { class: "ellipsis" }, w.id), h("div", { class: "muted" }, w.kind, w.labels.length ? ` · ${w.labels.join(", ")}` : "")),
      h("td", {}, badge(w.state)), h("td", { class: "wide" }, w.hostname), h("td", { class: "wide mono" }, String(w.pid)),
      h("td", {}, w.running ? h("a", { href: `/ui/processes?worker=${encodeURIComponent(w.id)}&status=running` }, `${w.running} of ${w.concurrency || "?"}`) : `0 of ${w.concurrency || "?"}`),
      h("td", {}, w.queues.join(", ")), h("td", { class: "num wide" }, w.rss_kb ? bytes(w.rss_kb * 1024) : "—"),
      h("td", { class: "wide" }, when(w.started_at)), h("td", {}, when(w.heartbeat_at)),
      h("td", {}, operator && w.kind === "faktory" && (w.state === "running" || w.state === "quiet") ? h("span", { class: "row" },
        w.state === "running" ? h("button", { type: "button", class: "small", onclick: () => control(w, "quiet") }, "Quiet") : null,
        h("button", { type: "button", class: "small danger", onclick: () => control(w, "stop") }, "Stop")) : null))),
    { empty: all ? "No workers." : "No worker seen in the last hour." }),
    h("p", { class: "muted" }, "A jobyard worker stops on SIGTERM to its process; Faktory workers are told at their next beat."));
  }

  replace(main, h("div", { class: "row" }, h("h1", {}, "Workers"), h("span", { class: "spacer" }),
    h("label", { class: "row muted" }, stoppedBox, "stopped and silent too")), box);
  await load();
  scope.every(5000, () => load().catch(() => {}));
}
