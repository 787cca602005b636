"""PyPI ``pyfaktory``: push the test's jobs (one PUSHB), then run them with its own Consumer.

argv: URL PREFIX WID N. Pushes N ``PREFIX.ok`` jobs and one ``PREFIX.boom`` (retry 1), then
consumes until the server says terminate (Consumer.run() ends with sys.exit(1)).
"""

import logging
import sys

from pyfaktory import Client, Consumer, Job, Producer

url, prefix, wid, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
logging.basicConfig(level=logging.INFO)


def ok(i):
    return i * 2


def boom(i):
    raise ValueError(f"boom {i}")


with Client(faktory_url=url, role="producer") as producer_client:
    producer = Producer(client=producer_client)
    jobs = [
        Job(jid=f"{prefix}-ok-{i:04d}", jobtype=f"{prefix}.ok", args=[i], queue=prefix)
        for i in range(n)
    ]
    jobs.append(
        Job(jid=f"{prefix}-boom-01", jobtype=f"{prefix}.boom", args=[7], queue=prefix, retry=1)
    )
    assert producer.push_bulk(jobs) == {}

client = Client(faktory_url=url, role="consumer", worker_id=wid, beat_period=1)
client.connect()
consumer = Consumer(client=client, queues=[prefix], concurrency=2)
consumer.register(f"{prefix}.ok", ok)
consumer.register(f"{prefix}.boom", boom)
print("working", flush=True)
consumer.run()
