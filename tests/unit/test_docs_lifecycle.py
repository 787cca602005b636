"""The lifecycle diagram in the docs is the transition table, edge for edge."""

import re
from pathlib import Path

from jobyard.core.states import TRANSITIONS

DOC = Path(__file__).parents[2] / "docs" / "concepts" / "lifecycle.md"


def test_diagram_matches_transition_table() -> None:
    edges = set(re.findall(r"^\s+(\w+) --> (\w+) : (\w+)\s*$", DOC.read_text(), re.MULTILINE))
    table = {
        (source.value, target.value, event.value)
        for event, (sources, target) in TRANSITIONS.items()
        for source in sources
    }
    assert edges == table
