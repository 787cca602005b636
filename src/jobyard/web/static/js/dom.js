// Building DOM nodes safely: text is always text (never parsed as HTML).

const SVG_NS = "http://www.w3.org/2000/svg";

function apply(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.setAttribute("class", value);
    else if (key === "text") el.textContent = String(value);
    else if (key === "style") Object.assign(el.style, value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** h("a", {href, class}, "text", child, [more]) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  apply(el, attrs);
  return append(el, children);
}

export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, attrs);
  return append(el, children);
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

/** A status badge, coloured by state. */
export function badge(status, text) {
  return h("span", { class: `badge s-${status}` }, text ?? String(status).replace("_", " "));
}

export function progressBar(percent, { big = false, label = "" } = {}) {
  const inner = h("div");
  inner.style.width = `${Math.max(0, Math.min(100, Number(percent) || 0))}%`;
  return h("div", {
    class: big ? "progress big" : "progress",
    role: "progressbar",
    "aria-valuemin": 0,
    "aria-valuemax": 100,
    "aria-valuenow": Math.round(Number(percent) || 0),
    "aria-label": label || "progress",
  }, inner);
}

/** Pretty JSON with coloured keys and values, built from text nodes. */
export function jsonView(value) {
  const pre = h("pre", { class: "json" });
  const text = JSON.stringify(value, null, 2);
  if (text === undefined) return h("pre", {}, "—");
  const token = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;
  let last = 0;
  for (const m of text.matchAll(token)) {
    pre.append(text.slice(last, m.index));
    if (m[1] && m[2]) pre.append(h("span", { class: "j-key" }, m[1]), m[2]);
    else if (m[1]) pre.append(h("span", { class: "j-str" }, m[1]));
    else if (m[3]) pre.append(h("span", { class: "j-lit" }, m[3]));
    else pre.append(h("span", { class: "j-num" }, m[4]));
    last = m.index + m[0].length;
  }
  pre.append(text.slice(last));
  return pre;
}

export function toast(message, status = "ok", seconds = 6) {
  const box = document.getElementById("toasts");
  const el = h("div", { class: `toast s-${status}`, role: status === "err" ? "alert" : "status" }, message);
  box.append(el);
  while (box.children.length > 5) box.firstChild.remove();
  setTimeout(() => el.remove(), seconds * 1000);
}

/** A modal confirmation; resolves true when confirmed. */
export function confirmDialog(title, body, { action = "Confirm", danger = false } = {}) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { "aria-label": title });
    const ok = h("button", { class: danger ? "danger" : "primary", type: "button" }, action);
    const cancel = h("button", { type: "button" }, "Cancel");
    dialog.append(h("h2", {}, title), h("p", {}, body), h("div", { class: "row" }, ok, cancel));
    const done = (value) => {
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    ok.addEventListener("click", () => done(true));
    cancel.addEventListener("click", () => done(false));
    dialog.addEventListener("cancel", (e) => { e.preventDefault(); done(false); });
    document.body.append(dialog);
    dialog.showModal();
    ok.focus();
  });
}

export function table(headers, rows, { empty = "Nothing here." } = {}) {
  const head = h("tr", {}, headers.map((x) =>
    typeof x === "string" ? h("th", {}, x) : h("th", { class: x.class || "" }, x.label)));
  const body = h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { class: "empty", colspan: headers.length }, empty)));
  return h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, head), body));
}
