// Recipes: graphs of jobs made together; their state and progress.

import { api } from "../api.js";
import { badge, h, replace, table } from "../dom.js";
import { num, when } from "../format.js";
import { rowKeys } from "../table-nav.js";

export const title = "Recipes";
const STATES = ["running", "completed", "failed", "canceled"];

export async function render(ctx) {
  const { scope, main } = ctx;
  const f = { status: ctx.query.get("status") || "", type: ctx.query.get("type") || "", page: Math.max(1, Number(ctx.query.get("page")) || 1) };
  const box = h("div", { class: "panel" });
  const tbody = h("tbody");
  const statusSelect = h("select", { "aria-label": "State" }, h("option", { value: "" }, "any state"), STATES.map((s) => h("option", { value: s, selected: s === f.status }, s)));
  const typeInput = h("input", { placeholder: "recipe type", value: f.type, "data-search": "", "aria-label": "Recipe type" });
  const sync = () => ctx.setQuery({ ...f, page: f.page > 1 ? f.page : "" });
  statusSelect.addEventListener("change", () => { f.status = statusSelect.value; f.page = 1; sync(); load(); });
  typeInput.addEventListener("change", () => { f.type = typeInput.value.trim(); f.page = 1; sync(); load(); });

  async function load() {
    const data = await api("/recipes", { params: { status: f.status, type: f.type, page: f.page, per_page: 50 }, signal: scope.signal });
    const t = table(["Recipe", "Type", "State", "Jobs", "Created", { label: "Done", class: "wide" }], data.results.map((r) => h("tr", { "data-id": r.id },
      h("td", {}, h("a", { href: `/ui/recipes/${r.id}` }, `#${r.id}`)), h("td", {}, `${r.type} (rev ${r.type_revision})`), h("td", {}, badge(r.status)),
      h("td", {}, Object.entries(r.counts).filter(([, n]) => n).map(([s, n]) => [badge(s, `${n} ${s}`), " "])),
      h("td", {}, when(r.created_at)), h("td", { class: "wide" }, when(r.completed_at || r.canceled_at)))), { empty: "No recipes." });
    tbody.replaceChildren(...t.querySelector("tbody").childNodes);
    t.querySelector("table").replaceChild(tbody, t.querySelector("tbody"));
    const last = Math.max(1, Math.ceil(data.count / 50));
    replace(box, h("p", { class: "muted" }, `${num(data.count)} recipes`), t, h("div", { class: "pager" },
      h("button", { type: "button", class: "small", disabled: f.page <= 1, onclick: () => { f.page -= 1; sync(); load(); } }, "← Newer"),
      h("span", { class: "muted" }, `page ${f.page} of ${last}`),
      h("button", { type: "button", class: "small", disabled: f.page >= last, onclick: () => { f.page += 1; sync(); load(); } }, "Older →")));
    keys.restore();
  }
  const keys = rowKeys(scope, tbody, { open: (id) => ctx.navigate(`/ui/recipes/${id}`) });
  replace(main, h("h1", {}, "Recipes"), h("div", { class: "panel filters" }, statusSelect, typeInput), box);
  const refresh = scope.throttle(2000, load);
  scope.stream("/events", { kind: "state" }, { state: refresh });
  await load();
}
