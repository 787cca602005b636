// Jobs: filter by state, type, queue, tag, time and text; live; bulk actions with confirmation.

import { api, each } from "../api.js";
import { badge, confirmDialog, h, progressBar, replace, toast } from "../dom.js";
import { fromLocalInput, localInput, num, when } from "../format.js";
import { rowKeys } from "../table-nav.js";

export const title = "Jobs";

const STATES = ["scheduled", "blocked", "queued", "running", "retrying", "completed", "failed", "canceled"];
const WAITING = new Set(["scheduled", "blocked", "queued", "retrying"]);
const FINISHED = new Set(["completed", "failed", "canceled"]);
// which bulk action applies to a job in which state
const ACTIONS = {
  kill: { label: "Kill", fits: (j) => j.status === "running" || WAITING.has(j.status), danger: true, path: "kill" },
  cancel: { label: "Cancel", fits: (j) => WAITING.has(j.status), danger: true, path: "cancel" },
  requeue: { label: "Requeue", fits: (j) => j.status === "failed" || j.status === "canceled" },
  remove: { label: "Remove", fits: (j) => !j.removed_at, danger: true, path: "remove" },
};

function filtersFrom(query) {
  const list = (key) => (query.get(key) || "").split(",").map((x) => x.trim()).filter(Boolean);
  return {
    status: list("status").filter((x) => STATES.includes(x)),
    type: list("type"),
    queue: list("queue"),
    tag: query.get("tag") || "",
    after: query.get("after") || "",
    before: query.get("before") || "",
    q: query.get("q") || "",
    removed: query.get("removed") === "1",
    page: Math.max(1, Number(query.get("page")) || 1),
    per_page: [25, 50, 100, 200].includes(Number(query.get("per_page"))) ? Number(query.get("per_page")) : 50,
    sort: query.get("sort") || "-id",
  };
}

export async function render(ctx) {
  const { scope, main } = ctx;
  const f = filtersFrom(ctx.query);
  const selected = new Set();
  let jobs = [];
  let count = 0;
  const operator = ctx.can("operator");

  const [types, queues] = await Promise.all([
    api("/types", { params: { per_page: 1000, include_archived: true }, signal: scope.signal }).catch(() => ({ results: [] })),
    api("/queues", { signal: scope.signal }).catch(() => []),
  ]);

  const sync = () => {
    ctx.setQuery({ status: f.status, type: f.type, queue: f.queue, tag: f.tag, after: f.after, before: f.before,
      q: f.q, removed: f.removed ? "1" : "", page: f.page > 1 ? f.page : "", per_page: f.per_page !== 50 ? f.per_page : "",
      sort: f.sort !== "-id" ? f.sort : "" });
  };
  const changed = () => {
    f.page = 1;
    selected.clear();
    sync();
    reload();
  };

  const chips = STATES.map((s) => {
    const chip = h("button", { type: "button", class: `chip s-${s}`, "aria-pressed": String(f.status.includes(s)), "data-state": s }, s);
    chip.addEventListener("click", () => {
      f.status = f.status.includes(s) ? f.status.filter((x) => x !== s) : [...f.status, s];
      chip.setAttribute("aria-pressed", String(f.status.includes(s)));
      changed();
    });
    return chip;
  });
  const typeSelect = h("select", { name: "type", "aria-label": "Type" }, h("option", { value: "" }, "any type"),
    types.results.map((t) => h("option", { value: t.name, selected: f.type.includes(t.name) }, t.name)));
  const queueSelect = h("select", { name: "queue", "aria-label": "Queue" }, h("option", { value: "" }, "any queue"),
    queues.map((q) => h("option", { value: q.name, selected: f.queue.includes(q.name) }, q.name)));
  for (const name of f.type) if (!types.results.some((t) => t.name === name)) typeSelect.append(h("option", { value: name, selected: true }, name));
  for (const name of f.queue) if (!queues.some((q) => q.name === name)) queueSelect.append(h("option", { value: name, selected: true }, name));
  const tagInput = h("input", { name: "tag", placeholder: "tag", value: f.tag, size: 10, "aria-label": "Tag" });
  const afterInput = h("input", { type: "datetime-local", name: "after", value: localInput(f.after), "aria-label": "Created after" });
  const beforeInput = h("input", { type: "datetime-local", name: "before", value: localInput(f.before), "aria-label": "Created before" });
  const search = h("input", { type: "search", name: "q", placeholder: "Search args, errors, type  ( / )", value: f.q, "data-search": "", "aria-label": "Search" });
  const removed = h("input", { type: "checkbox", name: "removed", checked: f.removed });
  typeSelect.addEventListener("change", () => { f.type = typeSelect.value ? [typeSelect.value] : []; changed(); });
  queueSelect.addEventListener("change", () => { f.queue = queueSelect.value ? [queueSelect.value] : []; changed(); });
  tagInput.addEventListener("change", () => { f.tag = tagInput.value.trim(); changed(); });
  afterInput.addEventListener("change", () => { f.after = fromLocalInput(afterInput.value); changed(); });
  beforeInput.addEventListener("change", () => { f.before = fromLocalInput(beforeInput.value); changed(); });
  removed.addEventListener("change", () => { f.removed = removed.checked; changed(); });
  let typingTimer = null;
  search.addEventListener("input", () => {
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => { f.q = search.value.trim(); changed(); }, 300);
  });
  scope.listen(search, "keydown", (e) => { if (e.key === "Enter") { clearTimeout(typingTimer); f.q = search.value.trim(); changed(); } });

  const bulk = h("div", { class: "bulk row", hidden: true });
  const tbody = h("tbody");
  const allBox = h("input", { type: "checkbox", "aria-label": "Select every job on this page" });
  allBox.addEventListener("change", () => {
    for (const j of jobs) if (allBox.checked) selected.add(String(j.id)); else selected.delete(String(j.id));
    drawRows();
  });
  const summary = h("span", { class: "muted", id: "jobs-count" });
  const pager = h("div", { class: "pager" });
  const sortHead = (label, key) => {
    const arrow = f.sort === key ? " ↑" : f.sort === `-${key}` ? " ↓" : "";
    return h("button", { class: "sort", type: "button", onclick: () => { f.sort = f.sort === `-${key}` ? key : `-${key}`; changed(); draw(); } }, label + arrow);
  };
  const head = () => h("tr", {}, operator ? h("th", {}, allBox) : null, h("th", {}, sortHead("Id", "id")),
    h("th", {}, sortHead("Type", "type")), h("th", {}, sortHead("State", "status")), h("th", { class: "wide" }, sortHead("Queue", "queue")),
    h("th", { class: "num wide" }, sortHead("Priority", "priority")), h("th", { class: "num wide" }, "Tries"), h("th", {}, "Progress"),
    h("th", {}, sortHead("Created", "created_at")), h("th", { class: "wide" }, sortHead("Updated", "updated_at")), h("th", { class: "wide" }, "Tags"));
  const thead = h("thead");
  const draw = () => replace(thead, head());
  draw();

  function drawRows() {
    const rows = jobs.map((j) => {
      const id = String(j.id);
      const box = operator ? h("input", { type: "checkbox", checked: selected.has(id), "aria-label": `Select job ${id}` }) : null;
      if (box) box.addEventListener("change", () => { if (box.checked) selected.add(id); else selected.delete(id); drawBulk(); });
      return h("tr", { "data-id": id, "data-status": j.status },
        operator ? h("td", {}, box) : null,
        h("td", { class: "num" }, h("a", { href: `/ui/jobs/${id}` }, id)),
        h("td", {}, j.type), h("td", {}, badge(j.status), j.removed_at ? [" ", badge("canceled", "removed")] : null),
        h("td", { class: "wide" }, j.queue), h("td", { class: "num wide" }, j.priority),
        h("td", { class: "num wide" }, `${j.tries}/${j.max_tries}`),
        h("td", {}, j.status === "running" || (j.progress.percent !== null && !FINISHED.has(j.status))
          ? progressBar(j.progress.percent, { label: `job ${id} progress` }) : j.progress.percent !== null ? `${Math.round(j.progress.percent)}%` : ""),
        h("td", {}, when(j.created_at)), h("td", { class: "wide" }, when(j.updated_at)),
        h("td", { class: "wide" }, j.tags.join(", ")));
    });
    replace(tbody, rows.length ? rows : h("tr", {}, h("td", { class: "empty", colspan: 11 }, "No jobs match.")));
    allBox.checked = jobs.length > 0 && jobs.every((j) => selected.has(String(j.id)));
    keys.restore();
    drawBulk();
  }

  function drawBulk() {
    const chosen = jobs.filter((j) => selected.has(String(j.id)));
    bulk.hidden = !operator || (chosen.length === 0 && !canRequeueAll());
    const buttons = Object.entries(ACTIONS).map(([key, a]) => {
      const fit = chosen.filter(a.fits);
      return h("button", { type: "button", class: a.danger ? "danger small" : "small", disabled: fit.length === 0, "data-action": key,
        onclick: () => act(key, fit) }, `${a.label} ${fit.length || ""}`.trim());
    });
    replace(bulk, h("strong", {}, `${chosen.length} selected`), ...buttons,
      canRequeueAll() ? h("button", { type: "button", class: "small", onclick: requeueAll }, `Requeue all ${num(count)} matching`) : null,
      chosen.length ? h("button", { type: "button", class: "small", onclick: () => { selected.clear(); drawRows(); } }, "Clear") : null);
  }

  function canRequeueAll() {
    return operator && count > 0 && f.status.length > 0 && f.status.every((s) => s === "failed" || s === "canceled")
      && !f.q && !f.after && !f.before && !f.removed;
  }

  async function act(key, fit) {
    const a = ACTIONS[key];
    const ids = fit.map((j) => j.id);
    const ok = await confirmDialog(`${a.label} ${ids.length} job${ids.length === 1 ? "" : "s"}?`,
      `Jobs ${ids.slice(0, 12).join(", ")}${ids.length > 12 ? ", …" : ""}.`, { action: a.label, danger: a.danger });
    if (!ok) return;
    let done = 0;
    let failed = [];
    if (key === "requeue") {
      try {
        done = (await api("/jobs/requeue", { method: "POST", body: { ids } })).ids.length;
      } catch (e) {
        failed = [e.message];
      }
    } else {
      const results = await each(ids, (id) => api(`/jobs/${id}/${a.path}`, { method: "POST" }));
      done = results.filter((r) => r.ok).length;
      failed = results.filter((r) => !r.ok).map((r) => `job ${r.item}: ${r.error.message}`);
    }
    selected.clear();
    toast(`${a.label}: ${done} done${failed.length ? `; ${failed.length} refused (${failed[0]})` : ""}.`, failed.length ? "err" : "ok");
    reload();
  }

  async function requeueAll() {
    const ok = await confirmDialog(`Requeue all ${num(count)} matching jobs?`, "Every job that matches the filters goes back to its queue with one more try.", { action: "Requeue all" });
    if (!ok) return;
    try {
      const out = await api("/jobs/requeue", { method: "POST", body: { status: f.status, type: f.type.length ? f.type : null, queue: f.queue.length ? f.queue : null, tag: f.tag || null } });
      toast(`Requeued ${out.ids.length} jobs.`);
    } catch (e) {
      toast(e.message, "err");
    }
    reload();
  }

  async function reload() {
    const data = await api("/jobs", { signal: scope.signal, params: {
      status: f.status, type: f.type, queue: f.queue, tag: f.tag, created_after: f.after, created_before: f.before,
      search: f.q, include_removed: f.removed, page: f.page, per_page: f.per_page, sort: f.sort } });
    const before = new Map(jobs.map((j) => [j.id, j.updated_at]));
    jobs = data.results;
    count = data.count;
    drawRows();
    for (const row of tbody.querySelectorAll("tr[data-id]")) {
      const old = before.get(Number(row.dataset.id));
      const now = jobs.find((j) => String(j.id) === row.dataset.id);
      if (before.size && (old === undefined || old !== now.updated_at)) row.classList.add("flash");
    }
    const last = Math.max(1, Math.ceil(count / f.per_page));
    summary.textContent = `${num(count)} job${count === 1 ? "" : "s"}`;
    replace(pager,
      h("button", { type: "button", class: "small", disabled: f.page <= 1, onclick: () => { f.page -= 1; sync(); reload(); } }, "← Newer"),
      h("span", { class: "muted" }, `page ${f.page} of ${last}`),
      h("button", { type: "button", class: "small", disabled: f.page >= last, onclick: () => { f.page += 1; sync(); reload(); } }, "Older →"));
  }

  const keys = rowKeys(scope, tbody, {
    open: (id) => ctx.navigate(`/ui/jobs/${id}`),
    toggle: (id) => { if (!operator) return; if (selected.has(id)) selected.delete(id); else selected.add(id); drawRows(); },
  });

  const perPage = h("select", { "aria-label": "Jobs per page" }, [25, 50, 100, 200].map((n) => h("option", { value: n, selected: n === f.per_page }, `${n} a page`)));
  perPage.addEventListener("change", () => { f.per_page = Number(perPage.value); changed(); });

  replace(main,
    h("div", { class: "row" }, h("h1", {}, "Jobs"), summary),
    h("div", { class: "panel" },
      h("div", { class: "row", role: "group", "aria-label": "States" }, chips),
      h("div", { class: "filters", style: { marginTop: "10px" } }, search, typeSelect, queueSelect, tagInput,
        h("label", { class: "field" }, "created after", afterInput), h("label", { class: "field" }, "before", beforeInput),
        h("label", { class: "row muted" }, removed, "removed too"), perPage)),
    bulk,
    h("div", { class: "panel" }, h("div", { class: "table-wrap" }, h("table", { id: "jobs-table" }, thead, tbody)), pager));

  const refresh = scope.throttle(1000, reload);
  scope.stream("/events", { kind: ["state", "progress"] }, { state: refresh, progress: refresh });
  scope.every(20000, refresh); // relative times and anything the stream could not say
  await reload();
}
