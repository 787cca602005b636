"""docs/cli.md is generated from --help; it must match what the commands print now."""

from __future__ import annotations

from pathlib import Path

from jobyard.cli import reference

PAGE = Path(__file__).parents[2] / "docs" / "cli.md"


def test_cli_reference_is_current() -> None:
    assert PAGE.read_text() == reference.render(), (
        "docs/cli.md is stale: run `python -m jobyard.cli.reference > docs/cli.md`"
    )


def test_every_command_over_http_has_an_example() -> None:
    sections = reference.render().split("\n## ")[2:]
    remote = [s for s in sections if "--url URL" in s]
    assert len(remote) >= 20
    for section in remote:
        assert "example" in section, section.splitlines()[0]
