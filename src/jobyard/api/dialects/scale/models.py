"""jobyard's jobs, executions and job types in Scale's models (``job/serializers.py``).

States (jobyard -> Scale): ``scheduled`` and ``blocked`` are PENDING (not queued yet; a blocked
job whose parent failed or was canceled is BLOCKED), ``queued`` and ``retrying`` are QUEUED (Scale
requeues a failed attempt itself), the rest keep their names in capitals. An execution is
RUNNING, COMPLETED, FAILED (failed, timed out, lost) or CANCELED (killed, or given back by a
worker that stopped).

Ids: a job type's is its stable integer id, a revision's its own; a job keeps its id. Scale
creates a job execution when it queues a job, jobyard when a worker starts it, so an execution's
Scale id is ``job id * 10000 + n`` for the job's n-th attempt: a queued job's next attempt has an
id (and a QUEUED job_exe) before it starts, and the id stays when it does.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from jobyard.core.interface import Interface, Param, ParamType
from jobyard.core.models import Execution, Job, JobType, TypeKind
from jobyard.core.states import ExecutionStatus, JobStatus
from jobyard.core.times import iso_z

EXE_BASE = 10_000  # a Scale job_exe id is job id * EXE_BASE + the attempt's number (from 1)

JOB_STATUS = {
    JobStatus.SCHEDULED: "PENDING",
    JobStatus.BLOCKED: "PENDING",
    JobStatus.QUEUED: "QUEUED",
    JobStatus.RETRYING: "QUEUED",
    JobStatus.RUNNING: "RUNNING",
    JobStatus.COMPLETED: "COMPLETED",
    JobStatus.FAILED: "FAILED",
    JobStatus.CANCELED: "CANCELED",
}
EXE_STATUS = {
    ExecutionStatus.RUNNING: "RUNNING",
    ExecutionStatus.COMPLETED: "COMPLETED",
    ExecutionStatus.FAILED: "FAILED",
    ExecutionStatus.TIMED_OUT: "FAILED",
    ExecutionStatus.LOST: "FAILED",
    ExecutionStatus.CANCELED: "CANCELED",
    ExecutionStatus.RELEASED: "CANCELED",
}
#: Scale status -> the jobyard states it stands for (requeue-jobs' ``status`` filter)
STATUS_FILTER = {
    "PENDING": (JobStatus.SCHEDULED, JobStatus.BLOCKED),
    "BLOCKED": (JobStatus.BLOCKED,),
    "QUEUED": (JobStatus.QUEUED, JobStatus.RETRYING),
    "RUNNING": (JobStatus.RUNNING,),
    "COMPLETED": (JobStatus.COMPLETED,),
    "FAILED": (JobStatus.FAILED,),
    "CANCELED": (JobStatus.CANCELED,),
}
WAITING_FOR_EXE = frozenset({JobStatus.QUEUED, JobStatus.RETRYING})


def ts(value: datetime | None) -> str | None:
    return None if value is None else iso_z(value.timestamp())


def job_status(job: Job, *, parent_failed: bool = False) -> str:
    if job.status is JobStatus.BLOCKED and parent_failed:
        return "BLOCKED"
    return JOB_STATUS[job.status]


# -- job types --------------------------------------------------------------------------------


def scale_param(p: Param) -> dict[str, Any]:
    kind = p.type.value if p.type in (ParamType.FILE, ParamType.FILES) else "property"
    d: dict[str, Any] = {"name": p.name, "type": kind, "required": p.required}
    if p.media_types:
        d["media_types"] = list(p.media_types)
    return d


def command_of(t: JobType) -> tuple[str, str]:
    """(command, command_arguments) as Scale splits a command line: the arguments start at the
    first one with a ``${...}`` placeholder."""
    d = t.definition
    if d.kind is not TypeKind.COMMAND:
        return str(d.target), ""
    argv = list(d.target)
    first = next((i for i, a in enumerate(argv) if "${" in a), len(argv))
    first = max(first, 1)
    return " ".join(argv[:first]), " ".join(argv[first:])


def interface_of(t: JobType) -> dict[str, Any]:
    interface = t.definition.interface or Interface()
    command, arguments = command_of(t)
    return {
        "version": "1.0",
        "command": command,
        "command_arguments": arguments,
        "input_data": [scale_param(p) for p in interface.inputs],
        "output_data": [scale_param(p) for p in interface.outputs],
    }


def type_base(t: JobType) -> dict[str, Any]:
    d = t.definition
    return {
        "id": t.id,
        "name": d.name,
        "version": d.version,
        "title": d.title or d.name,
        "description": d.description,
        "category": d.category or None,
        "author_name": None,
        "author_url": None,
        "is_system": False,
        "is_long_running": False,
        "is_active": t.archived_at is None,
        "is_operational": True,
        "is_paused": t.paused,
        "icon_code": None,
    }


def type_full(t: JobType, *, created: datetime | None = None) -> dict[str, Any]:
    """JobTypeSerializer: ``created`` is the first revision's time when known."""
    d = t.definition
    paused = t.paused
    return {
        **type_base(t),
        "uses_docker": False,
        "docker_privileged": False,
        "docker_image": None,
        "revision_num": t.revision,
        "priority": d.priority,
        "max_scheduled": None,
        "timeout": int(d.timeout) if d.timeout is not None else 0,
        "max_tries": d.max_tries,
        "cpus_required": d.cpus,
        "mem_required": d.mem,
        "disk_out_const_required": d.disk,
        "disk_out_mult_required": 0.0,
        "created": ts(created or t.created_at),
        "archived": ts(t.archived_at),
        "paused": ts(t.created_at) if paused else None,
        "last_modified": ts(t.created_at),
    }


def type_details(t: JobType, *, created: datetime | None = None) -> dict[str, Any]:
    """JobTypeDetailsSerializer (job counts are left empty: they would count over history)."""
    return {
        **type_full(t, created=created),
        "interface": interface_of(t),
        "error_mapping": {},
        "errors": [],
        "trigger_rule": None,
        "job_counts_6h": [],
        "job_counts_12h": [],
        "job_counts_24h": [],
    }


def rev_base(t: JobType, rev_id: int | None) -> dict[str, Any]:
    return {"id": rev_id, "job_type": {"id": t.id}, "revision_num": t.revision}


def rev_full(t: JobType, rev_id: int | None) -> dict[str, Any]:
    return {**rev_base(t, rev_id), "interface": interface_of(t), "created": ts(t.created_at)}


def definition_of(body: Mapping[str, Any]) -> dict[str, Any]:
    """A Scale job type (POST job-types/) as a jobyard definition dict (a command type)."""
    interface = body.get("interface")
    if not isinstance(interface, Mapping):
        raise ValueError("interface must be an object with a command")
    command = interface.get("command")
    if not isinstance(command, str) or not command.strip():
        raise ValueError("interface.command is required")
    argv = shlex.split(command) + shlex.split(str(interface.get("command_arguments") or ""))

    def params(items: Any, where: str) -> list[dict[str, Any]]:
        if not isinstance(items, list):
            raise ValueError(f"interface.{where} must be a list")
        out = []
        for item in items:
            if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                raise ValueError(f"interface.{where}: each parameter needs a name")
            kind = item.get("type", "property")
            p: dict[str, Any] = {
                "name": item["name"],
                "type": {"property": "string", "file": "file", "files": "files"}.get(kind, kind),
            }
            if item.get("required") is False:
                p["required"] = False
            if item.get("media_types"):
                p["media_types"] = list(item["media_types"])
            out.append(p)
        return out

    d: dict[str, Any] = {
        "name": body.get("name"),
        "kind": "command",
        "target": argv,
        "version": body.get("version") or "1.0",
        "interface": {
            "inputs": params(interface.get("input_data", []), "input_data"),
            "outputs": params(interface.get("output_data", []), "output_data"),
        },
    }
    for scale, ours in (
        ("title", "title"), ("description", "description"), ("category", "category"),
        ("priority", "priority"), ("max_tries", "max_tries"), ("cpus_required", "cpus"),
        ("mem_required", "mem"), ("disk_out_const_required", "disk"),
    ):  # fmt: skip
        if body.get(scale) is not None:
            d[ours] = body[scale]
    if body.get("timeout"):
        d["timeout"] = body["timeout"]
    return d


# -- job data ---------------------------------------------------------------------------------


def args_of(data: Mapping[str, Any]) -> dict[str, Any]:
    """Scale job data ``{"input_data": [{name, value|file_id|file_ids}]}`` as a job's args."""
    items = data.get("input_data", [])
    if not isinstance(items, list):
        raise ValueError("input_data must be a list")
    args: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise ValueError("each input needs a name")
        for key in ("value", "file_id", "file_ids"):
            if key in item:
                args[item["name"]] = item[key]
                break
        else:
            raise ValueError(f"input {item['name']!r} has no value, file_id or file_ids")
    return args


def data_of(job: Job, t: JobType | None) -> dict[str, Any]:
    """A job's args as Scale job data."""
    interface = t.definition.interface if t is not None else None
    items = []
    for name, value in (job.args or {}).items() if isinstance(job.args, dict) else ():
        param = interface.input(name) if interface is not None else None
        key = "value"
        if param is not None and param.type is ParamType.FILE and isinstance(value, int):
            key = "file_id"
        elif param is not None and param.type is ParamType.FILES:
            key = "file_ids"
        items.append({"name": name, key: value})
    return {"version": "1.0", "input_data": items, "output_data": []}


def results_of(job: Job) -> dict[str, Any]:
    if not isinstance(job.result, dict):
        output = [] if job.result is None else [{"name": "result", "value": job.result}]
    else:
        output = [{"name": k, "value": v} for k, v in job.result.items()]
    return {"version": "1.0", "output_data": output}


# -- jobs and executions ----------------------------------------------------------------------


def error_of(job: Job) -> dict[str, Any] | None:
    if not job.error:
        return None
    kind = str(job.error.get("type") or "Error")
    system = kind in ("LeaseExpired", "InvalidResult", "TimeoutError")
    return {
        "id": None,
        "name": kind,
        "title": kind,
        "description": job.error.get("message"),
        "category": "SYSTEM" if system else "ALGORITHM",
        "created": ts(job.updated_at),
        "last_modified": ts(job.updated_at),
    }


def queued_at(job: Job) -> datetime | None:
    """When the job was last put on the queue (None: never queued yet)."""
    if job.status in WAITING_FOR_EXE:
        return job.run_at
    if job.executions:
        return job.executions[-1].queued_at
    return None


def job_list_item(
    job: Job, t: JobType | None, rev_id: int | None, *, parent_failed: bool = False
) -> dict[str, Any]:
    """JobSerializer: what lists (requeue-jobs) and recipe details show of a job."""
    d = t.definition if t is not None else None
    return {
        "id": job.id,
        "job_type": type_base(t) if t is not None else {"id": None, "name": job.type},
        "job_type_rev": rev_base(t, rev_id) if t is not None else None,
        "event": None,
        "error": error_of(job),
        "status": job_status(job, parent_failed=parent_failed),
        "priority": job.priority,
        "num_exes": job.tries,
        "timeout": int(job.timeout) if job.timeout is not None else 0,
        "max_tries": job.max_tries,
        "cpus_required": d.cpus if d else 0.0,
        "mem_required": d.mem if d else 0.0,
        "disk_in_required": 0.0,
        "disk_out_required": d.disk if d else 0.0,
        "created": ts(job.created_at),
        "queued": ts(queued_at(job)),
        "started": ts(job.started_at),
        "ended": ts(job.finished_at),
        "last_status_change": ts(job.updated_at),
        "last_modified": ts(job.updated_at),
    }


def exe_id(job_id: int, n: int) -> int:
    return job_id * EXE_BASE + n


def exe_base(job: Job, t: JobType | None, n: int, e: Execution | None) -> dict[str, Any]:
    """JobExecutionBaseSerializer of the job's n-th attempt (``e`` None: queued, not started)."""
    command = command_of(t)[1] if t is not None else ""
    if e is None:
        at = ts(job.run_at)
        return {
            "id": exe_id(job.id, n), "status": "QUEUED", "command_arguments": command,
            "timeout": int(job.timeout) if job.timeout is not None else 0,
            "pre_started": None, "pre_completed": None, "pre_exit_code": None,
            "job_started": None, "job_completed": None, "job_exit_code": None,
            "post_started": None, "post_completed": None, "post_exit_code": None,
            "created": at, "queued": at, "started": None, "ended": None, "last_modified": at,
            "job": {"id": job.id}, "node": None, "error": None,
        }  # fmt: skip
    return {
        "id": exe_id(job.id, n), "status": EXE_STATUS[e.status], "command_arguments": command,
        "timeout": int(job.timeout) if job.timeout is not None else 0,
        "pre_started": None, "pre_completed": None, "pre_exit_code": None,
        "job_started": ts(e.started_at), "job_completed": ts(e.ended_at),
        "job_exit_code": e.exit_code,
        "post_started": None, "post_completed": None, "post_exit_code": None,
        "created": ts(e.started_at), "queued": ts(e.queued_at), "started": ts(e.started_at),
        "ended": ts(e.ended_at), "last_modified": ts(e.ended_at or e.heartbeat_at or e.started_at),
        "job": {"id": job.id},
        "node": {"id": None, "hostname": e.hostname},
        "error": None if e.error_type is None else {"id": None, "name": e.error_type},
    }  # fmt: skip


def exes_of(job: Job, t: JobType | None) -> list[dict[str, Any]]:
    """Every attempt, and a QUEUED one for a job waiting on the queue."""
    exes = [exe_base(job, t, n, e) for n, e in enumerate(job.executions, start=1)]
    if job.status in WAITING_FOR_EXE:
        exes.append(exe_base(job, t, len(job.executions) + 1, None))
    return exes


def job_details(
    job: Job,
    t: JobType | None,
    rev_id: int | None,
    *,
    created: datetime | None = None,
    recipes: Sequence[dict[str, Any]] = (),
    parent_failed: bool = False,
) -> dict[str, Any]:
    """JobDetailsSerializer."""
    return {
        **job_list_item(job, t, rev_id, parent_failed=parent_failed),
        "job_type": type_full(t, created=created) if t is not None else {"name": job.type},
        "job_type_rev": rev_full(t, rev_id) if t is not None else None,
        "data": data_of(job, t),
        "results": results_of(job),
        "input_files": [],
        "recipes": list(recipes),
        "job_exes": exes_of(job, t),
        "products": [],
    }


def _exe_error(e: Execution | None) -> dict[str, Any] | None:
    if e is None or e.error_type is None:
        return None
    return {
        "id": None,
        "name": e.error_type,
        "title": e.error_type,
        "description": e.error_message,
        "category": "SYSTEM" if e.status is ExecutionStatus.LOST else "ALGORITHM",
    }


def exe_details(job: Job, t: JobType | None, rev_id: int | None, n: int) -> dict[str, Any]:
    """JobExecutionDetailsSerializer of the job's n-th attempt."""
    e = job.executions[n - 1] if n <= len(job.executions) else None
    d = t.definition if t is not None else None
    base = exe_base(job, t, n, e)
    completed = e is not None and e.status is ExecutionStatus.COMPLETED
    return {
        **base,
        "job": job_list_item(job, t, rev_id),
        "error": _exe_error(e),
        "environment": {},
        "cpus_scheduled": d.cpus if d else 0.0,
        "mem_scheduled": d.mem if d else 0.0,
        "disk_in_scheduled": 0.0,
        "disk_out_scheduled": d.disk if d else 0.0,
        "disk_total_scheduled": d.disk if d else 0.0,
        "results": results_of(job) if completed and n == len(job.executions) else None,
        "current_stdout_url": None,
        "current_stderr_url": None,
        "results_manifest": {},
    }
