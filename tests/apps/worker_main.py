"""A worker process for the signal and crash tests: ``worker_main.py URL CONCURRENCY``.

Runs ``sample:app`` on the default queue with settings from the JOBYARD_* variables, and stops on
SIGTERM / SIGINT like ``jobyard worker``.
"""

from __future__ import annotations

import logging
import sys

from jobyard.worker import run_worker

if __name__ == "__main__":
    logging.basicConfig(
        level=logging.DEBUG, format="%(asctime)s %(process)d %(threadName)s %(message)s"
    )
    run_worker(sys.argv[1], "sample:app", concurrency=int(sys.argv[2]))
