"""The review per evidence grade: which verdicts hold on documented or measured behaviour
alone and which need a weaker hypothesis, on planted cells; and engine cells carry their
grade and are searched where the explorer has no abstraction of the engine."""

from vadlock.analysis.causes import server_grade
from vadlock.analysis.report import (by_grade, freeze_grades, grade_line, render_report)
from vadlock.analysis.review import (REVIEW_ENGINES, REVIEW_HYPOTHESES, Cell, explorable,
                                     run_cell)
from vadlock.model.designs import get_design
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.properties import explore as explorer

SETS = ["zero-skip,clear-keeps-vad", "energy", "silero", "noise-as-speech", "zero-skip"]
GRADES = {h: server_grade(h) for h in SETS}
CLASSES = ["acoustic", "capture", "network", "server"]


def _verdicts(freezes):
    return {(h, f): "freeze" if (h, f) in freezes else "no-freeze"
            for h in SETS for f in CLASSES}


def test_a_set_is_graded_by_its_weakest_member():
    assert GRADES == {"zero-skip,clear-keeps-vad": "speculative", "energy": "documented",
                      "silero": "measured", "noise-as-speech": "reported",
                      "zero-skip": "analogy"}
    assert by_grade(SETS, GRADES) == ["energy", "silero", "noise-as-speech", "zero-skip",
                                      "zero-skip,clear-keeps-vad"]


def test_a_freeze_only_under_a_speculative_set_needs_a_speculative_hypothesis():
    rests = freeze_grades(_verdicts({("zero-skip,clear-keeps-vad", "acoustic")}), SETS,
                          CLASSES, GRADES)
    assert rests == {"acoustic": ("speculative", ["zero-skip,clear-keeps-vad"])}
    line = grade_line("d", rests, SETS, GRADES)
    assert line == ("`d`: **holds on documented/measured behaviour alone** (no freeze under "
                    "`energy`, `silero`); its acoustic freeze needs a speculative hypothesis "
                    "(under `zero-skip,clear-keeps-vad` (speculative)).")


def test_a_freeze_under_energy_holds_on_documented_behaviour_whatever_else_freezes():
    planted = {("energy", "capture"), ("zero-skip,clear-keeps-vad", "capture"),
               ("silero", "server"), ("noise-as-speech", "server"),
               ("zero-skip", "network"), ("zero-skip,clear-keeps-vad", "network")}
    rests = freeze_grades(_verdicts(planted), SETS, CLASSES, GRADES)
    assert rests == {"capture": ("documented", ["energy", "zero-skip,clear-keeps-vad"]),
                     "server": ("measured", ["silero", "noise-as-speech"]),
                     "network": ("analogy", ["zero-skip", "zero-skip,clear-keeps-vad"])}
    line = grade_line("d", rests, SETS, GRADES)
    assert "holds on documented/measured behaviour alone" not in line
    assert line.startswith("`d`: its capture freeze holds on documented behaviour alone "
                           "(under `energy` (documented), `zero-skip,clear-keeps-vad` "
                           "(speculative)); its server freeze holds on measured behaviour "
                           "alone (under `silero` (measured), `noise-as-speech` (reported))")
    assert line.endswith("; its network freeze needs an analogy hypothesis (under `zero-skip` "
                         "(analogy), `zero-skip,clear-keeps-vad` (speculative)).")


def test_no_freeze_and_no_firm_set_are_said_as_such():
    assert grade_line("d", {}, SETS, GRADES) == ("`d`: freeze-free under every hypothesis "
                                                 "set reviewed.")
    weak = ["zero-skip"]
    rests = freeze_grades({("zero-skip", "capture"): "freeze"}, weak, CLASSES, GRADES)
    assert grade_line("d", rests, weak, GRADES).startswith(
        "`d`: no documented or measured hypothesis set was reviewed; its capture freeze")


def test_the_report_orders_columns_by_grade_and_says_how_recommended_does_per_grade():
    planted = {("production", "energy", "capture"),
               ("production", "zero-skip,clear-keeps-vad", "acoustic"),
               ("recommended", "zero-skip,clear-keeps-vad", "acoustic"),
               ("recommended", "noise-as-speech", "server")}
    cells = [Cell(d, h, f, verdict="freeze" if (d, h, f) in planted else "no-freeze",
                  method="search", searched=2, grade=GRADES[h],
                  states=100 if h != "silero" and f != "server" else None,
                  counterexample=f"counterexamples/{d}__{h}__{f}.json"
                  if (d, h, f) in planted else None)
             for d in ("production", "recommended") for h in SETS for f in CLASSES]
    results = {"seed": 0, "search_examples": 2, "designs": ["production", "recommended"],
               "hypotheses": SETS, "grades": GRADES, "fault_classes": CLASSES,
               "variants": [], "cells": [], "variant_cells": [], "outcomes": [],
               "diagnosis": None, "calibration": []}
    report = render_report(results, cells, [], [], None)
    lines = report.splitlines()
    assert ("| design | `energy` (documented) | `silero` (measured) | `noise-as-speech` "
            "(reported) | `zero-skip` (analogy) | `zero-skip,clear-keeps-vad` (speculative) |"
            in lines)
    assert ("- **Fix:** `recommended` freezes in 2 of 20 cells (evidence: 1200 states explored, "
            "40 scenarios searched, bounded); per grade: documented 0 of 4, measured 0 of 4, "
            "reported 1 of 4 (server), analogy 0 of 4, speculative 1 of 4 (acoustic).") in lines
    assert ("  - `production`: its capture freeze holds on documented behaviour alone "
            "(under `energy` (documented)); its acoustic freeze needs a speculative hypothesis "
            "(under `zero-skip,clear-keeps-vad` (speculative)).") in lines
    assert ("  - `recommended`: **holds on documented/measured behaviour alone** (no freeze "
            "under `energy`, `silero`); its server freeze needs a reported hypothesis "
            "(under `noise-as-speech` (reported)); its acoustic freeze needs a speculative "
            "hypothesis (under `zero-skip,clear-keeps-vad` (speculative)).") in lines
    assert "## Verdicts per evidence grade" in lines
    assert ("| `recommended` | ok (0 of 4) | ok (0 of 4) | **F** 1 of 4: server | ok (0 of 4) "
            "| **F** 1 of 4: acoustic |") in lines
    # no cell was explored under silero: the method says those cells are search alone
    assert any(line.startswith("- The explorer has no abstraction of these sets")
               and "a budget of 2 scenarios per cell (an engine's) or 2 (any other)" in line
               and line.endswith(": `silero` (production, recommended).") for line in lines)
    assert "(search budget 2 scenarios per cell, seed 0)" in report
    # a smaller budget for the engines' cells is said, never silent
    lean = render_report({**results, "engine_search_examples": 1}, cells, [], [], None)
    assert "(search budget 2 scenarios per cell, 1 per cell of a detector engine, " in lean
    assert "a budget of 1 scenarios per cell (an engine's) or 2 (any other)" in lean


def test_the_review_runs_the_engines_and_grades_every_cell(tmp_path):
    assert set(REVIEW_ENGINES) == {"silero", "webrtc-vad", "ten"}
    assert set(REVIEW_ENGINES) <= set(REVIEW_HYPOTHESES)
    for h in REVIEW_HYPOTHESES:
        assert explorable(h, "production") == explorer.supports(
            ServerVadHypotheses.parse(h), get_design("production"))
    (tmp_path / "counterexamples").mkdir()
    cell = run_cell(("production", "webrtc-vad", "capture", str(tmp_path), 0, 4, False))
    assert cell.grade == "measured"
    if explorable("webrtc-vad", "production"):  # explored from the measured table
        assert cell.states and cell.method == "explore"
    else:  # decided by the real engine in the simulator alone
        assert cell.states is None and cell.method == "search" and cell.searched >= 1
    # a muted microphone freezes the production client whatever the detector
    assert cell.verdict == "freeze" and (tmp_path / cell.counterexample).exists()
