"""Figures: state diagrams from the machine tables, and trace timelines."""

import base64
import json
import re

import numpy as np
import pytest

from vadlock.model.designs import get_design
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.model.machine import ProtocolMachine, declared_machines
from vadlock.simulator.audio import to_pcm16
from vadlock.simulator.diagrams import diagrams_markdown, draw_machine, mermaid, write_diagrams
from vadlock.simulator.engine import simulate
from vadlock.simulator.plot import load_jsonl, plot_trace, state_rows
from vadlock.simulator.presets import preset
from vadlock.simulator.trace import C2S, S2C, Trace, WireRecord

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Door(ProtocolMachine):
    """A made-up table using every form a row can take."""

    NAME = "door"
    STATES = ("closed", "open", "locked")
    INITIAL = "closed"
    TRANSITIONS = (
        {"trigger": "push", "source": "closed", "dest": "open", "conditions": "_is_unlatched",
         "after": "_creak"},
        {"trigger": "push", "source": "closed", "dest": "open"},
        {"trigger": "push", "source": "closed", "dest": "open"},  # identical: drawn once
        {"trigger": "lock", "source": ["closed", "open"], "dest": "locked"},
        {"trigger": "knock", "source": "*", "dest": None},
    )


@pytest.fixture(scope="module")
def field_report_trace() -> Trace:
    return simulate(get_design("production"), ServerVadHypotheses.parse("energy"),
                    preset("field-report", 60_000), seed=0)


def _labels(text: str) -> list[str]:
    return [line.split(" : ", 1)[1] for line in text.splitlines() if " : " in line]


# -- diagrams ---------------------------------------------------------------------------
@pytest.mark.parametrize("machine", declared_machines(), ids=lambda cls: cls.NAME)
def test_mermaid_names_every_state_and_trigger(machine):
    text = mermaid(machine)
    assert text.startswith("stateDiagram-v2\n")
    assert f"[*] --> {machine.INITIAL}\n" in text
    words = set(re.findall(r"[A-Za-z_]+", text))
    assert set(machine.STATES) <= words
    assert {row["trigger"] for row in machine.TRANSITIONS} <= words
    for label in _labels(text):
        assert not re.search(r'[:;"{}#]', label), label


def test_mermaid_expands_sources_loops_internal_transitions_and_merges_duplicates():
    lines = mermaid(Door).splitlines()
    assert lines[:2] == ["stateDiagram-v2", "    [*] --> closed"]
    assert lines[2:] == [
        "    closed --> open : push [is unlatched] / creak",
        "    closed --> open : push",
        "    closed --> locked : lock",
        "    open --> locked : lock",
        "    closed --> closed : knock",
        "    open --> open : knock",
        "    locked --> locked : knock",
    ]
    assert mermaid(Door) == mermaid(Door)


def test_diagrams_markdown_is_deterministic_with_one_section_per_machine():
    text = diagrams_markdown()
    assert text == diagrams_markdown()
    assert "vadlock diagrams" in text and "do not edit by hand" in text
    machines = declared_machines()
    assert re.findall(r"^## (\S+)$", text, flags=re.M) == [cls.NAME for cls in machines]
    assert text.count("```mermaid\nstateDiagram-v2\n") == len(machines)


def test_write_diagrams_writes_markdown_and_a_png_per_machine(tmp_path):
    paths = write_diagrams(tmp_path)
    assert paths[0] == tmp_path / "machines.md"
    assert paths[0].read_text() == diagrams_markdown()
    pngs = {p.name for p in paths[1:]}
    assert pngs == {f"{cls.NAME}.png" for cls in declared_machines()}
    for path in paths[1:]:
        data = path.read_bytes()
        assert path.parent == tmp_path / "machines"
        assert data.startswith(PNG_SIGNATURE)
        assert b"Matplotlib version" not in data


def test_draw_machine_is_byte_for_byte_repeatable(tmp_path):
    first = draw_machine(Door, tmp_path / "a.png").read_bytes()
    assert first == draw_machine(Door, tmp_path / "b.png").read_bytes()


# -- timelines --------------------------------------------------------------------------
def test_plot_trace_of_a_simulation(field_report_trace, tmp_path):
    path = plot_trace(field_report_trace, tmp_path / "timeline.png")
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_plot_trace_of_a_jsonl_file(field_report_trace, tmp_path):
    trace = load_jsonl(field_report_trace.write_jsonl(tmp_path / "t.jsonl"))
    assert [(r.t_ms, r.direction, r.event) for r in trace.wire] == \
        [(r.t_ms, r.direction, r.event) for r in field_report_trace.wire]
    assert (trace.design, trace.server, trace.scenario_name) == ("unknown",) * 3
    assert trace.duration_ms == field_report_trace.wire[-1].t_ms
    assert not trace.chunks["t_ms"] and not trace.transitions and not trace.initial_states
    path = plot_trace(trace, tmp_path / "timeline.png", title="from JSONL")
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def _append(t_ms: int, samples: np.ndarray) -> WireRecord:
    audio = base64.b64encode(to_pcm16(samples)).decode()
    return WireRecord(t_ms, C2S, {"type": "input_audio_buffer.append", "audio": audio})


def test_state_rows_from_the_wire_log_alone():
    loud = np.full(2400, 0.1, np.float32)
    trace = Trace("unknown", "unknown", "unknown", 0, 10, 1_000, wire=[
        _append(100, np.zeros(2400, np.float32)),
        _append(200, loud),
        WireRecord(250, S2C, {"type": "input_audio_buffer.speech_started"}),
        _append(300, np.zeros(2400, np.float32)),
        WireRecord(800, S2C, {"type": "input_audio_buffer.speech_stopped"}),
    ])
    rows = dict(state_rows(trace))
    assert rows["gate (from wire)"] == [(0, 100, "zeros"), (100, 200, "audio"),
                                        (200, 1_000, "zeros")]
    assert rows["server VAD (from wire)"] == [(0, 250, "silence"), (250, 800, "speech"),
                                              (800, 1_000, "silence")]
    assert rows["client beliefs (from wire)"] == [(0, 250, "listening"),
                                                  (250, 800, "user_speaking"),
                                                  (800, 1_000, "awaiting_response")]
    assert rows["playback (from wire)"] == [(0, 1_000, "idle")]


GOOD = json.dumps({"t_ms": 0, "direction": C2S, "event": {"type": "session.update"}})


@pytest.mark.parametrize("bad", [
    "{not json",
    "[1, 2]",
    json.dumps({"t_ms": "0", "direction": C2S, "event": {"type": "x"}}),
    json.dumps({"t_ms": 5, "direction": "sideways", "event": {"type": "x"}}),
    json.dumps({"t_ms": 5, "direction": S2C, "event": {"no_type": 1}}),
])
def test_load_jsonl_names_the_bad_line(tmp_path, bad):
    path = tmp_path / "bad.jsonl"
    path.write_text(f"{GOOD}\n\n{bad}\n{GOOD}\n")
    with pytest.raises(ValueError, match=r"line 3\b") as info:
        load_jsonl(path)
    assert "\n" not in str(info.value)
