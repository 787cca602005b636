// Schedules: cron expressions that enqueue a job type; next runs, history, enable and disable.

import { api } from "../api.js";
import { badge, h, jsonView, replace, table, toast } from "../dom.js";
import { fullTime, when } from "../format.js";

export const title = "Schedules";

export async function render(ctx) {
  const { scope, main } = ctx;
  let open = ctx.query.get("schedule") || "";
  const box = h("div", { class: "panel" });
  const detail = h("div", { id: "schedule-detail" });

  async function toggle(s) {
    try {
      await api(`/schedules/${encodeURIComponent(s.name)}`, { method: "PATCH", body: { enabled: !s.enabled } });
      toast(`${s.name} ${s.enabled ? "disabled" : "enabled"}.`);
      load();
    } catch (e) {
      toast(e.message, "err");
    }
  }

  async function load() {
    const data = await api("/schedules", { params: { per_page: 1000 }, signal: scope.signal });
    const operator = ctx.can("operator");
    replace(box, table(["Schedule", "When", "Job type", "Next run", { label: "Last run", class: "wide" }, "State", ""],
      data.results.map((s) => h("tr", { "data-id": s.name, class: s.name === open ? "cursor" : "" },
        h("td", {}, h("a", { href: `/ui/schedules?schedule=${encodeURIComponent(s.name)}`, onclick: (e) => { e.preventDefault(); open = s.name; ctx.setQuery({ schedule: open }); load(); } }, s.name),
          s.description ? h("div", { class: "muted" }, s.description) : null),
        h("td", {}, h("code", {}, s.cron), h("div", { class: "muted" }, s.timezone)),
        h("td", {}, h("a", { href: `/ui/jobs?type=${encodeURIComponent(s.type)}` }, s.type)),
        h("td", {}, s.enabled ? when(s.next_fire_at) : "—"), h("td", { class: "wide" }, when(s.last_fire_at)),
        h("td", {}, s.enabled ? badge("completed", "enabled") : badge("canceled", "disabled")),
        h("td", {}, operator ? h("button", { type: "button", class: "small", onclick: () => toggle(s) }, s.enabled ? "Disable" : "Enable") : null))),
      { empty: "No schedules." }));
    if (open && data.results.some((s) => s.name === open)) await drawDetail(open);
    else replace(detail);
  }

  async function drawDetail(name) {
    const s = await api(`/schedules/${encodeURIComponent(name)}`, { signal: scope.signal });
    replace(detail, h("div", { class: "panel" }, h("h2", {}, s.name),
      h("div", { class: "grid" },
        h("div", {}, h("dl", { class: "facts" },
          h("dt", {}, "Cron"), h("dd", {}, h("code", {}, s.cron), ` in ${s.timezone}`),
          h("dt", {}, "Catch-up"), h("dd", {}, s.catch_up === "once" ? "missed ticks run once" : "missed ticks are skipped"),
          h("dt", {}, "Queue"), h("dd", {}, s.queue || "the type's"), h("dt", {}, "Priority"), h("dd", {}, s.priority === null ? "the type's" : String(s.priority)),
          h("dt", {}, "Revision"), h("dd", {}, String(s.revision))),
        h("h2", {}, "Arguments"), jsonView(s.args)),
        h("div", {}, h("h2", {}, "Next runs"), h("ul", {}, s.next_runs.map((t) => h("li", {}, fullTime(t), " (", when(t), ")"))))),
      h("h2", {}, "History"),
      table(["Tick", "Acted", "Job", "Note"], s.history.map((r) => h("tr", {},
        h("td", {}, when(r.fire_at)), h("td", {}, when(r.recorded_at)),
        h("td", {}, r.job_id ? [h("a", { href: `/ui/jobs/${r.job_id}` }, String(r.job_id)), " ", r.job_status ? badge(r.job_status) : null] : "—"),
        h("td", { class: r.error ? "error-text" : "muted" }, r.error || (r.skipped ? "skipped (too late)" : r.missed ? `${r.missed} missed ticks folded in` : "")))),
      { empty: "It has not fired yet." })));
  }

  replace(main, h("h1", {}, "Schedules"), detail, box);
  await load();
  scope.every(10000, () => load().catch(() => {}));
}
