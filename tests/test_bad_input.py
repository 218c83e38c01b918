"""Bad input fails with one line and exit code 2, never a traceback; loaders never raise
anything but their own error; and a simulation is byte-for-byte deterministic."""

import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import vadlock.cli as cli
from vadlock.model.designs import get_design
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.simulator import logreplay
from vadlock.simulator.engine import simulate
from vadlock.simulator.logreplay import LogError, parse_lines
from vadlock.simulator.presets import preset
from vadlock.simulator.recording import RecordingError, load_wav
from vadlock.simulator.scenario import (CaptureFault, LatencySpike, Network, Scenario, ScenarioError,
                                Segment, Typing, Utterance)


def run_cli(argv, monkeypatch=None) -> int:
    """The real CLI, `vadlock.cli.main`: a command it lacks fails the test."""
    try:
        return cli.main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        return exc.code


def valid_scenario() -> dict:
    return preset("field-report", 20_000).to_dict()


def _file(tmp_path, name, content):
    path = tmp_path / name
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return str(path)


def _scenario_file(tmp_path, mutate):
    data = valid_scenario()
    mutate(data)
    return _file(tmp_path, "scenario.json", json.dumps(data))


CASES = {
    "malformed scenario JSON": (
        lambda p: ["simulate", "--scenario", _file(p, "s.json", "{name: 'x',,}")],
        "not valid JSON"),
    "truncated scenario JSON": (
        lambda p: ["simulate", "--scenario",
                   _file(p, "s.json", json.dumps(valid_scenario())[:70])], "not valid JSON"),
    "wrong type in a field": (
        lambda p: ["simulate", "--scenario", _scenario_file(
            p, lambda d: d["utterances"][0].update(duration_ms="two seconds"))],
        "scenario.utterances[0].duration_ms: expected an integer"),
    "room_noise_dbfs out of range": (
        lambda p: ["simulate", "--scenario", _scenario_file(
            p, lambda d: d.update(room_noise_dbfs=5))], "room_noise_dbfs"),
    "unknown design": (lambda p: ["simulate", "--design", "nope", "--duration-s", "5"],
                       "unknown design 'nope'"),
    "unknown hypothesis": (lambda p: ["simulate", "--server", "psychic", "--duration-s", "5"],
                           "unknown server hypothesis 'psychic'"),
    "negative --duration-s": (lambda p: ["simulate", "--duration-s", "-5"], "--duration-s"),
    "--tick-ms 30": (lambda p: ["simulate", "--tick-ms", "30", "--duration-s", "5"],
                     "tick_ms=30"),
    "empty log": (lambda p: ["replay", _file(p, "log.jsonl", "")], "empty log"),
    "blank log": (lambda p: ["replay", _file(p, "log.jsonl", "\n  \n")], "empty log"),
    "binary log": (lambda p: ["replay", _file(p, "log.jsonl", bytes(range(256)) * 4)],
                   "line 1"),
    "non-JSON log line": (
        lambda p: ["replay", _file(p, "log.jsonl", '{"type": "session.created"}\nnot json\n')],
        "line 2: not JSON"),
    "log line without type": (
        lambda p: ["replay", _file(p, "log.jsonl", '{"event_id": "e1"}\n')],
        "line 1: event has no type"),
    "log with unknown event type": (
        lambda p: ["replay", _file(p, "log.jsonl",
                                   '{"type": "session.created"}\n{"type": "session.exploded"}\n')],
        "line 2: unknown event type 'session.exploded'"),
    "missing log": (lambda p: ["replay", str(p / "nowhere.jsonl")], "cannot read"),
    "replay with unknown design": (
        lambda p: ["replay", _file(p, "log.jsonl", '{"type": "session.created"}\n'),
                   "--design", "nope"], "unknown design"),
    "measure a hypothesis, not an engine": (
        lambda p: ["measure", "--engine", "zero-skip", "--out", str(p)],
        "give one detector engine"),
    "explore an engine without a table": (
        lambda p: ["explore", "--server", "webrtc-vad:3"],
        "vadlock measure --engine webrtc-vad:3"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_exits_2_with_one_line(case, tmp_path, monkeypatch, capsys):
    build_argv, expected = CASES[case]
    code = run_cli(build_argv(tmp_path), monkeypatch)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, (case, out, err)
    assert len(lines) == 1 and lines[0].startswith("vadlock"), err
    assert "Traceback" not in err + out
    assert expected in lines[0], lines[0]


@pytest.mark.parametrize("content,expected", [
    (b"", "empty"), (b"just some text, not audio\n", "not a WAV file"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "not a WAV file (no fmt chunk)")])
def test_bad_audio_file(content, expected, tmp_path, monkeypatch, capsys):
    path = _file(tmp_path, "voice.wav", content)
    code = run_cli(["simulate", "--audio", path], monkeypatch)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("vadlock simulate: error:")
    assert expected in err[0] and "Traceback" not in err[0]


# -- loaders raise their own error or succeed, nothing else -------------------------------
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=20)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_JSON)
def test_scenario_from_arbitrary_json(data):
    _from_dict_or_scenario_error(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_scenario_from_mutated_valid_dict(data):
    scenario = valid_scenario()
    for _ in range(data.draw(st.integers(1, 3))):
        target = scenario  # the scenario, or one nested object (an utterance, the network)
        inner = [v for v in scenario.values() if isinstance(v, dict) and v] + \
            [v[0] for v in scenario.values() if isinstance(v, list) and v
             and isinstance(v[0], dict) and v[0]]
        if inner and data.draw(st.booleans()):
            target = data.draw(st.sampled_from(inner))
        key = data.draw(st.sampled_from(sorted(target))) if target else "name"
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "delete":
            target.pop(key, None)
        elif action == "add":
            target[data.draw(st.text(max_size=8))] = data.draw(_JSON)
        else:
            target[key] = data.draw(_JSON)
    _from_dict_or_scenario_error(scenario)


def _from_dict_or_scenario_error(data):
    try:
        result = Scenario.from_dict(data)
    except ScenarioError as exc:
        assert str(exc)  # (a field name holding a newline is echoed as it is)
    else:
        assert isinstance(result, Scenario)


_LINES = st.lists(st.one_of(
    st.binary(max_size=40), st.text(max_size=40),
    _JSON.map(json.dumps),
    st.fixed_dictionaries({"type": st.sampled_from(sorted(logreplay.CLIENT_TYPES
                                                          | logreplay.SERVER_TYPES))
                           | st.text(max_size=10)},
                          optional={"t_ms": _JSON, "timestamp": _JSON, "ts": _JSON,
                                    "direction": _JSON, "event": _JSON}).map(json.dumps),
), max_size=6)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_LINES)
def test_log_parser_over_arbitrary_lines(lines):
    try:
        records = parse_lines(lines, "fuzz.jsonl")
    except LogError as exc:
        assert str(exc).startswith("fuzz.jsonl") and "\n" not in str(exc)
    else:
        assert records and all(isinstance(r.event["type"], str) for r in records)
        assert all(r.t_ms >= 0 for r in records)


# -- determinism ---------------------------------------------------------------------------
@st.composite
def short_scenarios(draw):
    duration = draw(st.integers(10_000, 20_000))
    starts = st.integers(0, duration - 1_000)
    return Scenario(
        name="random", duration_ms=duration,
        utterances=tuple(Utterance(draw(starts), draw(st.integers(400, 3_000)),
                                   draw(st.floats(-40, -10)))
                         for _ in range(draw(st.integers(0, 3)))),
        typing=tuple(Typing(draw(starts), draw(st.integers(500, 3_000)))
                     for _ in range(draw(st.integers(0, 1)))),
        capture_faults=tuple(CaptureFault(draw(starts), draw(st.sampled_from(
            ["muted", "disabled", "suspended", "attenuated"])), draw(st.none()
                                                                | st.integers(500, 5_000)))
            for _ in range(draw(st.integers(0, 1)))),
        segments=tuple(Segment(draw(starts), draw(st.integers(100, 2_000)),
                               draw(st.sampled_from(["speech", "typing", "noise"])),
                               draw(st.floats(-60, -10)))
                       for _ in range(draw(st.integers(0, 2)))),
        room_noise_dbfs=draw(st.floats(-70, -40)),
        network=Network(uplink_jitter_ms=draw(st.integers(0, 30)),
                        downlink_jitter_ms=draw(st.integers(0, 30)), spikes=tuple(
            LatencySpike(draw(starts), draw(st.integers(100, 3_000)), draw(st.integers(0, 2_000)))
            for _ in range(draw(st.integers(0, 1))))))


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(short_scenarios(), st.sampled_from(["production", "development", "recommended",
                                           "webrtc"]),
       st.sampled_from(["energy", "zero-skip", "floor-adapt"]), st.integers(0, 2**16))
def test_same_inputs_give_a_byte_identical_trace(scenario, design, server, seed):
    hypotheses = ServerVadHypotheses.parse(server)
    first = simulate(get_design(design), hypotheses, scenario, seed).jsonl_bytes()
    again = simulate(get_design(design), hypotheses,
                     Scenario.from_dict(json.loads(scenario.to_json())), seed).jsonl_bytes()
    assert first == again and first


def test_a_duration_that_is_not_a_whole_number_of_ticks():
    scenario = Scenario(name="odd", duration_ms=10_001,
                        utterances=(Utterance(4_433, 678, -10.0),), room_noise_dbfs=-40.0,
                        network=Network(uplink_jitter_ms=0, downlink_jitter_ms=0))
    trace = simulate(get_design("production"), ServerVadHypotheses(), scenario, 0)
    assert trace.summary()["heard"] == 1
