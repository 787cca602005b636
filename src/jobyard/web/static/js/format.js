// Times in the viewer's own zone, relative times that stay fresh, sizes and durations.

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const full = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" });
const short = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const UNITS = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];

export const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;

export function toDate(value) {
  if (value === null || value === undefined || value === "") return null;
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function ago(value, now = Date.now()) {
  const d = toDate(value);
  if (!d) return "—";
  const seconds = (d.getTime() - now) / 1000;
  if (Math.abs(seconds) < 5) return "just now";
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size || unit === "second") return relative.format(Math.round(seconds / size), unit);
  }
  return "—";
}

export function fullTime(value) {
  const d = toDate(value);
  return d ? full.format(d) : "—";
}

export function clock(value) {
  const d = toDate(value);
  return d ? short.format(d) : "";
}

/** A <time> that shows "3 min ago" and the full local time on hover; refreshed by tickTimes. */
export function when(value) {
  const d = toDate(value);
  const el = document.createElement("time");
  if (!d) {
    el.textContent = "—";
    return el;
  }
  el.dateTime = d.toISOString();
  el.title = fullTime(d);
  el.className = "rel";
  el.textContent = ago(d);
  return el;
}

export function tickTimes(root = document) {
  const now = Date.now();
  for (const el of root.querySelectorAll("time.rel")) el.textContent = ago(el.dateTime, now);
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  const s = Math.max(0, seconds);
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const two = (big, bigUnit, small, smallUnit) => (small ? `${big} ${bigUnit} ${small} ${smallUnit}` : `${big} ${bigUnit}`);
  if (s < 3600) return two(Math.floor(s / 60), "min", Math.round(s % 60), "s");
  if (s < 86400) return two(Math.floor(s / 3600), "h", Math.round((s % 3600) / 60), "min");
  return two(Math.floor(s / 86400), "d", Math.round((s % 86400) / 3600), "h");
}

export function between(start, end) {
  const a = toDate(start);
  const b = toDate(end) || (a ? new Date() : null);
  return a && b ? duration((b - a) / 1000) : "—";
}

export function bytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = Number(n);
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i += 1;
  }
  return `${value.toFixed(i && value < 10 ? 1 : 0)} ${units[i]}`;
}

export function num(n) {
  return n === null || n === undefined ? "—" : Number(n).toLocaleString();
}

/** "2026-01-02T03:04" (a datetime-local value, the viewer's zone) <-> ISO with a zone. */
export function localInput(iso) {
  const d = toDate(iso);
  if (!d) return "";
  const pad = (x) => String(x).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function fromLocalInput(value) {
  const d = toDate(value);
  return d ? d.toISOString() : "";
}
