"""The worker: claims jobs, reports on them, and is the only part that calls the store.

:class:`Worker` runs two threads. The thread that calls :meth:`Worker.run` is the *store loop*:
it registers the app's types and the worker, claims up to the number of free slots, heartbeats
every running execution in one call per tick, and writes progress, log lines and outcomes in
batches (:mod:`jobyard.worker.report`). The :class:`~jobyard.worker.supervisor.Supervisor`
thread owns the processes. Store errors never end the loop: the failed step backs off and is
tried again, keeping what it had to write; an outcome is never dropped.

Stopping (``stop()``, or SIGTERM/SIGINT through :meth:`Worker.install_signal_handlers`): no more
claims; running jobs get ``shutdown_grace`` seconds to finish, then are stopped and given back
(``released``); a second request gives them back at once.
"""

from __future__ import annotations

import logging
import os
import pwd
import secrets
import select
import signal
import socket
import time
from collections import deque
from collections.abc import Callable, Sequence
from types import FrameType

from jobyard.app import App, load_app
from jobyard.core.errors import Invalid, JobyardError, StoreUnavailable
from jobyard.core.models import Claim, Outcome, TypeKind, check_name
from jobyard.core.settings import Settings
from jobyard.core.states import ExecutionStatus
from jobyard.store import Store, open_store
from jobyard.worker import resources as worker_resources
from jobyard.worker.capture import transient
from jobyard.worker.executors.command import RunAs
from jobyard.worker.protocol import Ended, Reply, ReserveRequest, Started, StopReason
from jobyard.worker.report import Reporter, Retry
from jobyard.worker.services import ServiceWatch
from jobyard.worker.supervisor import Event, Supervisor
from jobyard.worker.warden import Warden

log = logging.getLogger("jobyard.worker")

BUSY_WAIT = 0.05  # longest wait for work while jobs run: their reports must not wait longer
IDLE_BEAT = 5.0  # seconds between the beats of a worker that runs nothing
# Prefetch: while a backlog lasts and recent jobs were short, a claim takes up to PREFETCH more
# jobs per slot than are free, and holds them until a slot frees: one claim round trip serves
# many jobs (like Celery's prefetch multiplier). A held job is claimed (running, leased,
# heartbeated) but has no process yet; one held longer than PREFETCH_HOLD is given back
# (released: queued again, the try not counted), so a long job never keeps others from
# workers with free slots for long.
PREFETCH = 8
PREFETCH_HOLD = 1.0  # seconds
PREFETCH_SHORT = 0.25  # seconds: prefetch only while recent jobs ran shorter than this
FINAL_FLUSH = 10.0  # seconds a stopping worker keeps trying to write what it still holds


class Worker:
    def __init__(
        self,
        store: Store,
        app: App,
        *,
        queues: Sequence[str] = ("default",),
        concurrency: int | None = None,
        settings: Settings | None = None,
        worker_id: str | None = None,
        cluster: str | None = None,
        image: str | None = None,
        cpus: float | None = None,
        mem: float | None = None,
        disk: float | None = None,
        run_as: str | None = None,
    ) -> None:
        if isinstance(queues, str) or not queues:
            raise Invalid("a worker needs a list of one or more queues", field="queues")
        self.queues = tuple(check_name(q, "queue") for q in queues)
        self.concurrency = concurrency if concurrency is not None else os.cpu_count() or 1
        if isinstance(self.concurrency, bool) or not isinstance(self.concurrency, int):
            raise Invalid("concurrency must be a whole number", field="concurrency")
        if self.concurrency < 1:
            raise Invalid("concurrency must be at least 1", field="concurrency")
        definitions = app.definitions()
        if not definitions:
            raise Invalid(f"app {app.name!r} defines no job types", field="app")
        self.store = store
        self.app = app
        self.settings = settings or Settings.from_env()
        self.hostname = socket.gethostname()
        self.run_as = _user()
        # command jobs' user (a root worker's choice); Python jobs run as the worker itself
        self.command_user = RunAs.named(run_as) if run_as else None
        self.worker_id = worker_id or f"{self.hostname}-{os.getpid()}-{secrets.token_hex(2)}"
        self._definitions = {d.name: d for d in definitions}
        self.cluster, self.image = cluster, image  # where it runs, shown in the process table
        # what it has for its jobs (detected unless given); it claims what fits the rest
        self.resources = worker_resources.capacity(cpus, mem, disk)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._inbox: deque[Event] = deque()
        self._stop_level = 0  # 1: stop gracefully, 2: give everything back now
        self._signals = 0
        self._ran = False
        # store-loop state
        self._running: dict[int, Claim] = {}
        self._retry = Retry()
        self._reporter = Reporter(
            store, self._retry, ppid=os.getpid(), hostname=self.hostname, run_as=self.run_as
        )
        self._more_work = True  # the last claim may have left jobs behind
        self._held: deque[tuple[Claim, float]] = deque()  # prefetched: (claim, when claimed)
        self._backlog = False  # the last claim of job types took all it asked for
        self._run_time: float | None = None  # moving average of recent jobs' run times
        self._started_at: dict[int, float] = {}  # execution -> when it was handed to a child
        self._last_claim = float("-inf")
        self._next_beat = 0.0  # monotonic time of the next heartbeat
        self._stopping_since: float | None = None
        self._released = 0  # 1: after the shutdown grace, 2: at once
        services = {s.name: s for s in app.services()}
        self._services = ServiceWatch(store, services, self._retry)
        # service instances have slots of their own: a service never takes a job's place, and
        # jobs never keep a service from starting (at most every instance the app declares)
        self._service_slots = sum(s.instances for s in services.values())
        self._job_types = [n for n in self._definitions if n not in services]
        self._service_types = [n for n in self._definitions if n in services]

    # -- control, from any thread or a signal handler -------------------------------------------

    def stop(self, graceful: bool = True) -> None:
        """Stop claiming and end :meth:`run`; ``graceful=False`` gives running jobs back now."""
        self._stop_level = max(self._stop_level, 1 if graceful else 2)
        try:
            os.write(self._wake_w, b"\0")
        except (BlockingIOError, OSError):
            pass

    def install_signal_handlers(self) -> Callable[[], None]:
        """SIGTERM or SIGINT stops gracefully, a second one at once. Returns a restorer.

        Call it from the main thread (Python runs signal handlers there); the handler only sets a
        flag and writes to a pipe, so it is safe whatever the loop was doing.
        """
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

        def handle(signum: int, frame: FrameType | None) -> None:
            self._signals += 1
            self.stop(graceful=self._signals == 1)

        for sig in previous:
            signal.signal(sig, handle)

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore

    def backlog(self) -> dict[str, int]:
        """What waits to be written to the store (grows while the store is unreachable)."""
        return self._reporter.backlog()

    def _emit(self, event: Event) -> None:
        """From the supervisor thread: queue an event and wake the store loop."""
        self._inbox.append(event)
        if len(self._inbox) == 1:
            try:
                os.write(self._wake_w, b"\0")
            except (BlockingIOError, OSError):
                pass

    # -- the store loop -----------------------------------------------------------------------

    def run(self) -> None:
        """Run until stopped. Blocks; call it once."""
        if self._ran:
            raise RuntimeError("a Worker runs once; make a new one")
        self._ran = True
        warden = Warden()  # forked first, before this worker starts any thread
        python_types = any(d.kind is TypeKind.PYTHON for d in self._definitions.values())
        python_services = sum(
            s.instances for s in self.app.services()
            if self._definitions[s.name].kind is TypeKind.PYTHON
        )  # fmt: skip
        supervisor = Supervisor(
            self.app,
            pool_size=self.concurrency + python_services if python_types else 0,
            kill_grace=self.settings.kill_grace,
            emit=self._emit,
            warden=warden,
            keep_out=lambda: [self._wake_r, self._wake_w, warden.fd],
            run_as=self.command_user,
        )
        self._supervisor = supervisor
        try:
            if self._register():
                supervisor.start()
                log.info(
                    "worker %s: queues %s, concurrency %d, %d job types, %s",
                    self.worker_id,
                    ",".join(self.queues),
                    self.concurrency,
                    len(self._definitions),
                    self.resources.describe(),
                )
                self._loop()
        finally:
            self._teardown(warden)

    def _register(self) -> bool:
        """Register the types and the worker; False if stopped before the store answered."""
        while self._stop_level == 0:
            try:
                for definition in self._definitions.values():
                    self.store.type_register(definition)
                self.store.worker_register(
                    self.worker_id,
                    hostname=self.hostname,
                    pid=os.getpid(),
                    queues=self.queues,
                    concurrency=self.concurrency,
                    types=list(self._definitions),
                    heartbeat=self.settings.heartbeat,
                    **self.resources.to_dict(),  # None: no limit
                )
                self._register_app()
                return True
            except Exception as exc:
                if not transient(exc):
                    raise
                self._retry.failed("register", exc)
                self._sleep((self._retry.due_at() or 0.0) - time.monotonic())
        return False

    def _register_app(self) -> None:
        """The app, its services, and where this worker runs (applications, process table)."""
        services = self.app.services()
        self.store.app_register(
            self.app.name, types=list(self._definitions), services=[s.name for s in services]
        )
        self.store.service_register(services)
        if self.cluster is not None or self.image is not None:
            self.store.worker_advertise(self.worker_id, cluster=self.cluster, image=self.image)

    def _loop(self) -> None:
        self._next_beat = time.monotonic() + self.settings.heartbeat
        while True:
            self._drain()
            now = time.monotonic()
            self._check_stop(now)
            self._start_held(now)
            if now >= self._next_beat:
                self._next_beat = now + self._beat_interval()
                self._heartbeat(now)
            self._reporter.flush(now, force=self._stopping_since is not None)
            if self._services:
                self._services.tick(now)
            if self._stopping_since is not None and not self._running:
                if not self._reporter.pending():
                    return
            if not self._supervisor.is_alive():
                raise RuntimeError("the worker's process supervisor stopped")
            if self._claim(now):
                continue
            self._wait(now, self._next_beat)

    def _idle(self) -> bool:
        return not self._running and not self._held and self._stopping_since is None

    def _beat_interval(self) -> float:
        """An idle worker beats every IDLE_BEAT seconds: nothing of it can be killed or lose a
        lease, and a quiet fleet should not write to the database every second."""
        return max(self.settings.heartbeat, IDLE_BEAT) if self._idle() else self.settings.heartbeat

    def _poll(self) -> float:
        """Seconds between claims when no new work was announced. An idle worker whose store
        hears of new work from every process (PostgreSQL LISTEN, SQLite's change counter) only
        claims then, or every ``idle_poll`` seconds to be safe."""
        if self._idle() and self.store.announces_work:
            return max(self.settings.poll, self.settings.idle_poll)
        return self.settings.poll

    def _wait(self, now: float, next_beat: float) -> None:
        # until the next beat, the reporter's next write, or the next try of a step that failed
        # (a claim that met a busy database must not wait for an idle worker's slow beat)
        wake_at = [next_beat, self._reporter.due_at(), self._retry.due_at()]
        timeout = max(0.0, min(t for t in wake_at if t is not None) - now)
        if self._inbox:
            return
        free = sum(max(0, n) for n in self._free())
        if free > 0 and self._stopping_since is None and not self._retry.pending("claim"):
            poll = self._poll()
            # an idle worker waits in slices of the configured poll: a stop signal is seen
            # within one (the wait does not watch the signal's pipe); waking costs no
            # statement, since claims keep to the poll
            limit = BUSY_WAIT if self._running else min(poll, self.settings.poll)
            timeout = min(timeout, limit, max(0.0, self._last_claim + poll - now))
            if timeout <= 0:
                return
            try:
                if self.store.wait_for_work(self.queues, timeout):
                    self._more_work = True  # work was announced: claim now, whatever the poll
            except Exception as exc:
                self._retry.failed("claim", exc)
            return
        self._sleep(timeout)

    def _sleep(self, timeout: float) -> None:
        """Wait for an event from the supervisor or a stop request, at most ``timeout``."""
        if timeout > 0:
            select.select([self._wake_r], [], [], timeout)
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def _drain(self) -> None:
        now = time.monotonic()
        while self._inbox:
            event = self._inbox.popleft()
            if isinstance(event, ReserveRequest):
                self._reserve(event)
            elif isinstance(event, Ended):
                self._running.pop(event.execution_id, None)
                self._more_work = True  # a slot and its resources are free: claim at once
                self._services.ended(event.execution_id)
                began = self._started_at.pop(event.execution_id, None)
                if began is not None:
                    took = now - began
                    average = self._run_time
                    self._run_time = took if average is None else 0.8 * average + 0.2 * took
                if event.outcome is not None:
                    self._reporter.add(event.outcome, now)
                    log.debug("execution %d: %s", event.execution_id, event.outcome.status)
            else:
                if isinstance(event, Started):
                    self._services.started(event.execution_id, now)
                self._reporter.add(event, now)

    def _check_stop(self, now: float) -> None:
        if self._stop_level == 0:
            return
        if self._stopping_since is None:
            self._stopping_since = now
            self._give_back_held(now, everything=True)
            self._supervisor.drain()
            # a service instance never ends by itself: it is given back at once (another worker
            # takes it over), not after the shutdown grace
            for execution_id in self._services.running():
                if execution_id in self._running:
                    self._supervisor.stop_execution(execution_id, StopReason.RELEASE, grace=None)
            log.info(
                "worker %s stopping: %d running jobs have %g s to finish",
                self.worker_id,
                len(self._running),
                self.settings.shutdown_grace,
            )
        grace_over = now >= self._stopping_since + self.settings.shutdown_grace
        level = 2 if self._stop_level >= 2 else 1 if grace_over else 0
        if level > self._released:
            self._released = level
            for execution_id in self._running:
                self._supervisor.stop_execution(
                    execution_id, StopReason.RELEASE, grace=0.0 if level == 2 else None
                )

    # -- claims -------------------------------------------------------------------------------

    def _free(self) -> tuple[int, int]:
        """Free slots: (for jobs, for service instances)."""
        services = len(self._services.running())
        jobs = len(self._running) - services
        free_jobs = self.concurrency - jobs if self._job_types else 0
        return free_jobs, self._service_slots - services

    def _prefetch(self) -> int:
        """How many more than the free slots the next claim may take (0: no prefetch)."""
        short = self._run_time is not None and self._run_time < PREFETCH_SHORT
        return self.concurrency * PREFETCH if self._backlog and short else 0

    def _claim(self, now: float) -> bool:
        free, free_services = self._free()
        prefetch = self._prefetch() if self._job_types else 0
        if len(self._held) < max(self.concurrency, prefetch // 2):
            # topped up when half is left: claims stay batches, and the held jobs last while
            # the next claim is under way
            free += prefetch
        if free <= 0 and free_services <= 0:
            return False
        if self._stopping_since is not None or self._retry.pending("claim"):
            return False
        if not self._more_work and now < self._last_claim + self._poll():
            return False
        claims: list[Claim] = []
        self._more_work = False
        try:
            for types, limit in ((self._job_types, free), (self._service_types, free_services)):
                if limit > 0 and types:
                    left = worker_resources.free(self.resources, [*self._running.values(), *claims])
                    found = self.store.job_claim(
                        worker_id=self.worker_id,
                        queues=self.queues,
                        types=types,
                        limit=limit,
                        lease=self.settings.lease,
                        **left.to_dict(),  # what fits in what the running jobs left free
                    )
                    claims += found
                    self._more_work = self._more_work or len(found) == limit
                    if types is self._job_types:
                        self._backlog = len(found) == limit
        except Exception as exc:
            self._retry.failed("claim", exc)
            if not claims:
                return False
        else:
            self._retry.succeeded("claim")
        self._last_claim = now
        if claims:  # beat at the working rhythm from now on: kills land within a heartbeat
            self._next_beat = min(self._next_beat, now + self.settings.heartbeat)
        for claim in claims:
            definition = self._definitions.get(claim.type)
            if definition is None:  # the store gave a type this worker did not ask for
                self._reporter.add(Outcome(
                    claim.execution_id, ExecutionStatus.FAILED, error_type="NotFound",
                    error_message=f"worker {self.worker_id} has no job type {claim.type!r}",
                ), now)  # fmt: skip
                continue
            self._running[claim.execution_id] = claim
            self._services.claimed(claim)
            log.debug(
                "claimed job %d (%s), execution %d", claim.job_id, claim.type, claim.execution_id
            )
            if claim.type in self._service_types:
                self._start(claim, now)
            else:
                self._held.append((claim, now))
        self._start_held(now)
        return bool(claims)

    def _start(self, claim: Claim, now: float) -> None:
        self._started_at[claim.execution_id] = now
        self._supervisor.start_execution(claim, self._definitions[claim.type])

    def _start_held(self, now: float) -> None:
        """Hand held claims to free slots, oldest first; give back those held too long."""
        if not self._held:
            return
        services = len(self._services.running())
        busy = len(self._running) - services - len(self._held)
        while self._held and busy < self.concurrency and self._stopping_since is None:
            claim, _ = self._held.popleft()
            self._start(claim, now)
            busy += 1
        self._give_back_held(now)

    def _give_back_held(self, now: float, *, everything: bool = False) -> None:
        while self._held and (everything or now - self._held[0][1] > PREFETCH_HOLD):
            claim, _ = self._held.popleft()
            self._running.pop(claim.execution_id, None)
            self._reporter.add(Outcome(claim.execution_id, ExecutionStatus.RELEASED), now)

    def _drop_held(self, execution_ids: set[int], outcome: Callable[[int], Outcome] | None) -> None:
        """Held claims a heartbeat named: killed (canceled at once) or gone (forgotten)."""
        for claim, since in list(self._held):
            if claim.execution_id in execution_ids:
                self._held.remove((claim, since))
                self._running.pop(claim.execution_id, None)
                if outcome is not None:
                    self._reporter.add(outcome(claim.execution_id), time.monotonic())

    def _heartbeat(self, now: float) -> None:
        ids = sorted({*self._running, *self._reporter.held()})
        try:
            self.store.worker_beat(self.worker_id)
            beat = self.store.execution_heartbeat(ids, lease=self.settings.lease) if ids else None
        except Exception as exc:
            self._retry.failed("heartbeat", exc)
            return
        self._retry.succeeded("heartbeat")
        if beat is None:
            return
        self._services.deliver_signals(self._supervisor.signal_execution)
        self._drop_held(set(beat.kill), lambda e: Outcome(
            e, ExecutionStatus.CANCELED, error_type="jobyard.core.errors.JobCancelled",
            error_message="the job was killed",
        ))  # fmt: skip
        self._drop_held(set(beat.gone), None)
        for execution_id in beat.kill:
            if execution_id in self._running:
                log.info("execution %d: kill requested", execution_id)
                self._supervisor.stop_execution(execution_id, StopReason.KILL, grace=None)
        gone = set(beat.gone)
        for execution_id in gone & set(self._running):
            log.warning("execution %d is no longer current: killing it", execution_id)
            self._supervisor.stop_execution(execution_id, StopReason.GONE, grace=0.0)
        self._reporter.drop(gone)

    def _reserve(self, request: ReserveRequest) -> None:
        try:
            expiry = self.store.execution_reserve(request.execution_id, request.seconds)
            reply = Reply(request.request_id, expiry)
        except JobyardError as exc:
            reply = Reply(request.request_id, None, exc.code, exc.message)
        except Exception as exc:
            reply = Reply(request.request_id, None, StoreUnavailable.code, str(exc))
        self._supervisor.reply(request.execution_id, reply)

    # -- the end --------------------------------------------------------------------------------

    def _teardown(self, warden: Warden) -> None:
        self._stop_level = max(self._stop_level, 2)
        clean = self._supervisor.close()  # kills and reaps whatever still runs (nothing, normally)
        self._give_back_held(time.monotonic(), everything=True)
        self._drain()
        deadline = time.monotonic() + FINAL_FLUSH
        reporter = self._reporter
        while reporter.pending() and time.monotonic() < deadline:
            reporter.flush(time.monotonic(), force=True)
            if reporter.pending():
                self._sleep(max(0.0, (reporter.due_at() or 0.0) - time.monotonic()))
        reporter.close()
        if reporter.pending():
            log.error(
                "the store is unreachable; not written (leases will expire): %s outcomes %s",
                reporter.backlog(),
                sorted(reporter.held()),
            )
        try:
            self.store.worker_stop(self.worker_id)
        except Exception as exc:
            log.warning("could not mark worker %s stopped: %s", self.worker_id, exc)
        self._services.close()
        warden.close(clean=clean)
        os.close(self._wake_r)
        os.close(self._wake_w)
        log.info("worker %s stopped", self.worker_id)


def _user() -> str:
    """The OS user the worker's jobs run as: its effective uid's name (not $USER or $LOGNAME,
    which any parent may set to anything)."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a uid with no name (containers)
        return str(os.geteuid())


def run_worker(
    database: str | Store,
    app: App | str,
    *,
    queues: Sequence[str] = ("default",),
    concurrency: int | None = None,
    settings: Settings | None = None,
    worker_id: str | None = None,
    cluster: str | None = None,
    image: str | None = None,
    cpus: float | None = None,
    mem: float | None = None,
    disk: float | None = None,
    run_as: str | None = None,
) -> None:
    """What ``jobyard worker`` does: open the store, load the app, run until SIGTERM or SIGINT.

    ``database`` is a URL or an open store; ``app`` an App or ``"module:attribute"``. Migrating
    the schema is the caller's choice (``store.schema_upgrade()``). Call from the main thread.
    """
    store = open_store(database) if isinstance(database, str) else database
    try:
        worker = Worker(
            store,
            load_app(app) if isinstance(app, str) else app,
            queues=queues,
            concurrency=concurrency,
            settings=settings,
            worker_id=worker_id,
            cluster=cluster,
            image=image,
            cpus=cpus,
            mem=mem,
            disk=disk,
            run_as=run_as,
        )
        restore = worker.install_signal_handlers()
        try:
            worker.run()
        finally:
            restore()
    finally:
        if isinstance(database, str):
            store.close()
