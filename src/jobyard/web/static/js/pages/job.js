// One job: state, progress, arguments, result, the reason it waits, a live log, its timeline,
// every execution, its links; kill, cancel, restart, requeue and remove for operators.

import { api } from "../api.js";
import { badge, confirmDialog, h, jsonView, progressBar, replace, table, toast } from "../dom.js";
import { between, bytes, clock, duration, fullTime, when } from "../format.js";

export const title = "Job";

const WAITING = new Set(["scheduled", "blocked", "queued", "retrying"]);
const FINISHED = new Set(["completed", "failed", "canceled"]);
const MAX_LINES = 10000; // kept in the page; older lines are dropped (the API keeps them all)

export async function render(ctx) {
  const { scope, main } = ctx;
  const id = Number(ctx.args[0]);
  let job = await api(`/jobs/${id}`, { signal: scope.signal });
  document.title = `Job ${id} · jobyard`;

  const header = h("div", { class: "row" });
  const notices = h("div");
  const progressBox = h("div", { class: "panel", id: "progress" });
  const facts = h("div", { class: "panel" });
  const argsBox = h("div", { class: "panel" });
  const resultBox = h("div", { class: "panel" });
  const linksBox = h("div", { class: "panel", id: "links" });
  const timelineList = h("ol", { class: "timeline", id: "timeline" });
  const executionsBox = h("div", { class: "panel", id: "executions" });

  // ---- the log: follows, pauses, searches; bounded
  const lines = []; // {id, at, stream, level, text}
  let dropped = 0;
  let following = true;
  let unseen = 0;
  let needle = "";
  const logBox = h("div", { class: "log", id: "log", tabindex: 0, role: "log", "aria-label": "Job log" });
  const followButton = h("button", { type: "button", class: "small", id: "follow", "aria-pressed": "true" }, "Pause");
  const newButton = h("button", { type: "button", class: "small", hidden: true }, "");
  const logSearch = h("input", { type: "search", placeholder: "Search the log ( / )", "data-search": "", "aria-label": "Search the log" });
  const logCount = h("span", { class: "muted", id: "log-count" }, "0 lines");
  const setFollowing = (on) => {
    following = on;
    followButton.textContent = on ? "Pause" : "Follow";
    followButton.setAttribute("aria-pressed", String(on));
    if (on) {
      unseen = 0;
      newButton.hidden = true;
      drawLog();
    }
  };
  followButton.addEventListener("click", () => setFollowing(!following));
  newButton.addEventListener("click", () => setFollowing(true));
  logSearch.addEventListener("input", () => { needle = logSearch.value.toLowerCase(); drawLog(); });
  logBox.addEventListener("wheel", (e) => { if (e.deltaY < 0 && following) setFollowing(false); }, { passive: true });

  function lineNode(l) {
    const text = h("span", { class: "x" });
    if (needle) {
      const lower = l.text.toLowerCase();
      let at = 0;
      for (let i = lower.indexOf(needle); i >= 0; i = lower.indexOf(needle, at)) {
        text.append(l.text.slice(at, i), h("mark", {}, l.text.slice(i, i + needle.length)));
        at = i + needle.length;
      }
      text.append(l.text.slice(at));
    } else text.textContent = l.text;
    const level = l.level && l.level !== "INFO" ? ` ${l.level}` : "";
    return h("div", { class: `line st-${l.stream}${l.level === "ERROR" || l.level === "CRITICAL" ? " err" : ""}` },
      h("span", { class: "t", title: fullTime(l.at) }, clock(l.at)), h("span", { class: "src" }, l.stream + level), text);
  }
  const count = () => `${lines.length}${dropped ? "+" : ""} line${lines.length === 1 && !dropped ? "" : "s"}`;
  const matches = (l) => !needle || l.text.toLowerCase().includes(needle);
  function drawLog() {
    const shown = lines.filter(matches);
    replace(logBox, dropped ? h("div", { class: "gap" }, `${dropped} older lines not shown`) : null,
      shown.length ? shown.map(lineNode) : h("div", { class: "gap" }, needle ? "No line matches." : "No log lines yet."));
    logCount.textContent = `${count()}${needle ? `, ${shown.length} match` : ""}`;
    if (following) logBox.scrollTop = logBox.scrollHeight;
  }
  let pending = [];
  let frame = 0;
  function addLines(batch) {
    pending.push(...batch);
    if (!frame) frame = requestAnimationFrame(flush);
  }
  scope.closers.push(() => cancelAnimationFrame(frame));
  function flush() {
    frame = 0;
    const batch = pending;
    pending = [];
    if (!lines.length) logBox.replaceChildren();
    for (const l of batch) lines.push(l);
    const over = lines.length - MAX_LINES;
    if (over > 0) {
      lines.splice(0, over);
      dropped += over;
    }
    if (!following) {
      unseen += batch.filter(matches).length;
      newButton.hidden = unseen === 0;
      newButton.textContent = `${unseen} new line${unseen === 1 ? "" : "s"} ↓`;
      logCount.textContent = count();
      return;
    }
    if (over > 0 || logBox.querySelector(".gap")) return drawLog();
    for (const l of batch) if (matches(l)) logBox.append(lineNode(l));
    while (logBox.childElementCount > MAX_LINES) logBox.firstChild.remove();
    logCount.textContent = count();
    logBox.scrollTop = logBox.scrollHeight;
  }

  // ---- everything but the log, redrawn from the job
  function act(label, path, { danger = false, confirm = true, then } = {}) {
    return h("button", { type: "button", class: danger ? "danger" : "", "data-action": path, onclick: async () => {
      if (confirm && !(await confirmDialog(`${label} job ${id}?`, actionText(path), { action: label, danger }))) return;
      try {
        const out = path === "requeue"
          ? await api("/jobs/requeue", { method: "POST", body: { ids: [id] } })
          : await api(`/jobs/${id}/${path}`, { method: "POST" });
        toast(`${label}: done.`);
        if (then) then(out);
        else refresh();
      } catch (e) {
        toast(e.message, "err");
      }
    } }, label);
  }
  function actionText(path) {
    return {
      kill: "A running job's process tree is stopped (graceful signal, then SIGKILL); a waiting job is canceled at once.",
      cancel: "The job will not run.",
      restart: "A new job is made like this one, linked to it; this one stays as history.",
      requeue: "The job goes back to its queue with one more try.",
      remove: "The job is hidden from listings (still readable by id); a waiting job is canceled first.",
    }[path];
  }

  function draw() {
    const operator = ctx.can("operator");
    const s = job.status;
    replace(header, h("h1", {}, `Job ${job.id}`, badge(s), h("span", { class: "muted" }, job.type),
      job.removed_at ? badge("canceled", "removed") : null),
    h("span", { class: "spacer" }),
    operator ? h("span", { class: "row", id: "actions" },
      s === "running" || WAITING.has(s) ? act("Kill", "kill", { danger: true }) : null,
      WAITING.has(s) ? act("Cancel", "cancel", { danger: true }) : null,
      s === "failed" || s === "canceled" ? act("Requeue", "requeue") : null,
      FINISHED.has(s) ? act("Restart", "restart", { then: (out) => ctx.navigate(`/ui/jobs/${out.id}`) }) : null,
      !job.removed_at ? act("Remove", "remove", { danger: true }) : null) : null);

    replace(notices,
      job.waiting ? h("div", { class: "notice s-queued", id: "waiting" }, h("strong", {}, "Why it waits: "), job.waiting.message,
        job.waiting.until ? [" (", when(job.waiting.until), ")"] : null) : null,
      job.kill_requested_at && s === "running" ? h("div", { class: "notice s-failed" }, `Kill requested by ${job.kill_requested_by || "someone"} `, when(job.kill_requested_at), "; the worker is stopping it.") : null,
      job.error && FINISHED.has(s) ? h("div", { class: "notice s-failed" }, h("strong", {}, `${job.error.type || "Error"}: `), job.error.message || "") : null);

    const p = job.progress;
    replace(progressBox, h("h2", {}, "Progress"),
      progressBar(p.percent, { big: true, label: "job progress" }),
      h("p", { class: "row" }, h("strong", { id: "percent" }, p.percent === null ? "—" : `${Math.round(p.percent * 10) / 10}%`),
        h("span", { id: "progress-desc" }, p.desc || "")));

    const fact = (label, value) => (value === null || value === undefined || value === "" ? null : [h("dt", {}, label), h("dd", {}, value)]);
    replace(facts, h("h2", {}, "Details"), h("dl", { class: "facts" },
      fact("Type", h("a", { href: `/ui/jobs?type=${encodeURIComponent(job.type)}` }, `${job.type} (revision ${job.type_revision})`)),
      fact("Queue", h("a", { href: `/ui/jobs?queue=${encodeURIComponent(job.queue)}` }, job.queue)),
      fact("Priority", String(job.priority)),
      fact("Tries", `${job.tries} of ${job.max_tries}`),
      fact("Timeout", job.timeout === null ? "none" : duration(job.timeout)),
      fact("Created", [when(job.created_at), job.created_by ? ` by ${job.created_by}` : ""]),
      fact("Runs at", s === "scheduled" || s === "retrying" ? when(job.run_at) : null),
      fact("Started", job.started_at ? when(job.started_at) : null),
      fact("Finished", job.finished_at ? [when(job.finished_at), ` after ${between(job.started_at || job.created_at, job.finished_at)}`] : null),
      fact("Canceled by", job.canceled_by),
      fact("Removed", job.removed_at ? [when(job.removed_at), job.removed_by ? ` by ${job.removed_by}` : ""] : null),
      fact("Tags", job.tags.join(", ")),
      fact("Unique key", job.unique_key),
      fact("External id", job.external_id),
      fact("Needs", job.cpus || job.mem || job.disk ? `${job.cpus} cpus, ${job.mem} MiB memory, ${job.disk} MiB disk` : null),
      fact("Concurrency", job.concurrency_key ? `${job.concurrency_key} (at most ${job.concurrency_limit})` : null)));

    replace(argsBox, h("h2", {}, "Arguments"), jsonView(job.args));
    replace(resultBox, h("h2", {}, job.error ? "Error" : "Result"), job.error ? jsonView(job.error) : s === "completed" ? jsonView(job.result) : h("p", { class: "muted" }, "Not finished yet."));

    const link = (jid, label) => h("a", { href: `/ui/jobs/${jid}` }, label || `job ${jid}`);
    const linkItems = [
      job.restart_of ? h("li", {}, "Restart of ", link(job.restart_of)) : null,
      job.restarted_as ? h("li", {}, "Restarted as ", link(job.restarted_as)) : null,
      job.recipe ? h("li", {}, "Recipe ", ctx.features.has("/api/v1/recipes/{recipe_id}")
        ? h("a", { href: `/ui/recipes/${job.recipe.id}` }, `${job.recipe.type} #${job.recipe.id}`) : `${job.recipe.type} #${job.recipe.id}`,
      ` (as ${job.recipe.name})`) : null,
      ...(job.parents || []).map((x) => h("li", {}, "Parent ", link(x.job_id, x.name), " ", badge(x.status))),
      ...(job.children || []).map((x) => h("li", {}, "Child ", link(x.job_id, x.name), " ", badge(x.status))),
    ].filter(Boolean);
    linksBox.hidden = linkItems.length === 0;
    replace(linksBox, h("h2", {}, "Links"), h("ul", {}, linkItems));

    const executions = job.executions || [];
    replace(executionsBox, h("h2", {}, `Executions (${executions.length})`), table(
      ["#", "State", "Pid", { label: "Host", class: "wide" }, { label: "Worker", class: "wide" }, "Started", "Took", "Exit",
        { label: "Peak RSS", class: "num" }, "Error"],
      executions.map((e) => h("tr", { "data-id": e.id },
        h("td", {}, String(e.attempt)), h("td", {}, badge(e.status)),
        h("td", { class: "mono" }, e.pid === null ? "—" : `${e.pid}${e.ppid ? ` ← ${e.ppid}` : ""}`),
        h("td", { class: "wide" }, e.hostname || "—"), h("td", { class: "wide ellipsis" }, e.worker_id || "—"),
        h("td", {}, when(e.started_at)), h("td", {}, between(e.started_at, e.ended_at)),
        h("td", { class: "mono" }, e.signal ? `signal ${e.signal}` : e.exit_code === null ? "—" : String(e.exit_code)),
        h("td", { class: "num" }, bytes(e.peak_rss)),
        h("td", {}, e.error_message ? h("details", {}, h("summary", {}, `${e.error_type || "error"}: ${e.error_message}`.slice(0, 120)),
          e.traceback ? h("pre", {}, e.traceback) : null) : e.stopped_by ? `stopped by ${e.stopped_by}` : ""))),
      { empty: "Not run yet." }));
  }

  function addTimeline(e) {
    const d = e.data;
    const detail = [d.by ? `by ${d.by}` : null, d.execution_id ? `execution ${d.execution_id}` : null,
      d.restarted_as ? `restarted as ${d.restarted_as}` : null, d.restart_of ? `restart of ${d.restart_of}` : null,
      d.removed ? "removed" : null, d.error ? String(d.error.message || d.error).slice(0, 200) : null].filter(Boolean).join(" · ");
    timelineList.append(h("li", { class: `s-${d.status}` }, h("div", { class: "row" }, badge(d.status),
      h("span", { class: "muted", title: fullTime(e.at) }, clock(e.at)), when(e.at)), detail ? h("div", { class: "muted" }, detail) : null));
    while (timelineList.childElementCount > 500) timelineList.firstChild.remove();
  }

  const refresh = scope.throttle(500, async () => {
    job = await api(`/jobs/${id}`, { signal: scope.signal });
    draw();
  });

  draw();
  replace(main, header, notices,
    h("div", { class: "grid" }, progressBox, facts),
    h("div", { class: "grid" }, argsBox, resultBox),
    h("div", { class: "panel" }, h("div", { class: "row" }, h("h2", {}, "Log"), logCount, h("span", { class: "spacer" }), logSearch, followButton, newButton), logBox),
    h("div", { class: "grid" }, h("div", { class: "panel" }, h("h2", {}, "Timeline"), timelineList), linksBox),
    executionsBox);
  drawLog();

  // every past event of the job, then live ones; reconnects resume after the last id
  scope.stream("/events", { job_id: id, after: 0 }, {
    state: (e) => { addTimeline(e); refresh(); },
    progress: (e) => {
      job.progress = { percent: e.data.percent ?? job.progress.percent, desc: e.data.desc ?? job.progress.desc };
      const bar = progressBox.querySelector(".progress > div");
      bar.style.width = `${Math.max(0, Math.min(100, job.progress.percent || 0))}%`;
      progressBox.querySelector(".progress").setAttribute("aria-valuenow", Math.round(job.progress.percent || 0));
      progressBox.querySelector("#percent").textContent = job.progress.percent === null ? "—" : `${Math.round(job.progress.percent * 10) / 10}%`;
      progressBox.querySelector("#progress-desc").textContent = job.progress.desc || "";
    },
    log: (e) => addLines([{ id: e.id, at: e.at, stream: e.data.stream || "log", level: e.data.level || "", text: e.data.text ?? "" }]),
  });
  scope.every(15000, refresh); // a lease that expires, a heartbeat: things no event announces
}
