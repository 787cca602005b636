"""The worker: claims jobs and runs each in a child process it can always kill.

``Worker(store, app, queues=..., concurrency=...)``; ``run()`` blocks until ``stop()`` or a signal
(see :meth:`Worker.install_signal_handlers`); ``run_worker`` is what ``jobyard worker`` calls.
The parts: ``loop`` (claims and reports: the only caller of the store), ``supervisor`` (processes
and pipes), ``pool`` (prefork Python children), ``executors`` (the child side of Python jobs,
spawning commands), ``capture`` (lines and log batches), ``context`` (what job code sees),
``warden`` (kills job process groups if the worker dies).
"""

from jobyard.worker.context import JobContext, JobInfo
from jobyard.worker.loop import Worker, run_worker

__all__ = ["JobContext", "JobInfo", "Worker", "run_worker"]
