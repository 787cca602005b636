"""One measurement in a fresh process: ``python -m bench.driver SYSTEM WORKLOAD SIZE``.

Prints one JSON object (the measurement, or ``{"error": ...}`` / ``{"na": ...}``) as its last
line. The orchestrator (bench/run.py) runs one of these per system, workload and repetition, so
no library's global state outlives its turn.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import time
import traceback
from typing import Any

from bench.adapters import load
from bench.adapters.base import Adapter, NotApplicable
from bench.common import WORK_DIR, Proc, Records, child_env

READY_TIMEOUT = 120.0  # seconds for workers to run a first probe job
LATENCY_GRACE = 10.0  # seconds after the last enqueue before a job that has not run is lost


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


class Run:
    def __init__(self, adapter: Adapter, tag: str) -> None:
        self.adapter = adapter
        self.dir = WORK_DIR / "runs" / f"{adapter.name}-{tag}-{os.getpid()}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.record = self.dir / "record.txt"
        self.record.unlink(missing_ok=True)
        self.env = child_env(BENCH_RECORD=str(self.record))
        os.environ["BENCH_RECORD"] = str(self.record)
        self.records = Records(self.record)
        self.procs: list[Proc] = []

    def start_workers(self) -> float:
        started = time.time()
        self.procs = self.adapter.workers(self.env, self.dir)
        return started

    def wait_ready(self) -> None:
        """Run a probe job (number -1) to know the workers take jobs."""
        self.adapter.enqueue_one(-1)
        if not self.records.wait_for(1, timeout=READY_TIMEOUT, procs=self.procs):
            raise RuntimeError(f"the workers ran no job within {READY_TIMEOUT:g} s")
        time.sleep(1.0)  # let every worker process finish starting
        self.records.poll()

    def stop(self) -> None:
        for p in self.procs:
            p.stop()
        self.procs = []


def enqueue_single(adapter: Adapter, size: int, run: Run) -> dict[str, Any]:
    adapter.setup()
    adapter.open()
    calls = []
    began = time.perf_counter()
    for n in range(size):
        t = time.perf_counter()
        adapter.enqueue_one(n)
        calls.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - began
    return {
        "value": size / elapsed, "unit": "jobs/s", "elapsed": elapsed, "jobs": size,
        "call_p50_ms": percentile(calls, 0.5) * 1e3, "call_p99_ms": percentile(calls, 0.99) * 1e3,
    }  # fmt: skip


def enqueue_bulk(adapter: Adapter, size: int, run: Run) -> dict[str, Any]:
    adapter.setup()
    adapter.open()
    ns = list(range(size))
    began = time.perf_counter()
    adapter.enqueue_bulk(ns)
    elapsed = time.perf_counter() - began
    return {"value": size / elapsed, "unit": "jobs/s", "elapsed": elapsed, "jobs": size}


def drain(adapter: Adapter, size: int, run: Run, *, prepared: bool = False) -> dict[str, Any]:
    if not prepared:
        adapter.setup()
    adapter.open()
    adapter.fill(list(range(size)))
    launched = time.time()
    run.start_workers()
    timeout = max(300.0, size / 100)
    done = run.records.wait_for(size, timeout=timeout, procs=run.procs)
    run.stop()
    starts = sorted(run.records.starts.values())
    if len(starts) < 2:
        raise RuntimeError(f"only {len(starts)} of {size} jobs ran within {timeout:g} s")
    span = starts[-1] - starts[0]
    result = {
        "value": (len(starts) - 1) / span, "unit": "jobs/s", "jobs": size, "ran": len(starts),
        "first_to_last": span, "launch_to_last": starts[-1] - launched,
        "launch_to_first": starts[0] - launched, "duplicates": run.records.duplicates,
    }  # fmt: skip
    if not done:
        result["incomplete"] = f"{len(starts)} of {size} ran within {timeout:g} s"
    return result


def latency(adapter: Adapter, size: int, run: Run) -> dict[str, Any]:
    """``size`` jobs at 200 jobs/s from one producer; enqueue -> start of each."""
    rate = 200.0
    adapter.setup()
    adapter.open()
    run.start_workers()
    run.wait_ready()
    enqueued: dict[int, float] = {}
    t0 = time.time() + 0.1
    behind = 0.0
    for n in range(size):
        target = t0 + n / rate
        delay = target - time.time()
        if delay > 0:
            time.sleep(delay)
        else:
            behind = max(behind, -delay)
        enqueued[n] = time.time()
        adapter.enqueue_one(n)
    produced = time.time()
    run.records.wait_for(size + 1, timeout=LATENCY_GRACE, procs=run.procs)
    run.stop()
    starts = run.records.starts
    lat = [(starts[n] - enqueued[n]) * 1e3 for n in enqueued if n in starts]
    lost = sum(1 for n in enqueued if n not in starts)
    return {
        "value": percentile(lat, 0.99), "unit": "ms", "p50": percentile(lat, 0.5),
        "p95": percentile(lat, 0.95), "p99": percentile(lat, 0.99), "max": max(lat, default=0),
        "mean": statistics.fmean(lat) if lat else float("nan"), "lost": lost, "jobs": size,
        "producer_behind_ms": behind * 1e3, "offered_rate": size / (produced - t0),
        "duplicates": run.records.duplicates,
    }  # fmt: skip


WORKLOADS = {"enqueue_single": enqueue_single, "enqueue_bulk": enqueue_bulk, "drain": drain,
             "latency": latency}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    # SIGTERM (the orchestrator's timeout) ends the run through the finally below, which stops
    # the workers it started
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    parser = argparse.ArgumentParser(prog="python -m bench.driver")
    parser.add_argument("system")
    parser.add_argument("workload", choices=[*WORKLOADS, "history", "idle"])
    parser.add_argument("size", type=int)
    parser.add_argument("--tag", default="run")
    parser.add_argument("--retained", type=int, default=0, help="history: finished jobs kept")
    parser.add_argument("--template", help="history: database to clone (made by bench.history)")
    args = parser.parse_args(argv)
    adapter = load(args.system)
    run = Run(adapter, f"{args.workload}-{args.tag}")
    try:
        if args.workload == "history":
            from bench.history import prepare

            prepare(adapter, args.retained, template=args.template)
            out = drain(adapter, args.size, run, prepared=True)
            out["retained"] = args.retained
        elif args.workload == "idle":
            from bench.idle import idle

            out = idle(adapter, args.size, run)
        else:
            out = WORKLOADS[args.workload](adapter, args.size, run)
    except NotApplicable as exc:
        out = {"na": str(exc)}
    except Exception as exc:
        out = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    finally:
        run.stop()
        try:
            adapter.close()
        except Exception:
            pass
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
