"""`jobyard types` create, update, revisions, pause, archive: a subprocess against a server."""

from __future__ import annotations

import json

from support.remote import Cli


def test_types_create_update_revisions_and_archive(cli: Cli) -> None:
    name = "cli.thumbs"
    made = cli(
        "types", "create", name, "--command", "convert ${image} out.png", "--queue", "images",
        "--version", "1.0.0", "--title", "Thumbnails", "--category", "images", "--mem", "256",
        "--input", "image:file", "--input", "scale:number?", "--output", "thumbnail:file", "--json",
    )  # fmt: skip
    assert made.code == 0, made.err
    body = json.loads(made.out)
    assert (body["definition"]["version"], body["revision"]) == ("1.0.0", 1)
    inputs = body["definition"]["interface"]["inputs"]
    assert inputs == [
        {"name": "image", "type": "file", "required": True, "description": "", "media_types": []},
        {"name": "scale", "type": "number", "required": False, "description": "",
         "media_types": []},
    ]  # fmt: skip
    updated = cli("types", "update", name, "--priority", "5")
    assert updated.code == 0 and name in updated.out
    revisions = json.loads(cli("types", "revisions", name, "--json").out)
    assert [r["revision"] for r in revisions] == [1, 2]
    refused = cli("enqueue", name, "scale=2")
    assert refused.code == 2 and "args.image" in refused.err
    assert cli("types", "pause", name).out.strip() == f"job type {name} paused"
    assert json.loads(cli("types", "show", name, "--json").out)["paused"] is True
    assert cli("types", "resume", name).out.strip() == f"job type {name} resumed"
    assert cli("types", "archive", name).out.strip() == f"job type {name} archived"
    listed = cli("types", "--json").out
    assert name not in listed and name in cli("types", "--archived", "--json").out
    assert cli("types", "unarchive", name).code == 0
    bad = cli("types", "create", "cli.bad", "--python", "m:f", "--input", "x:decimal")
    assert bad.code == 2 and "--input" in bad.err
    nothing = cli("types", "update", name)
    assert nothing.code == 2 and "nothing to change" in nothing.err
