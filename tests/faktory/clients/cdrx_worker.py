"""PyPI ``faktory`` (cdrx): push the test's jobs, then run them with its own Worker.

argv: URL PREFIX WID N. Pushes N ``PREFIX.ok`` jobs and one ``PREFIX.boom`` (retry 1), then
works until the server says terminate. Worker.run() ends with sys.exit(1): run as a process.
"""

import logging
import sys

import faktory
from faktory import Worker

url, prefix, wid, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
logging.basicConfig(level=logging.INFO)


def ok(i):
    return i * 2


def boom(i):
    raise ValueError(f"boom {i}")


with faktory.connection(url) as client:
    for i in range(n):
        assert client.queue(f"{prefix}.ok", args=(i,), queue=prefix, jid=f"{prefix}-ok-{i:04d}")
    assert client.queue(f"{prefix}.boom", args=(7,), queue=prefix, retry=1, jid=f"{prefix}-boom-01")

Worker.send_heartbeat_every = 1
worker = Worker(faktory=url, queues=[prefix], concurrency=2, use_threads=True, worker_id=wid)
worker.register(f"{prefix}.ok", ok)
worker.register(f"{prefix}.boom", boom)
print("working", flush=True)
worker.run()
