// One recipe: its graph with each job coloured by state, live; cancel and requeue.

import { api } from "../api.js";
import { badge, confirmDialog, h, jsonView, replace, toast } from "../dom.js";
import { when } from "../format.js";
import { recipeGraph } from "../graph.js";

export const title = "Recipe";

export async function render(ctx) {
  const { scope, main } = ctx;
  const id = Number(ctx.args[0]);
  const head = h("div", { class: "row" });
  const graphBox = h("div", { class: "panel", id: "graph" });
  const factsBox = h("div", { class: "panel" });
  let recipe = null;
  let shape = "";

  async function act(action) {
    if (!(await confirmDialog(`${action === "cancel" ? "Cancel" : "Requeue"} recipe ${id}?`,
      action === "cancel" ? "Its unfinished jobs are canceled." : "Its failed and canceled jobs go back to their queues; their descendants follow.",
      { action: action === "cancel" ? "Cancel recipe" : "Requeue", danger: action === "cancel" }))) return;
    try {
      await api(`/recipes/${id}/${action}`, { method: "POST" });
      toast(`Recipe ${id}: ${action} done.`);
      load();
    } catch (e) {
      toast(e.message, "err");
    }
  }

  async function load() {
    recipe = await api(`/recipes/${id}`, { signal: scope.signal });
    document.title = `Recipe ${id} · jobyard`;
    const operator = ctx.can("operator");
    replace(head, h("h1", {}, `Recipe ${id}`, badge(recipe.status), h("span", { class: "muted" }, recipe.type)), h("span", { class: "spacer" }),
      operator && recipe.status === "running" ? h("button", { type: "button", class: "danger", onclick: () => act("cancel") }, "Cancel") : null,
      operator && (recipe.status === "failed" || recipe.status === "canceled") ? h("button", { type: "button", onclick: () => act("requeue") }, "Requeue") : null);
    const nowShape = JSON.stringify(recipe.nodes.map((n) => [n.name, n.status]));
    if (nowShape !== shape) { // redraw only on change, so a reader's scroll and zoom stay
      shape = nowShape;
      const scroll = graphBox.querySelector(".graph-wrap");
      const at = scroll ? [scroll.scrollLeft, scroll.scrollTop] : null;
      replace(graphBox, h("h2", {}, `Graph (${recipe.nodes.length} jobs)`), recipeGraph(recipe, { onOpen: (n) => ctx.navigate(`/ui/jobs/${n.job_id}`) }),
        h("div", { class: "legend" }, Object.entries(recipe.counts).filter(([, n]) => n).map(([s, n]) => [badge(s, `${n} ${s}`), " "])));
      const wrap = graphBox.querySelector(".graph-wrap");
      if (at) [wrap.scrollLeft, wrap.scrollTop] = at;
    }
    replace(factsBox, h("h2", {}, "Details"), h("dl", { class: "facts" },
      h("dt", {}, "Type"), h("dd", {}, `${recipe.type} (revision ${recipe.type_revision})`),
      h("dt", {}, "Created"), h("dd", {}, when(recipe.created_at), recipe.created_by ? ` by ${recipe.created_by}` : ""),
      recipe.completed_at ? [h("dt", {}, "Completed"), h("dd", {}, when(recipe.completed_at))] : null,
      recipe.canceled_at ? [h("dt", {}, "Canceled"), h("dd", {}, when(recipe.canceled_at), recipe.canceled_by ? ` by ${recipe.canceled_by}` : "")] : null),
    h("h2", {}, "Inputs"), jsonView(recipe.inputs));
  }

  replace(main, head, graphBox, factsBox);
  await load();
  const refresh = scope.throttle(1000, load);
  const ids = new Set(recipe.nodes.map((n) => n.job_id));
  scope.stream("/events", { kind: "state" }, { state: (e) => { if (ids.has(e.job_id)) refresh(); } });
  scope.every(15000, refresh);
}
