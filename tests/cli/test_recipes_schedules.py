"""`jobyard recipes …` and `jobyard schedules …` as subprocesses against a real server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from support.remote import Cli


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_recipes_define_create_show_cancel_requeue(cli: Cli, tmp_path: Path) -> None:
    name = unique("cli-recipe")
    definition = {
        "name": name,
        "title": "Two steps",
        "definition": {
            "input_data": [{"name": "closed"}],
            "jobs": [
                {"name": "gate", "job_type": {"name": "sample.gate"},
                 "recipe_inputs": [{"recipe_input": "closed", "job_input": "closed"}]},
                {"name": "after", "job_type": {"name": "sample.node"}, "args": {"name": "after"},
                 "dependencies": [{"name": "gate"}]},
            ],
        },
    }  # fmt: skip
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(definition))
    ran = cli("recipes", "define", str(path))
    assert ran.code == 0, ran.err
    assert ran.out.strip() == f"recipe type {name} revision 1"

    types = cli("recipes", "types")
    assert ran.code == 0 and name in types.out and "Two steps" in types.out
    shown = json.loads(cli("recipes", "type", name).out)
    assert shown["revision"] == 1 and [j["name"] for j in shown["definition"]["jobs"]] == [
        "gate", "after",
    ]  # fmt: skip

    # the gate stays shut (its file exists): it fails, and "after" waits
    closed = tmp_path / "closed"
    closed.write_text("")
    made = cli("recipes", "create", name, "-i", f"closed={closed}", "--json")
    assert made.code == 0, made.err
    recipe = json.loads(made.out)
    # the worker may already have claimed the gate by the time the answer is read
    nodes = {n["name"]: n["status"] for n in recipe["nodes"]}
    assert list(nodes) == ["gate", "after"]
    assert nodes["gate"] in ("queued", "running") and nodes["after"] == "blocked"
    table = cli("recipes", "show", str(recipe["id"]))
    assert table.code == 0 and "after" in table.out and "blocked" in table.out
    listed = json.loads(cli("recipes", "list", "--type", name, "--json").out)
    assert [r["id"] for r in listed] == [recipe["id"]]

    canceled = cli("recipes", "cancel", str(recipe["id"]))
    assert canceled.code == 0 and "canceled" in canceled.out
    closed.unlink()
    requeued = json.loads(cli("recipes", "requeue", str(recipe["id"]), "--json").out)
    assert requeued["status"] == "running"

    missing = cli("recipes", "create", name)
    assert missing.code == 2 and "closed" in missing.err
    bad = tmp_path / "bad.json"
    looped = {"name": "a", "job_type": {"name": "sample.node"}, "dependencies": [{"name": "a"}]}
    bad.write_text(json.dumps({"name": unique("bad"), "definition": {"jobs": [looped]}}))
    refused = cli("recipes", "define", str(bad))
    assert refused.code == 2 and "cycle: a -> a" in refused.err
    assert cli("recipes", "show", "999999").code == 1


def test_schedules_add_show_edit_disable_remove(cli: Cli) -> None:
    name = unique("cli-schedule")
    added = cli(
        "schedules", "add", name, "--cron", "30 2 * * *", "--timezone", "Europe/Berlin",
        "--type", "sample.add", "--args", '{"a": 1, "b": 2}', "--catch-up", "once",
    )  # fmt: skip
    assert added.code == 0, added.err
    assert added.out.startswith(f"schedule {name} added; next tick: ")
    listed = cli("schedules", "list")
    assert listed.code == 0 and name in listed.out and "Europe/Berlin" in listed.out
    shown = json.loads(cli("schedules", "show", name, "--json", "--next", "2").out)
    assert shown["schedule"]["spec"]["args"] == {"a": 1, "b": 2}
    assert len(shown["next_runs"]) == 2 and shown["history"] == []

    edited = json.loads(cli("schedules", "edit", name, "--cron", "@hourly", "--json").out)
    assert (edited["spec"]["cron"], edited["revision"]) == ("@hourly", 2)
    disabled = cli("schedules", "disable", name)
    assert disabled.code == 0 and "disabled" in disabled.out
    assert json.loads(cli("schedules", "show", name, "--json").out)["next_runs"] == []
    assert cli("schedules", "enable", name).code == 0

    bad = cli("schedules", "edit", name, "--cron", "every day")
    assert bad.code == 2 and "cron" in bad.err
    assert cli("schedules", "edit", name).code == 2  # nothing to change
    removed = cli("schedules", "remove", name)
    assert removed.code == 0 and removed.out.strip() == f"schedule {name} removed"
    assert cli("schedules", "show", name).code == 1
