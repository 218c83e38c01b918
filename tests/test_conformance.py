"""Conformance: the model's client, driven by a journal, against what the client sent.

A simulated session's own journal must conform (the method finds no divergence where there
is none); a planted difference — an append whose audio the gate should have zeroed, a
missing truncate — must be found, at the right place.
"""

from __future__ import annotations

import base64

import numpy as np

from vadlock.model.designs import get_design
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.simulator.conformance import append_rms, check, journal_from_trace
from vadlock.simulator.engine import simulate
from vadlock.simulator.presets import preset
from vadlock.simulator.trace import C2S


def _journal(design_name: str, preset_name: str = "conversation", duration_s: float = 40):
    design = get_design(design_name)
    trace = simulate(design, ServerVadHypotheses.parse("energy"),
                     preset(preset_name, int(duration_s * 1000)), seed=0)
    return design, journal_from_trace(trace, design.chunk_ms)


def test_a_simulated_session_conforms_to_its_own_model():
    for name in ("production", "development", "recommended"):
        design, journal = _journal(name)
        result = check(design, journal)
        assert result.appends > 100 and result.other_events >= 1
        assert result.conforms, (name, [str(d) for d in result.divergences][:5])


def test_an_append_the_gate_should_have_zeroed_is_a_divergence():
    design, journal = _journal("production")
    appends = [r for r in journal if r.get("direction") == C2S
               and r["event"]["type"] == "input_audio_buffer.append"]
    zeroed = next(i for i, r in enumerate(appends) if append_rms(r["event"]["audio"]) == 0)
    loud = np.full(design.chunk_ms * 24, 0.2, dtype="<f4")
    appends[zeroed]["event"]["audio"] = base64.b64encode(
        (loud * 32767).astype("<i2").tobytes()).decode()
    result = check(design, journal)
    assert [(d.index, d.what, d.model, d.client) for d in result.divergences] == [
        (zeroed, "append", "zeros (exact zeros)", "audio at -14.0 dBFS")]


def test_a_missing_client_event_is_a_divergence():
    design, journal = _journal("production", "typing-during-reply", 40)
    sent = [r for r in journal if r.get("direction") == C2S
            and r["event"]["type"] != "input_audio_buffer.append"]
    assert sent, "the scenario makes the client send more than audio"
    journal.remove(sent[-1])
    result = check(design, journal)
    assert not result.conforms
    assert any(d.what == "event count" for d in result.divergences)


def test_conform_command(tmp_path, capsys):
    import json as _json

    from vadlock import cli

    design, journal = _journal("recommended")
    path = tmp_path / "journal.jsonl"
    path.write_text("".join(_json.dumps(r) + "\n" for r in journal))
    assert cli.main(["conform", str(path), "--design", "recommended", "--json"]) == 0
    assert _json.loads(capsys.readouterr().out)["conforms"] is True
    # the same journal against another design's client diverges: exit 1
    assert cli.main(["conform", str(path), "--design", "production"]) == 1
    assert "divergence" in capsys.readouterr().out
    path.write_text("not json\n")
    assert cli.main(["conform", str(path), "--design", "production"]) == 2
    assert "journal.jsonl:1: not JSON" in capsys.readouterr().err


def test_a_session_that_reconnects_conforms_to_its_own_model():
    from dataclasses import replace

    from vadlock.simulator.scenario import ServerFault

    design = get_design("recommended")
    scenario = replace(preset("conversation", 60_000), server_faults=(ServerFault("stall", 1),))
    trace = simulate(design, ServerVadHypotheses.parse("energy"), scenario, seed=0)
    assert trace.reconnects == 1
    result = check(design, journal_from_trace(trace, design.chunk_ms))
    assert result.reconnects == 1
    assert result.conforms, [str(d) for d in result.divergences][:5]
