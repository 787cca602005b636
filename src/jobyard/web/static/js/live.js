// Live updates through the API's server-sent events, and the lifetime of everything a page
// starts: each page gets a Scope, and leaving the page closes its streams, timers and requests,
// so a dashboard left open for hours holds only what its current page needs.

import { query } from "./api.js";

const RETRY_MIN = 1000;
const RETRY_MAX = 30000;
const open = new Set(); // every live stream, for the indicator

function indicate() {
  const el = document.getElementById("live");
  if (!el) return;
  const streams = [...open];
  const up = streams.length > 0 && streams.every((s) => s.connected);
  el.classList.toggle("on", up);
  el.textContent = streams.length === 0 ? "idle" : up ? "live" : "reconnecting";
  el.title = up ? "Live: updates arrive as they happen" : "Not connected to the live stream";
}

/**
 * Follow ``/api/v1{path}`` as server-sent events. ``handlers`` maps event names (state, progress,
 * log, close) to functions of the parsed data. The browser reconnects by itself with
 * Last-Event-ID; when it gives up (the server was down or answered an error) this opens a new
 * stream from the last id seen (``after``), backing off up to 30 s.
 */
export class Stream {
  constructor(path, params, handlers) {
    this.path = path;
    this.params = { ...params };
    this.handlers = handlers;
    this.lastId = params.after ?? null;
    this.retry = RETRY_MIN;
    this.timer = null;
    this.closed = false;
    this.connected = false;
    open.add(this);
    this.connect();
  }

  connect() {
    const params = { ...this.params };
    if (this.lastId !== null) params.after = this.lastId;
    const es = new EventSource(`/api/v1${this.path}${query(params)}`, { withCredentials: true });
    this.es = es;
    es.onopen = () => {
      this.connected = true;
      this.retry = RETRY_MIN;
      indicate();
    };
    es.onerror = () => {
      this.connected = false;
      indicate();
      if (es.readyState === EventSource.CLOSED && !this.closed) {
        this.timer = setTimeout(() => this.connect(), this.retry);
        this.retry = Math.min(RETRY_MAX, this.retry * 2);
      }
    };
    for (const [name, handler] of Object.entries(this.handlers)) {
      es.addEventListener(name, (event) => {
        if (event.lastEventId) this.lastId = Number(event.lastEventId);
        let data = null;
        try {
          data = JSON.parse(event.data);
        } catch {
          return;
        }
        handler(data, event);
        if (name === "close") this.close();
      });
    }
  }

  close() {
    this.closed = true;
    this.connected = false;
    clearTimeout(this.timer);
    if (this.es) this.es.close();
    open.delete(this);
    indicate();
  }
}

/** What one page holds: streams, timers, listeners and requests, all ended by ``close()``. */
export class Scope {
  constructor() {
    this.closers = [];
    this.controller = new AbortController();
    this.closed = false;
  }

  get signal() {
    return this.controller.signal;
  }

  stream(path, params, handlers) {
    const stream = new Stream(path, params, handlers);
    this.closers.push(() => stream.close());
    return stream;
  }

  every(ms, fn) {
    const id = setInterval(fn, ms);
    this.closers.push(() => clearInterval(id));
  }

  later(ms, fn) {
    const id = setTimeout(fn, ms);
    this.closers.push(() => clearTimeout(id));
  }

  listen(target, name, fn, options) {
    target.addEventListener(name, fn, options);
    this.closers.push(() => target.removeEventListener(name, fn, options));
  }

  /** ``fn`` at most once per ``ms``, the last call always honoured (for refreshes on events). */
  throttle(ms, fn) {
    let waiting = false;
    let again = false;
    let id = null;
    const run = async () => {
      if (this.closed) return;
      waiting = true;
      again = false;
      try {
        await fn();
      } catch (error) {
        if (error.name !== "AbortError") console.warn("refresh failed:", error.message);
      }
      id = setTimeout(() => {
        waiting = false;
        if (again) run();
      }, ms);
    };
    this.closers.push(() => clearTimeout(id));
    return () => {
      if (waiting) again = true;
      else run();
    };
  }

  close() {
    this.closed = true;
    this.controller.abort();
    for (const close of this.closers.splice(0)) close();
  }
}

indicate();
