"""`jobyard …` as a subprocess against a real server: output, --json, exit codes, auth."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobyard.client import Client
from jobyard.core.states import JobStatus
from support.remote import ADMIN_TOKEN, Cli, Server, wait_until
from support.servers import ADMIN_PASSWORD, free_port


@pytest.fixture
def client(server: Server) -> Iterator[Client]:
    with Client(server.url, token=ADMIN_TOKEN) as client:
        yield client


def enqueue(cli: Cli, *args: str) -> int:
    ran = cli("enqueue", *args)
    assert ran.code == 0, ran.err
    return int(ran.out)


def test_enqueue_jobs_and_show(cli: Cli, client: Client) -> None:
    job_id = enqueue(cli, "sample.add", "a=2", "b=3", "--tag", "cli-show")
    client.wait(job_id, timeout=30)

    listed = json.loads(cli("jobs", "--json", "--tag", "cli-show", "--per-page", "5").out)
    assert listed["count"] >= 1 and listed["results"][0]["id"] == job_id
    assert listed["results"][0]["args"] == {"a": 2, "b": 3}  # values that read as JSON are JSON
    table = cli("jobs", "--tag", "cli-show", "--status", "completed")
    assert table.code == 0 and f"{job_id} " in table.out and "sample.add" in table.out
    assert "of 1 jobs" in table.out or "jobs (page 1" in table.out

    shown = cli("show", str(job_id))
    assert shown.code == 0
    assert "sample.add" in shown.out and "completed" in shown.out and "executions" in shown.out
    detail = json.loads(cli("show", str(job_id), "--json").out)
    assert detail["result"] == 5 and detail["executions"][0]["status"] == "completed"


def test_enqueue_follow_shows_progress_log_and_the_end(cli: Cli) -> None:
    ran = cli("enqueue", "sample.chatty", "--follow")
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    job_id = int(lines[0].removeprefix("enqueued job "))
    assert "progress  50% half" in lines and "state running" in lines
    texts = [line.split(" ", 1)[1] for line in lines if line[:2].isdigit() and line[2] == ":"]
    assert texts == ["out 1", "log 2", "err 3", "log 4", "out 5"]
    assert lines[-1].startswith(f"job {job_id} completed in ")


def test_follow_draws_a_progress_bar_on_a_terminal(cli: Cli) -> None:
    ran = cli("enqueue", "sample.chatty", "--follow",
              env={"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"})  # fmt: skip
    assert ran.code == 0, ran.err
    assert "━" in ran.out and "half" in ran.out and "out 5" in ran.out
    assert ran.out.rstrip().splitlines()[-1].split(" ", 3)[2] == "completed"


def test_follow_a_failing_job_exits_1(cli: Cli) -> None:
    job_id = enqueue(cli, "sample.fail")
    ran = cli("follow", str(job_id))
    assert ran.code == 1
    last = ran.out.splitlines()[-1]
    assert last == f"job {job_id} failed after 2 tries: ValueError: attempt 2 broke"
    events = [json.loads(line) for line in cli("follow", str(job_id), "--json").out.splitlines()]
    assert events[0]["job"]["id"] == job_id and events[-1]["kind"] == "close"


def test_kill_a_running_job(cli: Cli, client: Client) -> None:
    job_id = enqueue(cli, "sample.sleep", "seconds=60")
    wait_until(lambda: client.job(job_id).status is JobStatus.RUNNING, what="the job to run")
    killed = cli("kill", str(job_id))
    assert (
        killed.code == 0
        and killed.out.strip() == f"job {job_id}: kill requested; the worker stops it"
    )
    followed = cli("follow", str(job_id))
    assert followed.code == 1 and "kill requested by admin" in followed.out.splitlines()
    assert followed.out.splitlines()[-1] == f"job {job_id} canceled by admin"
    again = cli("kill", str(job_id))
    assert again.code == 1 and again.err == f"error: job {job_id} is canceled: cannot kill it\n"


def test_log_pages_and_follows(cli: Cli, client: Client) -> None:
    job_id = enqueue(cli, "sample.chatty")
    client.wait(job_id, timeout=30)
    for args in ((), ("-f",)):
        ran = cli("log", str(job_id), *args)
        assert ran.code == 0
        assert [line.split(" ", 1)[1] for line in ran.out.splitlines()] == [
            "out 1", "log 2", "err 3", "log 4", "out 5",
        ]  # fmt: skip
    events = [json.loads(line) for line in cli("log", str(job_id), "--json").out.splitlines()]
    assert [e["data"]["stream"] for e in events] == ["stdout", "log", "stderr", "log", "stdout"]


def test_cancel_remove_restart_requeue(cli: Cli, client: Client) -> None:
    waiting = enqueue(cli, "sample.add", "--args", '{"a": 1, "b": 1}', "--delay", "3600")
    assert cli("cancel", str(waiting)).out.strip() == f"job {waiting} canceled"
    assert cli("remove", str(waiting)).out.strip() == f"job {waiting} removed (canceled)"
    restarted = cli("restart", str(waiting), "--json")
    new = json.loads(restarted.out)
    assert new["restart_of"] == waiting
    client.wait(new["id"], timeout=30)

    failed = enqueue(cli, "sample.fail", "--tag", "cli-requeue")
    client.wait(failed, timeout=30)
    ran = cli("requeue", str(failed), "--priority", "3")
    assert ran.code == 0 and ran.out.strip() == f"requeued 1 job: {failed}"
    client.wait(failed, timeout=30)
    by_filter = cli("requeue", "--tag", "cli-requeue", "--json")  # failed ones, by default
    assert json.loads(by_filter.out) == {"ids": [failed]}
    nothing = cli("requeue")
    assert nothing.code == 2 and nothing.err.startswith("error: give job ids")


def test_types_and_queues(cli: Cli) -> None:
    types = json.loads(cli("types", "--json").out)
    assert "sample.add" in {t["definition"]["name"] for t in types}
    assert "sample.chatty" in cli("types", "--search", "chatty").out

    paused = cli("queues", "pause", "cli-queue")
    assert paused.code == 0 and paused.out.strip() == "queue cli-queue paused"
    queues = {q["name"]: q for q in json.loads(cli("queues", "--json").out)}
    assert queues["cli-queue"]["paused"] is True
    assert "paused" in cli("queues").out
    assert cli("queues", "resume", "cli-queue").out.strip() == "queue cli-queue resumed"
    missing = cli("queues", "pause")
    assert missing.code == 2 and "which queue?" in missing.err


def test_users_and_tokens_lifecycle(cli: Cli) -> None:
    added = cli("users", "add", "cli-viewer", "--role", "viewer", "--password-stdin",
                input="viewer-password\n")  # fmt: skip
    assert added.code == 0 and added.out.strip() == "added cli-viewer (viewer)"
    users = {u["name"]: u["role"] for u in json.loads(cli("users", "list", "--json").out)}
    assert users["cli-viewer"] == "viewer" and users["admin"] == "admin"

    token = cli("tokens", "create", "cli-laptop", "--for", "cli-viewer").out.strip()
    assert token.startswith("jy_")
    job_id = enqueue(cli, "sample.add", "a=1", "b=1", "--delay", "3600")
    as_viewer = {"JOBYARD_TOKEN": token}

    assert cli("show", str(job_id), env=as_viewer).code == 0
    refused = cli("kill", str(job_id), env=as_viewer)
    assert refused.code == 1
    assert refused.err == "error: cli-viewer is viewer; this needs operator\n"
    assert "Traceback" not in refused.err
    assert cli("users", "list", env=as_viewer).code == 1

    by_password = {"JOBYARD_TOKEN": "", "JOBYARD_USER": "cli-viewer",
                   "JOBYARD_PASSWORD": "viewer-password"}  # fmt: skip
    assert cli("jobs", "--per-page", "1", env=by_password).code == 0
    wrong = cli("jobs", env={**by_password, "JOBYARD_PASSWORD": "not-the-password"})
    assert wrong.code == 1 and wrong.err.startswith("error: authentication required")

    assert cli("users", "set-role", "cli-viewer", "operator").out.strip() == (
        "cli-viewer is operator"
    )
    assert cli("cancel", str(job_id), env=as_viewer).code == 0  # the token has the new role

    tokens = json.loads(cli("tokens", "list", "--for", "cli-viewer", "--json").out)
    assert [t["name"] for t in tokens] == ["cli-laptop"]
    assert cli("tokens", "revoke", str(tokens[0]["id"])).code == 0
    revoked = cli("jobs", env=as_viewer)
    assert revoked.code == 1 and revoked.err.startswith("error: authentication required")
    assert cli("tokens", "list", "--for", "cli-viewer", "--json").out.strip() == "[]"

    assert cli("users", "remove", "cli-viewer").out.strip() == "removed cli-viewer"
    assert "cli-viewer" not in cli("users", "list").out
    last = cli("users", "remove", "admin")
    assert last.code == 2 and "last admin" in last.err
    short = cli("users", "add", "x-user", "--password-stdin", input="short\n")
    assert short.code == 2 and "8 characters" in short.err


def test_errors_exit_2_for_bad_input_1_for_refusals_never_a_traceback(cli: Cli) -> None:
    cases = [
        (("enqueue", "sample.add", "--args", "[1"), 2, "error: --args is not JSON"),
        (("enqueue", "sample.add", "a"), 2, "error: 'a' is not KEY=VALUE"),
        (("enqueue", "sample.add", "--max-tries", "0"), 2, "error: max_tries must be"),
        (("enqueue", "sample.add", "--priority", "high"), 2, "usage: jobyard enqueue"),
        (("enqueue", "no.such.type"), 1, "error: unknown job type 'no.such.type'"),
        (("show", "999999999"), 1, "error: no job 999999999"),
        (("jobs", "--status", "sleeping"), 2, "error: unknown status 'sleeping'"),
        (("jobs", "--url", f"http://127.0.0.1:{free_port()}"), 1, "error: cannot reach jobyard"),
    ]
    for args, code, start in cases:
        ran = cli(*args)
        assert (ran.code, ran.out) == (code, ""), (args, ran)
        assert start in ran.err and "Traceback" not in ran.err, (args, ran.err)


def test_connection_from_a_config_file(cli: Cli, server: Server, tmp_path: Path) -> None:
    config = tmp_path / ".config" / "jobyard" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'url = "{server.url}"\ntoken = "{ADMIN_TOKEN}"\n')
    unset = {"JOBYARD_URL": "", "JOBYARD_TOKEN": ""}
    assert cli("queues", "--json", env=unset).code == 0  # ~/.config/jobyard/config.toml

    other = tmp_path / "other.toml"
    other.write_text(f'url = "{server.url}"\nuser = "admin"\npassword = "{ADMIN_PASSWORD}"\n')
    assert cli("queues", "--config", str(other), env=unset).code == 0
    bad = tmp_path / "bad.toml"
    bad.write_text('url = "x"\ncolour = "blue"\n')
    ran = cli("queues", "--config", str(bad), env=unset)
    assert ran.code == 2 and "unknown key 'colour'" in ran.err
    nowhere = cli("queues", "--config", str(tmp_path / "none.toml"), env=unset)
    assert nowhere.code == 2 and "no config file" in nowhere.err
