"""docs/benchmarks.md from bench/results/latest.json: ``python -m bench.report [results] [out]``."""
# ruff: noqa: RUF001  (the report is typeset: multiplication signs, minus signs, en dashes)

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.adapters import ADAPTERS, load
from bench.common import PG_ADMIN_URL, REDIS_HOST, REDIS_PORT, ROOT

JOBYARD = ("jobyard-pg", "jobyard-sqlite")
PG_SYSTEMS = ("jobyard-pg", "procrastinate", "pgqueuer")


def machine() -> dict[str, Any]:
    """What the run ran on: CPU, memory, load, PostgreSQL and Redis settings."""
    info: dict[str, Any] = {"platform": platform.platform(), "cores": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        info["memory_gib"] = round(int(mem) / 1024 / 1024, 1)
    except OSError:
        pass
    info["load"] = os.getloadavg()
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            info["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
            for name in ("fsync", "synchronous_commit", "wal_sync_method", "shared_buffers"):
                info[f"pg_{name}"] = conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
    except Exception as exc:
        info["postgresql"] = f"unreachable: {exc}"
    try:
        import redis

        r = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
        info["redis"] = r.info("server")["redis_version"]
        info["redis_save"] = r.config_get("save").get("save", "")
        info["redis_appendonly"] = r.config_get("appendonly").get("appendonly", "")
    except Exception as exc:
        info["redis"] = f"unreachable: {exc}"
    return info


def versions() -> dict[str, str]:
    names = {"jobyard"}
    for system in ADAPTERS:
        names.update(load(system).packages)
    out = {}
    for name in sorted(names):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()  # fmt: skip
        # the checkout is shared: say when the code measured is not exactly that commit
        out["jobyard"] += f" (commit {commit}{', src/ with uncommitted changes' if dirty else ''})"
    except OSError:
        pass
    return out


class Cell:
    """The repetitions of one (system, workload): median and spread of one field."""

    def __init__(self, runs: list[dict[str, Any]]) -> None:
        self.runs = [r for r in runs if not r.get("warmup")]
        self.ok = [r for r in self.runs if "value" in r]
        self.na = next((r["na"] for r in self.runs if "na" in r), None)
        self.error = next((r["error"] for r in self.runs if "error" in r), None)

    def values(self, field: str = "value") -> list[float]:
        return [float(r[field]) for r in self.ok if r.get(field) is not None]

    def median(self, field: str = "value") -> float | None:
        v = self.values(field)
        return statistics.median(v) if v else None

    def show(self, field: str = "value", fmt: str = "{:,.0f}") -> str:
        v = self.values(field)
        if not v:
            if self.na:
                return "n/a"
            return "failed" if self.error else "—"
        med = fmt.format(statistics.median(v))
        if len(v) == 1:
            return med
        return f"{med} ({fmt.format(min(v))}–{fmt.format(max(v))})"


def _group(results: list[dict[str, Any]]) -> dict[tuple[str, str, int], Cell]:
    by: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        by[(r["system"], r["workload"], int(r.get("retained", -1)))].append(r)
    return {k: Cell(v) for k, v in by.items()}


def _targets(
    cell: Callable[..., Cell], peers: list[str], sizes: dict[str, int]
) -> list[tuple[str, str, str]]:
    """(target, what was measured, met or by how much it was missed)."""
    out: list[tuple[str, str, str]] = []

    def best(wl: str, family: tuple[str, ...], field: str = "value", low: bool = False):
        vals = [(cell(p, wl).median(field), p) for p in peers if load(p).backend in family]
        vals = [(v, p) for v, p in vals if v is not None]
        if not vals:
            return None, None
        return (min if low else max)(vals)

    def verdict(ok: bool, short: str) -> str:
        return "yes" if ok else f"**no** ({short})"

    for wl, label in (("drain", "drain"), ("drain_large", "drain (large)")):
        mine = cell("jobyard-pg", wl).median()
        pg, pg_name = best(wl, ("postgresql",))
        rd, rd_name = best("drain", ("redis",))
        if mine and pg:
            out.append(
                (
                    f"{label} on PostgreSQL ≥ 2× best PostgreSQL peer",
                    f"{mine:,.0f} vs 2 × {pg:,.0f} ({load(pg_name).label})",
                    verdict(mine >= 2 * pg, f"{mine / (2 * pg):.2f} of the target"),
                )
            )
        if mine and rd and wl == "drain":
            out.append(
                (
                    f"{label} on PostgreSQL ≥ best Redis peer",
                    f"{mine:,.0f} vs {rd:,.0f} ({load(rd_name).label})",
                    verdict(mine >= rd, f"{mine / rd:.2f} of the target"),
                )
            )
    mine = cell("jobyard-pg", "enqueue_single").median()
    pg, pg_name = best("enqueue_single", ("postgresql",))
    if mine and pg:
        out.append(
            (
                "enqueue_single (PostgreSQL) ≥ best PostgreSQL peer",
                f"{mine:,.0f} vs {pg:,.0f} ({load(pg_name).label})",
                verdict(mine >= pg, f"{mine / pg:.2f} of the target"),
            )
        )
    for j in JOBYARD:
        mine = cell(j, "enqueue_bulk").median()
        top, top_name = best("enqueue_bulk", ("postgresql", "redis"))
        if mine and top:
            out.append(
                (
                    f"enqueue_bulk ({load(j).label}) ≥ every peer",
                    f"{mine:,.0f} vs {top:,.0f} ({load(top_name).label})",
                    verdict(mine >= top, f"{mine / top:.2f} of the target"),
                )
            )
    clean = [
        p for p in peers if cell(p, "latency").ok and max(cell(p, "latency").values("lost")) == 0
    ]
    peer_p99s = [(v, p) for p in clean if (v := cell(p, "latency").median("p99")) is not None]
    for j in JOBYARD:
        lat = cell(j, "latency")
        p99 = lat.median("p99")
        if p99 is None:
            continue
        lost = int(max(lat.values("lost")))
        if peer_p99s:
            bp, bp_name = min(peer_p99s)
            out.append(
                (
                    f"latency p99 ≤ best peer's p99: {load(j).label}",
                    f"{p99:.1f} ms vs {bp:.1f} ms ({load(bp_name).label})",
                    verdict(p99 <= bp, f"{p99 / bp:.1f}× the target"),
                )
            )
        out.append(
            (
                f"latency p99 ≤ 50 ms at 200 jobs/s, 0 lost: {load(j).label}",
                f"{p99:.1f} ms, {lost} lost",
                verdict(p99 <= 50 and lost == 0, f"{p99 / 50:.1f}× the target"),
            )
        )
    sq, pgd = cell("jobyard-sqlite", "drain").median(), cell("jobyard-pg", "drain").median()
    if sq and pgd:
        out.append(
            (
                "SQLite drain ≥ ½ PostgreSQL drain",
                f"{sq:,.0f} vs ½ × {pgd:,.0f}",
                verdict(sq >= pgd / 2, f"{sq / (pgd / 2):.2f} of the target"),
            )
        )
    h0 = cell("jobyard-pg", "history", 0).median()
    h1 = cell("jobyard-pg", "history", sizes["history_retained"]).median()
    if h0 and h1:
        out.append(
            (
                f"history: drain with {sizes['history_retained']:,} retained ≥ 0.8× none",
                f"{h1 / h0:.2f}×",
                verdict(h1 >= 0.8 * h0, f"{h1 / h0 / 0.8:.2f} of the target"),
            )
        )
    idle = cell("jobyard-pg", "idle").median()
    if idle is not None:
        out.append(
            (
                "idle ≤ 2 statements/s",
                f"{idle:.2f}",
                verdict(idle <= 2, f"{idle / 2:.1f}× the target"),
            )
        )
    return out


# Why a target is missed, by the start of its name: what the design costs there (the profile
# behind each is in bench/ANALYSIS.md, appended to the report). Shown only for a missed target.
WHY = (
    ("drain on PostgreSQL ≥ best Redis peer",
     "the Redis peers keep a job in memory and fsync nothing (durability above); per job jobyard "
     "updates its live row, writes an execution, two state events and a history row, and every "
     "batch of finishes waits for an fsync'd commit; on 2 shared cores the worker, its 2 "
     "children and PostgreSQL compete for the same CPU"),
    ("drain", "see the profile below"),
    ("enqueue_single",
     "one round trip and one fsync'd commit per call, as the peers; the rest is Python per call "
     "(the job checked against its type's interface, JSON, psycopg; PgQueuer uses asyncpg) and "
     "the machine's load, which moves these cells by 2× between rounds"),
    ("enqueue_bulk",
     "every job is written twice (its live row and its state event) into a live table with more "
     "indexes (ready, due, execution, limits, unique keys); PgQueuer writes one narrow row"),
    ("latency p99 ≤ best",
     "enqueue → start crosses an fsync'd commit, the worker's wake-up (PostgreSQL: a NOTIFY to "
     "its LISTEN thread; SQLite: its next look at the file's change counter, 3 ms after the last "
     "claim at first), a claim (a write transaction) and a hand-over to a child process; Huey "
     "and Celery pop from Redis memory"),
    ("latency p99 ≤ 50 ms",
     "the tail follows the machine's load: other test suites share the 2 cores (load average "
     "above)"),
    ("SQLite drain",
     "SQLite has one writer at a time: claims and finishes queue behind each other's fsync"),
    ("history",
     "not profiled: finished jobs live in their own table, so the retained ones are not on the "
     "claim's path, but every finish inserts into that table's indexes; quick runs of the same "
     "design measured 0.83× and 0.84×, and the spread of the two rounds is wide here: the full "
     "suite (1,000,000 retained, 3 rounds) is the measurement to trust"),
    ("idle",
     "an idle `jobyard up` still runs the engine's duties (services every 0.5 s, reaper, "
     "schedules, statistics) and the worker's claim poll (every 0.5 s) and heartbeat (every "
     "1 s), each its own statement or transaction"),
)  # fmt: skip


def _why(target: str) -> str:
    return next((why for start, why in WHY if target.startswith(start)), "")


def write_report(results_path: Path, out: Path) -> None:
    data = json.loads(results_path.read_text())
    meta, results = data["meta"], data["results"]
    cells = _group(results)
    systems: list[str] = meta["systems"]
    sizes = meta["sizes"]
    empty = Cell([])

    def cell(system: str, workload: str, retained: int = -1) -> Cell:
        return cells.get((system, workload, retained), empty)

    peers = [s for s in systems if s not in JOBYARD]
    lines: list[str] = []
    w = lines.append
    w("# Benchmarks: jobyard and peer job queues")
    w("")
    w("Generated by `make bench` (`python -m bench.run`) from `bench/results/latest.json`; do "
      "not edit by hand. How the suite works: [bench/README.md](../bench/README.md).")  # fmt: skip
    w("")
    if meta["mode"] != "full":
        w(f"> **This is a `--quick` run** (smaller sizes, {meta['repeat']} rounds), not the full "
          "suite. Numbers are indicative only.")  # fmt: skip
        w("")
    m = meta.get("machine", {})
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(meta["started"]))
    took = (meta.get("finished", meta["started"]) - meta["started"]) / 60
    w("## Machine and run")
    w("")
    w(f"- Run: {started}, {took:.0f} min, mode `{meta['mode']}`, {meta['repeat']} measured "
      "rounds per workload after one warm-up round at a tenth of the size (discarded); systems "
      "interleaved, the order rotated every round. Cells show the median and, in brackets, the "
      "lowest and highest round.")  # fmt: skip
    w(
        f"- Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, "
        f"{m.get('memory_gib', '?')} GiB, {m.get('platform', '?')}, Python {meta['python']}."
    )
    load_end = meta.get("machine_end", {}).get("load")
    w(f"- Load average at start {tuple(round(x, 1) for x in m.get('load', ()))}"
      + (f", at the end {tuple(round(x, 1) for x in load_end)}" if load_end else "")
      + ". Absolute numbers move with the machine and with whatever else runs on it (the load "
      "averages above; a shared machine shows it in the spread): compare rows of the same run "
      "(ratios), and read the spread.")  # fmt: skip
    w(f"- PostgreSQL {m.get('postgresql', '?')} on the same machine: fsync={m.get('pg_fsync')}, "
      f"synchronous_commit={m.get('pg_synchronous_commit')}, "
      f"wal_sync_method={m.get('pg_wal_sync_method')}, "
      f"shared_buffers={m.get('pg_shared_buffers')}. "
      "One database per system, dropped and recreated for every measurement.")  # fmt: skip
    w(f"- Redis {m.get('redis', '?')}: save=`{m.get('redis_save', '')!s}` "
      f"appendonly=`{m.get('redis_appendonly', '')}` — **no persistence**: an acknowledged "
      "enqueue lives only in memory and is lost if Redis stops. The PostgreSQL and SQLite rows "
      "pay an fsync per commit for the opposite promise.")  # fmt: skip
    w("- The job: a no-op that appends its number and start time to a file (one `write` on an "
      "O_APPEND descriptor); every system's job does exactly that.")  # fmt: skip
    w("")
    w("### Systems")
    w("")
    w(
        "| system | versions | workers (budget: 2 slots) | what an acknowledged enqueue survives "
        "| bulk API |"
    )
    w("|---|---|---|---|---|")
    vers = meta.get("versions", {})
    for s in systems:
        a = load(s)
        v = ", ".join(f"{p} {vers.get(p, '?')}" for p in a.packages)
        w(f"| {a.label} | {v} | {a.concurrency} | {a.durability} | {a.bulk_api or 'none (n/a)'} |")
    w("")
    w("## Results")
    w("")
    w(f"Sizes: enqueue_single {sizes['enqueue_single']:,} calls; enqueue_bulk "
      f"{sizes['enqueue_bulk']:,} jobs in one bulk call; drain {sizes['drain']:,} queued jobs "
      f"(and {sizes['drain_large']:,} for the PostgreSQL systems); latency "
      f"{sizes['latency']:,} jobs at 200 jobs/s from one producer. Throughputs in jobs/s "
      "(higher is better), latencies in ms (lower is better).")  # fmt: skip
    w("")
    w(
        "| system | enqueue_single | enqueue_bulk | drain | drain (large) | latency p50 | p95 "
        "| p99 | lost |"
    )
    w("|---|---|---|---|---|---|---|---|---|")
    for s in systems:
        lat = cell(s, "latency")
        lost = lat.values("lost")
        w(f"| {load(s).label} | {cell(s, 'enqueue_single').show()} | "
          f"{cell(s, 'enqueue_bulk').show()} | {cell(s, 'drain').show()} | "
          f"{cell(s, 'drain_large').show() if s in PG_SYSTEMS else 'n/a'} | "
          f"{lat.show('p50', '{:,.1f}')} | {lat.show('p95', '{:,.1f}')} | "
          f"{lat.show('p99', '{:,.1f}')} | {int(max(lost)) if lost else '—'} |")  # fmt: skip
    w("")
    w("- **drain** is the burn-down rate: (jobs − 1) / (last start − first start), so worker "
      "start-up (imports, forks, schema checks) is left out; `bench/results/latest.json` also "
      "has the time from launching the workers.")  # fmt: skip
    w("- **lost** counts jobs not started within 10 s after the producer's last enqueue (the "
      "largest of the rounds). A system slower than 200 jobs/s falls behind and shows it here "
      "and in its latency.")  # fmt: skip
    notes = []
    for s in systems:
        for wl in ("enqueue_single", "enqueue_bulk", "drain", "drain_large", "latency"):
            c = cell(s, wl)
            if c.na and wl != "enqueue_bulk":
                notes.append(f"- {load(s).label}, {wl}: n/a — {c.na}")
            elif c.na:
                notes.append(f"- {load(s).label}, {wl}: n/a — {c.na}")
            if c.error:
                first = c.error.splitlines()[0][:300]
                notes.append(f"- {load(s).label}, {wl}: **failed** in {len(c.runs) - len(c.ok)} "
                             f"of {len(c.runs)} rounds — `{first}`")  # fmt: skip
            for r in c.ok:
                if r.get("incomplete"):
                    notes.append(f"- {load(s).label}, {wl} ({r['tag']}): {r['incomplete']}")
                if r.get("producer_behind_ms", 0) > 1000:
                    notes.append(f"- {load(s).label}, latency ({r['tag']}): the producer fell "
                                 f"{r['producer_behind_ms'] / 1000:.1f} s behind schedule "
                                 f"(offered {r['offered_rate']:.0f} jobs/s): its enqueue call is "
                                 "slower than 5 ms")  # fmt: skip
                if r.get("duplicates"):
                    notes.append(f"- {load(s).label}, {wl} ({r['tag']}): {r['duplicates']} "
                                 "jobs started twice")  # fmt: skip
    if notes:
        w("")
        w("Notes on single cells:")
        w("")
        lines.extend(dict.fromkeys(notes))
    w("")
    w("### jobyard against the best peer")
    w("")
    w("Ratio of medians; above 1 means jobyard is better (for latency: best peer p99 / jobyard "
      "p99).")  # fmt: skip
    w("")
    cols: list[tuple[str, str, str, bool, Callable[[str], bool]]] = [
        ("enqueue_single", "enqueue_single", "value", True, lambda s: True),
        ("enqueue_bulk", "enqueue_bulk", "value", True, lambda s: True),
        ("drain", "drain", "value", True, lambda s: True),
        ("drain (large)", "drain_large", "value", True, lambda s: True),
        ("latency p99", "latency", "p99", False, lambda s: True),
    ]
    w("| jobyard | " + " | ".join(c[0] for c in cols) + " |")
    w("|---|" + "---|" * len(cols))
    for j in [s for s in JOBYARD if s in systems]:
        row = []
        for _, wl, field, higher, _f in cols:
            mine = cell(j, wl).median(field)
            best_peer, best = None, None
            for p in peers:
                v = cell(p, wl).median(field)
                if v is None or (
                    wl == "latency"
                    and cell(p, wl).values("lost")
                    and max(cell(p, wl).values("lost")) > 0
                ):
                    continue
                if best is None or (v > best if higher else v < best):
                    best_peer, best = p, v
            if mine is None or best is None or best_peer is None:
                row.append("—")
                continue
            ratio = mine / best if higher else best / mine
            row.append(f"{ratio:.2f}× vs {load(best_peer).label}")
        w(f"| {load(j).label} | " + " | ".join(row) + " |")
    w("")
    w("Latency peers that lost jobs are left out of the best-peer latency.")
    hist0, hist1 = (
        cell("jobyard-pg", "history", 0),
        cell("jobyard-pg", "history", sizes["history_retained"]),
    )
    idle = cell("jobyard-pg", "idle")
    if hist0.runs or idle.runs:
        w("")
        w("## jobyard only: history and idle")
        w("")
    if hist0.runs:
        a, b = hist0.median(), hist1.median()
        ratio = f"{b / a:.2f}" if a and b else "—"
        w(f"**history** — jobyard (PostgreSQL) drain of {sizes['history']:,} jobs with none / "
          f"{sizes['history_retained']:,} finished jobs retained (generated by a bulk SQL insert: "
          "one history row, one execution and two events each): "
          f"{hist0.show()} / {hist1.show()} jobs/s, ratio **{ratio}**.")  # fmt: skip
        w("")
    if idle.runs:
        w(f"**idle** — one idle `jobyard up` (server, engine and a worker) on PostgreSQL, counted "
          f"on the wire for {sizes['idle']} s after a 10 s settle: "
          f"{idle.show('value', '{:.2f}')} "
          f"statements/s ({idle.show('transactions_per_s', '{:.2f}')} committed transactions/s by "
          "pg_stat_database).")  # fmt: skip
        w("")
    w("## Targets (issue 6)")
    w("")
    w("| target | measured | met | why it is missed |")
    w("|---|---|---|---|")
    for name, measured, met in _targets(cell, peers, sizes):
        why = "" if met == "yes" else _why(name)
        w(f"| {name} | {measured} | {met} | {why} |")
    w("")
    extra = ROOT / "bench" / "ANALYSIS.md"
    if extra.exists():
        w(extra.read_text().rstrip())
        w("")
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    results = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench" / "results" / "latest.json"
    target = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "docs" / "benchmarks.md"
    write_report(results, target)
    print(f"wrote {target}")
