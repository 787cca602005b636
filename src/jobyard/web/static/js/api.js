// The dashboard's only way to the server: the public API under /api/v1, as JSON.

const BASE = "/api/v1";
let csrfToken = null;

export function setCsrf(token) {
  csrfToken = token;
}

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

/** "?a=1&b=x,y" from an object; empty values are left out, lists joined by commas. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value === null || value === undefined || value === "" || value === false) continue;
    if (Array.isArray(value)) {
      if (value.length) q.set(key, value.join(","));
    } else q.set(key, String(value));
  }
  const text = q.toString();
  return text ? `?${text}` : "";
}

export async function api(path, { method = "GET", body, params, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const response = await fetch(BASE + path + query(params), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    signal,
  });
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    if (response.status === 401) window.dispatchEvent(new CustomEvent("jobyard:signed-out"));
    throw new ApiError(response.status, error.code || "error", error.message || `${response.status} ${response.statusText}`, error.details);
  }
  return data;
}

/** Every page of a list (``results``), at most ``maxPages`` of ``per_page``; {results, count, truncated}. */
export async function allPages(path, params, { perPage = 1000, maxPages = 20, signal } = {}) {
  const first = await api(path, { params: { ...params, per_page: perPage, page: 1 }, signal });
  const pages = Math.min(maxPages, Math.ceil(first.count / perPage));
  const results = [...first.results];
  const rest = [];
  for (let page = 2; page <= pages; page += 1) rest.push(page);
  // a few at a time: enough to be quick, never a flood
  for (let i = 0; i < rest.length; i += 4) {
    const batch = await Promise.all(rest.slice(i, i + 4).map((page) =>
      api(path, { params: { ...params, per_page: perPage, page }, signal })));
    for (const b of batch) results.push(...b.results);
  }
  return { results, count: first.count, truncated: first.count > results.length };
}

/** Run ``fn`` over items, ``limit`` at a time; [{item, ok, value|error}]. */
export async function each(items, fn, limit = 4) {
  const out = [];
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const item = items[next++];
      try {
        out.push({ item, ok: true, value: await fn(item) });
      } catch (error) {
        out.push({ item, ok: false, error });
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
