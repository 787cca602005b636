// Services: long-running jobs the engine keeps running; state, instances, dependencies, actions.

import { api } from "../api.js";
import { badge, confirmDialog, h, replace, table, toast } from "../dom.js";
import { when } from "../format.js";

export const title = "Services";

export async function render(ctx) {
  const { scope, main } = ctx;
  const box = h("div", { class: "panel" });
  const messagesBox = h("div", { class: "panel" });

  async function act(s, action) {
    if (action !== "start" && !(await confirmDialog(`${action[0].toUpperCase()}${action.slice(1)} ${s.name}?`,
      action === "stop" ? "Its instances are stopped (services that depend on it first)." : "The engine carries it out; this page follows.", { action, danger: action === "stop" }))) return;
    try {
      await api(`/services/${encodeURIComponent(s.name)}/${action}`, { method: "POST" });
      toast(`${s.name}: ${action} asked.`);
      refresh();
    } catch (e) {
      toast(e.message, "err");
    }
  }

  function state(s) {
    if (s.running_action) return badge("running", `${s.running_action}…`);
    if (s.desired === "stop") return badge("canceled", "stopped");
    if (s.sub === "err") return badge("failed", "error");
    if (s.waiting_for.length) return badge("blocked", "waiting for dependencies");
    return s.ready ? badge("completed", "ready") : badge("queued", s.schedule.replace("_", " "));
  }

  async function load() {
    const [services, messages] = await Promise.all([
      api("/services", { signal: scope.signal }),
      api("/services/messages", { params: { limit: 20 }, signal: scope.signal }).catch(() => []),
    ]);
    const operator = ctx.can("operator");
    replace(box, table(["Service", "State", "Instances", { label: "Depends on", class: "wide" }, { label: "Restarts", class: "num wide" },
      { label: "Changed", class: "wide" }, ""], services.results.map((s) => h("tr", { "data-id": s.name },
      h("td", {}, h("strong", {}, s.name), s.app ? h("div", { class: "muted" }, s.app) : null, s.description ? h("div", { class: "muted" }, s.description) : null),
      h("td", {}, state(s), s.waiting_for.length ? h("div", { class: "muted" }, `waits for ${s.waiting_for.join(", ")}`) : null,
        s.next_start_at ? h("div", { class: "muted" }, "next start ", when(s.next_start_at)) : null),
      h("td", {}, s.instances.length ? s.instances.map((i) => h("div", {},
        i.job_id ? h("a", { href: `/ui/jobs/${i.job_id}` }, `#${i.slot} job ${i.job_id}`) : `#${i.slot}`, " ",
        i.execution_status ? badge(i.execution_status) : i.job_status ? badge(i.job_status) : null,
        i.pid ? h("span", { class: "muted mono" }, ` pid ${i.pid}@${i.hostname}`) : null,
        i.ready ? " ✓" : null)) : h("span", { class: "muted" }, "none")),
      h("td", { class: "wide" }, (s.definition.depends_on || []).join(", ") || "—"),
      h("td", { class: "num wide" }, `${s.restarts}${s.failures ? ` (${s.failures} failing)` : ""}`),
      h("td", { class: "wide" }, when(s.updated_at)),
      h("td", {}, operator ? h("span", { class: "row" }, s.desired === "stop"
        ? h("button", { type: "button", class: "small", onclick: () => act(s, "start") }, "Start")
        : [h("button", { type: "button", class: "small", onclick: () => act(s, "restart") }, "Restart"),
          h("button", { type: "button", class: "small", onclick: () => act(s, "reload") }, "Reload"),
          h("button", { type: "button", class: "small danger", onclick: () => act(s, "stop") }, "Stop")]) : null))),
    { empty: "No services: declare them in an app (@app.service)." }));
    replace(messagesBox, h("h2", {}, "Engine messages"), messages.length ? h("ul", {}, messages.slice().reverse().map((m) =>
      h("li", {}, when(m.at), " ", h("strong", {}, `${m.service} ${m.action}: `), badge(m.sub === "err" ? "failed" : "completed", m.sub), " ", m.msg))) : h("p", { class: "muted" }, "None yet."));
  }
  const refresh = scope.throttle(1000, load);
  replace(main, h("h1", {}, "Services"), box, messagesBox);
  await load();
  scope.stream("/events", { kind: "state" }, { state: refresh });
  scope.every(5000, refresh);
}
