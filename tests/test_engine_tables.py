"""The explorer's abstraction of a detector engine is measured from the engine
(`vadlock measure`, `properties/engine_table.py`), and its freezes are replayed with the
real engine."""

from __future__ import annotations

import json

import pytest

from vadlock.analysis.measure import measure
from vadlock.model.designs import DESIGNS, get_design
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.properties import engine_table
from vadlock.properties.explore import explore, supports


def _committed(label: str) -> dict:
    return json.loads(engine_table.table_path(engine_table.table_name(label)).read_text())


def test_the_webrtc_vad_table_is_what_the_engine_measures_now():
    """Regenerating the table gives the committed file: it is never typed by hand."""
    assert measure("webrtc-vad", list(DESIGNS.values())) == _committed("webrtc-vad")


def _plant(tmp_path, monkeypatch, label: str, change) -> None:
    """Make `label`'s table a changed copy of the committed one."""
    table = _committed(label)
    for entry in table["entries"]:
        change(entry)
    path = tmp_path / f"{engine_table.table_name(label)}.json"
    path.write_text(json.dumps(table))
    monkeypatch.setattr(engine_table, "table_path", lambda name: tmp_path / f"{name}.json")


def test_an_engine_deaf_to_speech_in_its_table_freezes_the_explorer_not_the_replay(
        tmp_path, monkeypatch):
    """The verdict follows the table (method, not conclusion): the recommended design has
    no freeze under the measured WebRTC VAD; planted deaf to every speech block, the
    explorer finds freeze states, and the replay -- with the real engine, which hears
    speech -- calls them spurious."""
    design, hypotheses = get_design("recommended"), ServerVadHypotheses.parse("webrtc-vad")
    measured = explore(design, hypotheses, confirm=False)
    assert measured.freeze_states == 0

    def deaf_to_speech(entry):
        if entry["block"][0] == "speech":
            entry["p"] = [[0.0] * len(frames) for frames in entry["p"]]

    _plant(tmp_path, monkeypatch, "webrtc-vad", deaf_to_speech)
    planted = explore(design, hypotheses, attempts=1)
    assert planted.engine_table == tmp_path / "webrtc-vad.json"
    assert planted.freeze_states > 0
    assert planted.attempts >= 1 and planted.confirmed is False


def test_a_table_measured_with_other_versions_is_refused_in_one_line(
        tmp_path, monkeypatch, capsys):
    from vadlock.cli import main

    def no_change(entry):
        pass

    _plant(tmp_path, monkeypatch, "webrtc-vad", no_change)
    assert supports(ServerVadHypotheses.parse("webrtc-vad"), get_design("production"))
    path = tmp_path / "webrtc-vad.json"
    table = json.loads(path.read_text())
    table["packages"] = {"webrtcvad-wheels": "0.0.1"}
    path.write_text(json.dumps(table))
    engine_table._load.cache_clear()
    assert not supports(ServerVadHypotheses.parse("webrtc-vad"))
    assert main(["explore", "--server", "webrtc-vad", "--json"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "0.0.1" in err and "vadlock measure --engine webrtc-vad" in err


def test_supports_says_which_cells_the_explorer_can_explore():
    production = get_design("production")
    assert supports(ServerVadHypotheses.parse("silero,zero-skip"), production)
    assert supports(ServerVadHypotheses.parse("energy"), production)
    assert not supports(ServerVadHypotheses.parse("webrtc-vad:3"), production)  # no table
    # the symbolic hypotheses move their edges with the threshold (tests/test_threshold.py)
    assert supports(ServerVadHypotheses.parse("deadband"), get_design("production+threshold0.6"))
    # an engine's table covers the level scale it was measured on
    assert not supports(ServerVadHypotheses.parse("silero"),
                        get_design("production+threshold0.6"))


def test_explore_under_silero_runs_and_its_freeze_is_confirmed_with_silero(tmp_path, capsys):
    from vadlock.cli import main

    code = main(["explore", "--design", "production", "--server", "silero", "--json",
                 "--out", str(tmp_path)])
    out = json.loads(capsys.readouterr().out)
    assert out["engine_table"].endswith("silero.json") and out["replayed_with"] == "silero"
    assert out["freeze_states"] > 0 and out["confirmed"] is True and code == 1
    # the saved counterexample freezes the full simulator with the real engine
    assert main(["simulate", "--design", "production", "--server", "silero", "--scenario",
                 out["counterexample"], "--json"]) == 1
    violations = json.loads(capsys.readouterr().out)["violations"]
    assert "recovery" in violations
