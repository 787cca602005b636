// Job types: their definitions, revisions and interfaces; work in flight; pause and archive.

import { api } from "../api.js";
import { badge, h, jsonView, replace, table, toast } from "../dom.js";
import { duration, num, when } from "../format.js";

export const title = "Types";

export async function render(ctx) {
  const { scope, main } = ctx;
  const query = ctx.query;
  let needle = query.get("q") || "";
  let archived = query.get("archived") === "1";
  let open = query.get("type") || "";
  const search = h("input", { type: "search", placeholder: "Search types ( / )", value: needle, "data-search": "", "aria-label": "Search types" });
  const archivedBox = h("input", { type: "checkbox", checked: archived });
  const listBox = h("div", { class: "panel" });
  const detailBox = h("div", { id: "type-detail" });
  const pausable = ctx.features.has("/api/v1/types/{name}/pause");

  const sync = () => ctx.setQuery({ q: needle, archived: archived ? "1" : "", type: open });
  search.addEventListener("input", () => { needle = search.value.trim(); sync(); load(); });
  archivedBox.addEventListener("change", () => { archived = archivedBox.checked; sync(); load(); });

  async function post(path, message) {
    try {
      await api(path, { method: "POST" });
      toast(message);
      load();
    } catch (e) {
      toast(e.message, "err");
    }
  }

  async function load() {
    const [types, status] = await Promise.all([
      api("/types", { params: { per_page: 1000, search: needle, include_archived: archived }, signal: scope.signal }),
      api("/queue-status", { signal: scope.signal }).catch(() => []),
    ]);
    const work = Object.fromEntries(status.map((s) => [s.type, s]));
    replace(listBox, table(["Name", { label: "Kind", class: "wide" }, "Queue", { label: "Priority", class: "num wide" },
      { label: "Revision", class: "num wide" }, { label: "Queued", class: "num" }, { label: "Running", class: "num" }, "State"],
    types.results.map((t) => {
      const w = work[t.name] || {};
      const row = h("tr", { "data-id": t.name, class: t.name === open ? "cursor" : "" },
        h("td", {}, h("a", { href: `/ui/types?type=${encodeURIComponent(t.name)}`, onclick: (e) => { e.preventDefault(); open = t.name; sync(); load(); } }, t.name),
          t.title ? h("div", { class: "muted" }, t.title) : null),
        h("td", { class: "wide" }, t.kind), h("td", {}, t.queue), h("td", { class: "num wide" }, t.priority),
        h("td", { class: "num wide" }, `${t.revision} (v${t.version})`),
        h("td", { class: "num" }, num(w.queued ?? 0)), h("td", { class: "num" }, num(w.running ?? 0)),
        h("td", {}, t.archived_at ? badge("canceled", "archived") : t.paused || w.paused ? badge("retrying", "paused") : badge("completed", "active")));
      return row;
    }), { empty: "No job types match." }));
    const chosen = types.results.find((t) => t.name === open);
    if (chosen) await drawDetail(chosen, work[chosen.name]);
    else replace(detailBox);
  }

  async function drawDetail(t, w) {
    const revisions = await api(`/types/${encodeURIComponent(t.name)}/revisions`, { signal: scope.signal });
    const operator = ctx.can("operator");
    const io = (items) => table(["Name", "Type", "Required", "Description"], (items || []).map((x) => h("tr", {},
      h("td", { class: "mono" }, x.name), h("td", {}, x.type || "—"), h("td", {}, x.required === false ? "no" : "yes"), h("td", {}, x.description || ""))), { empty: "None." });
    replace(detailBox, h("div", { class: "panel" },
      h("div", { class: "row" }, h("h2", {}, t.name), t.title ? h("span", { class: "muted" }, t.title) : null, h("span", { class: "spacer" }),
        h("a", { class: "button", href: `/ui/jobs?type=${encodeURIComponent(t.name)}` }, "Its jobs"),
        operator && pausable ? h("button", { type: "button", onclick: () => post(`/types/${encodeURIComponent(t.name)}/${t.paused ? "resume" : "pause"}`, `${t.name} ${t.paused ? "resumed" : "paused"}.`) }, t.paused ? "Resume" : "Pause") : null,
        operator ? h("button", { type: "button", class: t.archived_at ? "" : "danger", onclick: () => post(`/types/${encodeURIComponent(t.name)}/${t.archived_at ? "unarchive" : "archive"}`, `${t.name} ${t.archived_at ? "takes new jobs again" : "archived"}.`) }, t.archived_at ? "Unarchive" : "Archive") : null),
      t.description ? h("p", {}, t.description) : null,
      h("div", { class: "grid" },
        h("dl", { class: "facts" },
          h("dt", {}, "Target"), h("dd", { class: "mono" }, Array.isArray(t.target) ? t.target.join(" ") : t.target),
          h("dt", {}, "Category"), h("dd", {}, t.category || "—"),
          h("dt", {}, "Tries"), h("dd", {}, String(t.max_tries)),
          h("dt", {}, "Timeout"), h("dd", {}, t.timeout === null ? "none" : duration(t.timeout)),
          h("dt", {}, "Backoff"), h("dd", {}, `${t.backoff.base} s × ${t.backoff.factor}, at most ${duration(t.backoff.max)}`),
          h("dt", {}, "Needs"), h("dd", {}, `${t.cpus} cpus, ${t.mem} MiB memory, ${t.disk} MiB disk`),
          h("dt", {}, "Concurrency"), h("dd", {}, t.concurrency === null || t.concurrency === undefined ? "no limit" : String(t.concurrency)),
          h("dt", {}, "Latency"), h("dd", {}, w && w.latency !== null ? duration(w.latency) : "—")),
        h("div", {}, h("h2", {}, "Inputs"), io(t.interface && t.interface.inputs), h("h2", {}, "Outputs"), io(t.interface && t.interface.outputs))),
      h("h2", {}, "Revisions"),
      table(["Revision", "Version", "Stored", "Definition"], revisions.slice().reverse().map((r) => h("tr", {},
        h("td", {}, String(r.revision)), h("td", {}, r.version), h("td", {}, when(r.created_at)),
        h("td", {}, h("details", {}, h("summary", {}, "show"), jsonView(r))))))));
  }

  replace(main, h("div", { class: "row" }, h("h1", {}, "Job types"), h("span", { class: "spacer" }), search,
    h("label", { class: "row muted" }, archivedBox, "archived too")), detailBox, listBox);
  await load();
  scope.every(15000, () => load().catch(() => {}));
}
