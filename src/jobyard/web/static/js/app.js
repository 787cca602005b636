// The dashboard's entry point: who is signed in, which API the server has, the pages and their
// URLs, the theme and the keyboard.

import { api, setCsrf } from "./api.js";
import { h, replace, toast } from "./dom.js";
import { tickTimes } from "./format.js";
import { Scope } from "./live.js";

const PAGES = [
  { name: "overview", path: /^\/ui\/?$/, nav: "Overview", key: "o", module: "overview" },
  { name: "jobs", path: /^\/ui\/jobs\/?$/, nav: "Jobs", key: "j", module: "jobs" },
  { name: "job", path: /^\/ui\/jobs\/(\d+)\/?$/, module: "job" },
  { name: "types", path: /^\/ui\/types\/?$/, nav: "Types", key: "t", module: "types", needs: "/api/v1/types" },
  { name: "recipes", path: /^\/ui\/recipes\/?$/, nav: "Recipes", key: "r", module: "recipes", needs: "/api/v1/recipes/{recipe_id}" },
  { name: "recipe", path: /^\/ui\/recipes\/(\d+)\/?$/, module: "recipe", needs: "/api/v1/recipes/{recipe_id}" },
  { name: "schedules", path: /^\/ui\/schedules\/?$/, nav: "Schedules", key: "s", module: "schedules", needs: "/api/v1/schedules/{name}" },
  { name: "services", path: /^\/ui\/services\/?$/, nav: "Services", key: "v", module: "services", needs: "/api/v1/services" },
  { name: "workers", path: /^\/ui\/workers\/?$/, nav: "Workers", key: "w", module: "workers", needs: "/api/v1/workers" },
  { name: "processes", path: /^\/ui\/processes\/?$/, nav: "Processes", key: "p", module: "processes", needs: "/api/v1/executions" },
  { name: "login", path: /^\/ui\/login\/?$/, module: "login", open: true },
];
const RANK = { viewer: 0, operator: 1, admin: 2 };
const THEMES = ["auto", "light", "dark"];

const state = {
  session: null, // GET /api/v1/session
  features: new Set(), // the API's paths, from its OpenAPI document
  scope: null, // the current page's
};

export function can(role) {
  const mine = state.session && state.session.role;
  return Boolean(mine) && RANK[mine] >= RANK[role];
}

function available(page) {
  return !page.needs || state.features.has(page.needs);
}

export function navigate(url, { replace: replacing = false } = {}) {
  const target = new URL(url, location.href);
  if (target.href !== location.href) {
    history[replacing ? "replaceState" : "pushState"](null, "", target.pathname + target.search + target.hash);
  }
  render();
}

/** Put a page's filters in its URL without reloading (they can be shared and bookmarked). */
export function setQuery(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === "" || value === false) continue;
    if (Array.isArray(value)) {
      if (value.length) q.set(key, value.join(","));
    } else q.set(key, String(value));
  }
  const text = q.toString();
  const url = location.pathname + (text ? `?${text}` : "");
  if (url !== location.pathname + location.search) history.replaceState(null, "", url);
}

function drawNav(current) {
  const nav = document.getElementById("nav");
  const signedIn = state.session && state.session.signed_in;
  replace(nav, signedIn ? PAGES.filter((p) => p.nav && available(p)).map((p) => {
    const here = current && (current.name === p.name || (p.name === "jobs" && current.name === "job")
      || (p.name === "recipes" && current.name === "recipe"));
    return h("a", { href: pageUrl(p), "aria-current": here ? "page" : null }, p.nav);
  }) : []);
  const who = document.getElementById("who");
  who.hidden = !signedIn;
  if (signedIn) {
    who.querySelector(".who-name").textContent = `${state.session.name} (${state.session.role})`;
    document.getElementById("signout").hidden = state.session.via !== "session";
  }
}

function pageUrl(page) {
  return page.name === "overview" ? "/ui/" : `/ui/${page.name}`;
}

async function render() {
  if (state.scope) state.scope.close();
  const scope = new Scope();
  state.scope = scope;
  const main = document.getElementById("main");
  const page = PAGES.find((p) => p.path.test(location.pathname));
  if (!(page && page.open) && !(state.session && state.session.signed_in)) {
    const next = location.pathname + location.search;
    history.replaceState(null, "", `/ui/login${next && next !== "/ui/" ? `?next=${encodeURIComponent(next)}` : ""}`);
    return render();
  }
  drawNav(page);
  if (!page || !available(page)) {
    document.title = "Not found · jobyard";
    replace(main, h("div", { class: "panel" }, h("h1", {}, "Not found"),
      h("p", {}, page ? "This server's API has no such pages." : "There is no such page."),
      h("a", { href: "/ui/" }, "Overview")));
    return;
  }
  const match = location.pathname.match(page.path);
  const module = await import(`./pages/${page.module}.js`);
  if (scope.closed) return;
  replace(main, h("p", { class: "muted" }, "Loading…"));
  document.title = `${module.title || page.nav || page.name} · jobyard`;
  const ctx = {
    scope,
    main,
    session: state.session,
    features: state.features,
    args: match.slice(1),
    query: new URLSearchParams(location.search),
    can,
    navigate,
    setQuery,
    signedIn: loadSession,
  };
  try {
    await module.render(ctx);
  } catch (error) {
    if (error.name === "AbortError" || scope.closed) return;
    replace(main, h("div", { class: "panel" }, h("h1", {}, "Something went wrong"),
      h("p", { class: "error-text" }, error.message)));
  }
}

let expiry = null;

async function loadSession() {
  state.session = await api("/session");
  setCsrf(state.session.csrf_token);
  clearTimeout(expiry);
  if (state.session.expires_at) { // back to the sign-in form when the session ends, not a 401
    const left = Date.parse(state.session.expires_at) - Date.now();
    expiry = setTimeout(() => window.dispatchEvent(new CustomEvent("jobyard:signed-out")), Math.min(Math.max(0, left) + 1000, 2 ** 31 - 1));
  }
  if (state.session.signed_in && state.features.size === 0) {
    const doc = await fetch("/api/v1/openapi.json", { credentials: "same-origin" }).then((r) => r.json());
    state.features = new Set(Object.keys(doc.paths || {}).map((p) => `/api/v1${p.replace(/^\/api\/v1/, "")}`));
  }
  return state.session;
}

function setTheme(theme) {
  if (theme === "auto") document.documentElement.removeAttribute("data-theme");
  else document.documentElement.dataset.theme = theme;
  localStorage.setItem("jobyard.theme", theme);
  const button = document.getElementById("theme");
  button.textContent = theme;
  button.setAttribute("aria-label", `Theme: ${theme}`);
}

function cycleTheme() {
  const now = localStorage.getItem("jobyard.theme") || "auto";
  setTheme(THEMES[(THEMES.indexOf(now) + 1) % THEMES.length]);
}

function showHelp() {
  if (document.querySelector("dialog.help")) return;
  const rows = [
    ["g then o j t r s v w p", "go to Overview, Jobs, Types, Recipes, Schedules, Services, Workers, Processes"],
    ["/", "search or filter on this page"],
    ["j / k", "next / previous row"],
    ["Enter or o", "open the row"],
    ["x", "select the row (bulk actions)"],
    ["t", "switch theme (auto, light, dark)"],
    ["Esc", "close a dialog, leave a field"],
    ["?", "this help"],
  ];
  const dialog = h("dialog", { class: "help", "aria-label": "Keyboard shortcuts" },
    h("h2", {}, "Keyboard"),
    h("div", { class: "keys" }, rows.map(([k, what]) => [h("kbd", {}, k), h("span", {}, what)])),
    h("p", {}, h("button", { type: "button", onclick: () => dialog.close() }, "Close")));
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

function typing(event) {
  const el = event.target;
  return el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName);
}

let pendingG = 0;
function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (typing(event)) {
    if (event.key === "Escape") event.target.blur();
    return;
  }
  if (document.querySelector("dialog[open]")) return;
  const key = event.key;
  if (pendingG && Date.now() - pendingG < 1500) {
    pendingG = 0;
    const page = PAGES.find((p) => p.key === key && p.nav && available(p));
    if (page) {
      event.preventDefault();
      navigate(pageUrl(page));
    }
    return;
  }
  if (key === "g") pendingG = Date.now();
  else if (key === "?") showHelp();
  else if (key === "t") cycleTheme();
  else if (key === "/") {
    const search = document.querySelector("main [data-search]");
    if (search) {
      event.preventDefault();
      search.focus();
    }
  } else document.dispatchEvent(new CustomEvent("jobyard:key", { detail: key }));
}

function onClick(event) {
  if (event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
  const link = event.target.closest("a[href]");
  if (!link || link.target || link.hasAttribute("download")) return;
  const url = new URL(link.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith("/ui/") || url.pathname.startsWith("/ui/static/")) return;
  event.preventDefault();
  navigate(url.href);
}

async function start() {
  setTheme(localStorage.getItem("jobyard.theme") || "auto");
  document.getElementById("theme").addEventListener("click", cycleTheme);
  document.getElementById("help").addEventListener("click", showHelp);
  document.getElementById("signout").addEventListener("click", async () => {
    await api("/session", { method: "DELETE" });
    state.session = null;
    setCsrf(null);
    navigate("/ui/login");
  });
  document.addEventListener("keydown", onKey);
  document.addEventListener("click", onClick);
  window.addEventListener("popstate", render);
  window.addEventListener("jobyard:signed-out", async () => {
    const session = await loadSession().catch(() => null);
    if (!session || !session.signed_in) {
      toast("Signed out: sign in again.", "err");
      render();
    }
  });
  setInterval(() => tickTimes(), 10000);
  try {
    await loadSession();
  } catch (error) {
    replace(document.getElementById("main"), h("div", { class: "panel" }, h("h1", {}, "The server does not answer"), h("p", {}, error.message)));
    return;
  }
  render();
}

start();
