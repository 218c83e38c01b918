"""Evidence grades: every hypothesis and engine is graded, with sources that exist."""

import json
import re
from pathlib import Path

from vadlock.cli import main
from vadlock.model.evidence import GRADES, entries
from vadlock.model.hypotheses import ENGINES, HYPOTHESES

ROOT = Path(__file__).resolve().parent.parent


def test_the_command_lists_every_hypothesis_and_engine_with_exactly_four_keys(capsys):
    assert main(["hypotheses", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert all(set(entry) == {"name", "grade", "summary", "sources"} for entry in listed)
    names = [entry["name"] for entry in listed]
    assert len(names) == len(set(names))
    assert set(HYPOTHESES) | set(ENGINES) <= set(names)
    assert all(entry["grade"] in GRADES and entry["sources"] for entry in listed)


def test_clear_keeps_vad_is_graded_by_the_evidence_against_it():
    grade = {e.name: e for e in entries()}["clear-keeps-vad"]
    assert grade.grade == "speculative"
    assert any("openai-agents-js/pull/1346" in source for source in grade.sources)


def test_a_measured_entry_names_a_test_that_exists():
    for entry in entries():
        tests = [s for s in entry.sources if s.startswith("tests/")]
        if entry.grade == "measured":
            assert tests or "vadlock calibrate" in entry.sources, entry.name
        for source in tests:
            path, _, name = source.partition("::")
            text = (ROOT / path).read_text()
            assert not name or re.search(rf"^def {re.escape(name)}\(", text, re.M), source


def test_the_text_form_groups_entries(capsys):
    assert main(["hypotheses"]) == 0
    out = capsys.readouterr().out
    assert "hypotheses:" in out and "detector engines:" in out and "speculative" in out
