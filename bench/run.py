"""Run the benchmark suite and write docs/benchmarks.md: ``python -m bench.run [--quick]``.

Every measurement runs in its own process (bench/driver.py). Per workload: one warm-up round at a
tenth of the size (discarded), then ``--repeat`` rounds; in each round every system runs once, in
an order rotated from the round before, so that drift on a shared machine spreads over all of
them. Raw results go to bench/results/latest.json; the report is built from that file
(``python -m bench.report``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.adapters import ADAPTERS
from bench.common import ROOT

PG_SYSTEMS = ("jobyard-pg", "procrastinate", "pgqueuer")

FULL = {
    "enqueue_single": 5000, "enqueue_bulk": 20000, "drain": 10000, "drain_large": 100000,
    "latency": 2000, "history": 10000, "history_retained": 1000000, "idle": 30, "repeat": 3,
}  # fmt: skip
QUICK = {
    "enqueue_single": 1000, "enqueue_bulk": 5000, "drain": 2000, "drain_large": 10000,
    "latency": 600, "history": 2000, "history_retained": 100000, "idle": 10, "repeat": 2,
}  # fmt: skip
WORKLOADS = ("enqueue_single", "enqueue_bulk", "drain", "drain_large", "latency", "history",
             "idle")  # fmt: skip


def measure(system: str, workload: str, size: int, tag: str, *extra: str) -> dict[str, Any]:
    kind = "drain" if workload == "drain_large" else workload
    argv = [sys.executable, "-m", "bench.driver", system, kind, str(size), "--tag", tag, *extra]
    timeout = 1500 if workload in ("drain_large", "history") else 900
    began = time.time()
    try:
        proc = subprocess.run(
            argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        lines = proc.stdout.strip().splitlines()
        out: dict[str, Any] = (
            json.loads(lines[-1])
            if lines
            else {
                "error": f"the driver printed nothing (exit {proc.returncode}): "
                f"{proc.stderr[-2000:]}"
            }
        )
    except subprocess.TimeoutExpired:
        out = {"error": f"no result within {timeout} s"}
    except json.JSONDecodeError as exc:
        out = {"error": f"unreadable driver output: {exc}"}
    out.update(system=system, workload=workload, size=size, tag=tag, at=began,
               wall=time.time() - began)  # fmt: skip
    return out


def plan(workload: str, systems: list[str], sizes: dict[str, int]) -> list[tuple[str, list[str]]]:
    """(system, extra driver args) for every run of one round of ``workload``."""
    if workload == "drain_large":
        return [(s, []) for s in systems if s in PG_SYSTEMS]
    if workload == "history":
        if "jobyard-pg" not in systems:
            return []
        return [("jobyard-pg", ["--retained", "0"]),
                ("jobyard-pg", ["--retained", str(sizes["history_retained"])])]  # fmt: skip
    if workload == "idle":
        return [("jobyard-pg", [])] if "jobyard-pg" in systems else []
    return [(s, []) for s in systems]


def preflight() -> None:
    """PostgreSQL and Redis must answer; start either (Debian's way) if it is stopped."""
    import psycopg
    import redis

    from bench.common import PG_ADMIN_URL, REDIS_HOST, REDIS_PORT

    def pg_up() -> bool:
        try:
            psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
            return True
        except psycopg.Error:
            return False

    def redis_up() -> bool:
        try:
            return bool(redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=3).ping())
        except redis.RedisError:
            return False

    if not pg_up():
        print("PostgreSQL does not answer: starting it (service postgresql start)", flush=True)
        subprocess.run(["service", "postgresql", "start"], check=False)
        time.sleep(3)
    if not redis_up():
        print("Redis does not answer: starting redis-server (no persistence)", flush=True)
        subprocess.run(["redis-server", "--daemonize", "yes", "--port", str(REDIS_PORT),
                        "--save", "", "--appendonly", "no"], check=False)  # fmt: skip
        time.sleep(1)
    missing = [n for n, up in (("PostgreSQL", pg_up()), ("Redis", redis_up())) if not up]
    if missing:
        raise SystemExit(f"bench: {' and '.join(missing)} not reachable (see bench/README.md)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, 2 rounds")
    parser.add_argument("--systems", default=",".join(ADAPTERS), help="comma-separated")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated")
    parser.add_argument("--repeat", type=int, help="rounds after the warm-up")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "latest.json"))
    parser.add_argument("--report", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args(argv)
    sizes = dict(QUICK if args.quick else FULL)
    repeat = args.repeat or sizes["repeat"]
    systems = [s for s in args.systems.split(",") if s]
    workloads = [w for w in args.workloads.split(",") if w]
    unknown = [s for s in systems if s not in ADAPTERS] + [
        w for w in workloads if w not in WORKLOADS
    ]
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)}")
    preflight()
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "mode": "quick" if args.quick else "full", "sizes": sizes, "repeat": repeat,
        "started": time.time(), "python": platform.python_version(), "systems": systems,
        "workloads": workloads,
    }  # fmt: skip
    from bench.report import machine, versions

    meta["machine"] = machine()
    meta["versions"] = versions()
    results: list[dict[str, Any]] = []

    def save() -> None:
        out_path.write_text(json.dumps({"meta": meta, "results": results}, indent=1))

    if "history" in workloads and "jobyard-pg" in systems:
        print(f"history: building {sizes['history_retained']:,} finished jobs", flush=True)
        subprocess.run(
            [sys.executable, "-m", "bench.history", str(sizes["history_retained"])],
            cwd=ROOT, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
    for workload in workloads:
        runs = plan(workload, systems, sizes)
        if not runs:
            continue
        size = sizes[workload]
        for round_no in range(repeat + 1):
            warmup = round_no == 0
            tag = "warmup" if warmup else f"r{round_no}"
            shift = round_no % len(runs)
            for system, extra in runs[shift:] + runs[:shift]:
                n = max(10, size // 10) if warmup and workload != "idle" else size
                if warmup and workload == "idle":
                    continue  # nothing to warm: the server starts fresh each time
                result = measure(system, workload, n, tag, *extra)
                result["warmup"] = warmup
                results.append(result)
                save()
                shown = result.get("value", result.get("na") or result.get("error"))
                print(f"{workload:15} {tag:7} {system:15} {' '.join(extra):16} {shown}",
                      flush=True)  # fmt: skip
    meta["finished"] = time.time()
    meta["machine_end"] = {"load": os.getloadavg()}
    save()
    from bench.report import write_report

    write_report(out_path, Path(args.report))
    print(f"wrote {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
