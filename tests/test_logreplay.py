"""Replaying session logs: vadlock's own traces, edited traces, bare GA events, and the
field report's freeze as a log."""

import base64
import functools
import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import vadlock.cli as cli
from vadlock.model.designs import get_design
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.simulator import logreplay
from vadlock.simulator.engine import simulate
from vadlock.simulator.logreplay import (CLIENT_TYPES, SERVER_TYPES, SIGNATURES, LogError,
                                 audio_class, parse_lines, read_log, replay)
from vadlock.simulator.presets import preset
from vadlock.simulator.trace import C2S, S2C

REQUIRED_KEYS = {"events", "invalid", "divergences", "longest_silence_ms", "silence_start_ms",
                 "silence_end_ms", "client_audio_during_silence", "signature", "verdict"}


def _b64(samples) -> str:
    return base64.b64encode(np.asarray(samples, "<i2").tobytes()).decode()


def run_cli(argv, monkeypatch=None) -> int:
    """The real CLI, `vadlock.cli.main`: a command it lacks fails the test."""
    try:
        return cli.main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        return exc.code


@functools.lru_cache(maxsize=None)
def trace_lines(design: str, preset_name: str, duration_ms: int, server: str = "energy"):
    trace = simulate(get_design(design), ServerVadHypotheses.parse(server),
                     preset(preset_name, duration_ms), seed=0)
    return tuple(trace.jsonl_bytes().decode().splitlines())


def write(tmp_path, lines, name="log.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def report_of(lines, design="production", server="energy"):
    return replay(parse_lines(list(lines)), design, server).to_dict()


def line_of(lines, event_type, nth=0):
    """1-based line number of the nth event of this type."""
    hits = [i + 1 for i, text in enumerate(lines) if json.loads(text)["event"]["type"]
            == event_type]
    return hits[nth]


# -- vadlock's own traces -----------------------------------------------------------------
@pytest.mark.parametrize("design,preset_name,server", [
    ("production", "conversation", "energy"),
    ("development", "typing-during-reply", "energy"),
    ("production", "conversation", "zero-skip"),  # the watchdog clears: clear/cleared
    ("webrtc", "conversation", "energy"),  # no appends, output_audio_buffer.*
])
def test_own_trace_replays_with_no_divergence(tmp_path, design, preset_name, server):
    lines = trace_lines(design, preset_name, 40_000, server)
    records = read_log(write(tmp_path, lines))
    assert [r.direction for r in records] == [json.loads(t)["direction"] for t in lines]
    report = replay(records, design, server).to_dict()
    assert REQUIRED_KEYS <= set(report)
    assert report["events"] == len(lines)
    assert report["invalid"] == [] and report["divergences"] == []
    assert report["validation"] == "openai SDK types"


def test_dropped_speech_started_is_reported_at_the_speech_stopped(tmp_path):
    lines = list(trace_lines("production", "conversation", 40_000))
    dropped = line_of(lines, "input_audio_buffer.speech_started", 1)
    stopped = line_of(lines, "input_audio_buffer.speech_stopped", 1)
    del lines[dropped - 1]
    report = replay(read_log(write(tmp_path, lines))).to_dict()
    assert [(d["line"], d["event"]) for d in report["divergences"]] == [
        (stopped - 1, "input_audio_buffer.speech_stopped")]
    assert "no speech_started" in report["divergences"][0]["explanation"]


def test_response_created_moved_after_its_done_is_reported_at_the_done(tmp_path):
    lines = list(trace_lines("production", "conversation", 40_000))
    created = line_of(lines, "response.created", 1)
    done = line_of(lines, "response.done", 1)
    lines[created - 1], lines[done - 1] = lines[done - 1], lines[created - 1]
    report = replay(read_log(write(tmp_path, lines))).to_dict()
    first = report["divergences"][0]
    assert (first["line"], first["event"]) == (created, "response.done")
    assert "no active response" in first["explanation"]
    # the response's own events in between now fall outside any response ...
    assert all(d["event"].startswith("response.") for d in report["divergences"])
    # ... and the created, now last, stays active into the next turn's response.created
    second = line_of(lines, "response.created", 2)
    assert any(d["line"] == second and "second response.created" in d["explanation"]
               for d in report["divergences"])


def test_cleared_without_clear(tmp_path):
    lines = list(trace_lines("production", "conversation", 40_000, "zero-skip"))
    clear = line_of(lines, "input_audio_buffer.clear")
    cleared = line_of(lines, "input_audio_buffer.cleared")
    del lines[clear - 1]
    report = replay(read_log(write(tmp_path, lines)), server="zero-skip").to_dict()
    assert [(d["line"], d["event"]) for d in report["divergences"]] == [
        (cleared - 1, "input_audio_buffer.cleared")]


def test_committed_with_nothing_appended():
    lines = list(trace_lines("production", "conversation", 40_000))
    committed = line_of(lines, "input_audio_buffer.committed", 1)
    previous = line_of(lines, "input_audio_buffer.committed", 0)
    kept = [text for number, text in enumerate(lines, start=1)
            if not (previous < number < committed
                    and json.loads(text)["event"]["type"] == "input_audio_buffer.append")]
    removed = len(lines) - len(kept)
    report = report_of(kept)
    assert [(d["line"], d["event"]) for d in report["divergences"]] == [
        (committed - removed, "input_audio_buffer.committed")]


def test_clear_keeps_vad_hypothesis_changes_what_is_possible():
    """After cleared, the base model's VAD is reset: a speech_stopped then diverges;
    under clear-keeps-vad it does not."""
    events = [{"type": "session.created"}, {"type": "input_audio_buffer.speech_started"},
              {"type": "input_audio_buffer.clear"}, {"type": "input_audio_buffer.cleared"},
              {"type": "input_audio_buffer.speech_stopped"}]
    lines = [json.dumps(e) for e in events]
    assert [d["line"] for d in report_of(lines)["divergences"]] == [5]
    assert report_of(lines, server="clear-keeps-vad")["divergences"] == []


# -- the field report's freeze as a log ---------------------------------------------------
def test_field_report_production_log_is_zeros_after_response(tmp_path, monkeypatch, capsys):
    lines = trace_lines("production", "field-report", 120_000)
    path = write(tmp_path, lines)
    assert run_cli(["replay", str(path), "--json"], monkeypatch) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["divergences"] == [] and report["invalid"] == []
    assert report["signature"] == "zeros-after-response" and report["verdict"] == "freeze"
    # the last server event is the fifth response.done; the app switch follows, and the
    # production gate turns the attenuated capture into exact zeros until the end
    assert report["silence_after"] == "response.done"
    assert report["silence_end_ms"] == 120_000 and report["longest_silence_ms"] > 60_000
    audio = report["client_audio_during_silence"]
    total = sum(audio.values())
    assert audio["exact_zeros"] >= 0.99 * total
    assert audio["near_silence"] == audio["quiet"] == 0
    assert audio["speech"] <= 2  # a key click loud enough to pass the gate, before the switch
    assert report["model_server_during_silence"] == {}  # energy: zeros are silence
    # text mode says the same
    assert run_cli(["replay", str(path)], monkeypatch) == 1
    out = capsys.readouterr().out
    assert "FREEZE: zeros-after-response" in out and "exact zeros" in out


def test_field_report_development_log_is_near_silent_capture():
    report = report_of(trace_lines("development", "field-report", 120_000), "development")
    assert report["divergences"] == []
    assert report["signature"] == "near-silent-capture"
    audio = report["client_audio_during_silence"]
    # no gate: the attenuated capture arrives as it is: room noise 40 dB down is
    # near-silence (int16 peaks of a few units); the user's loud speech 40 dB down is
    # "other quiet" audio (peaks of a few hundred); nothing is exact zero
    assert audio["exact_zeros"] == 0
    assert audio["near_silence"] > audio["quiet"] > 0
    low, high = report["near_silent_peak_int16"]
    assert 0 < low <= high < 100


def test_stuck_in_speech_signature():
    """zero-skip: the production gate's zeros never end the turn; the watchdog clears
    after 30 s."""
    report = report_of(trace_lines("production", "conversation", 40_000, "zero-skip"),
                       server="zero-skip")
    assert "stuck-in-speech" in report["signatures"]
    assert report["longest_speech_ms"] >= 30_000


def test_no_audio_signature():
    appends = [{"t_ms": 100 * i, "event": {"type": "input_audio_buffer.append",
                                           "audio": _b64(np.full(2400, 500))}}
               for i in range(1, 20)]
    events = ([{"t_ms": 0, "event": {"type": "session.created"}}] + appends
              + [{"t_ms": 2_000, "event": {"type": "rate_limits.updated"}},
                 {"t_ms": 14_000, "event": {"type": "response.cancel"}}])
    report = report_of(json.dumps(e) for e in events)
    assert report["signature"] == "no-audio"
    assert report["longest_silence_ms"] == 12_000
    assert report["client_sending"] == "nothing"


def test_a_normal_conversation_has_no_signature(tmp_path, monkeypatch, capsys):
    path = write(tmp_path, trace_lines("production", "conversation", 40_000))
    assert run_cli(["replay", str(path)], monkeypatch) == 0
    assert "verdict: ok" in capsys.readouterr().out


def test_signatures_are_data():
    assert [s.name for s in SIGNATURES] == ["zeros-after-response", "near-silent-capture",
                                           "stuck-in-speech", "no-audio"]
    assert all(s.description and s.min_ms >= 10_000 for s in SIGNATURES)


# -- bare GA events ------------------------------------------------------------------------
def bare(lines, with_time=None):
    out = []
    for text in lines:
        record = json.loads(text)
        event = dict(record["event"])
        if with_time:
            event[with_time] = record["t_ms"]
        out.append(json.dumps(event))
    return out


def test_bare_events_direction_from_the_type_time_from_the_audio():
    lines = trace_lines("production", "conversation", 40_000)
    records = parse_lines(bare(lines))
    assert [r.direction for r in records] == [json.loads(t)["direction"] for t in lines]
    assert records.clock == "audio"
    appends = [r for r in records if r.type == "input_audio_buffer.append"]
    assert [r.t_ms for r in appends[:3]] == [100, 200, 300]  # 100 ms chunks of pcm16
    timed = [json.loads(t)["t_ms"] for t in lines]
    # the audio clock keeps to the trace's own within a chunk or so of network delay
    assert all(abs(r.t_ms - t) <= 200 for r, t in zip(records, timed))
    report = replay(records).to_dict()
    assert report["divergences"] == [] and report["invalid"] == []


def test_bare_events_with_timestamps_find_the_same_freeze():
    lines = trace_lines("production", "field-report", 120_000)
    report = report_of(bare(lines, with_time="timestamp"))
    assert report["signature"] == "zeros-after-response"
    assert report["silence_end_ms"] == 120_000


def test_timestamps_iso_and_unix_seconds():
    iso = [json.dumps({"type": "session.created", "timestamp": "2025-01-01T10:00:00Z"}),
           json.dumps({"type": "response.cancel", "timestamp": "2025-01-01T10:00:12.5"})]
    assert [r.t_ms for r in parse_lines(iso)] == [0, 12_500]
    unix = [json.dumps({"type": "session.created", "ts": 1_700_000_000.25}),
            json.dumps({"type": "response.cancel", "ts": 1_700_000_003.0})]
    assert [r.t_ms for r in parse_lines(unix)] == [0, 2_750]


def test_invalid_but_known_events_are_reported_not_fatal():
    lines = list(trace_lines("production", "conversation", 40_000))
    done = line_of(lines, "response.done")
    record = json.loads(lines[done - 1])
    record["event"]["response"] = "not an object"
    lines[done - 1] = json.dumps(record)
    report = report_of(lines)
    assert [item["line"] for item in report["invalid"]] == [done]
    assert report["invalid"][0]["error"].startswith("response.done: response")


def test_without_the_sdk_only_type_names_are_checked(monkeypatch):
    monkeypatch.setattr(logreplay, "_SDK", [None])
    lines = [json.dumps({"type": "response.done", "response": "not an object"})]
    report = report_of(lines)
    assert report["invalid"] == [] and report["validation"].startswith("type names only")
    with pytest.raises(LogError, match="unknown event type"):
        parse_lines([json.dumps({"type": "response.finished"})])


def test_fallback_type_names_match_the_sdk():
    from pydantic import TypeAdapter
    from openai.types.realtime import RealtimeClientEvent, RealtimeServerEvent

    models = logreplay._sdk_models()
    assert SERVER_TYPES == set(models[S2C]) and CLIENT_TYPES == set(models[C2S])
    # the per-type class accepts exactly what the union's TypeAdapter accepts
    lines = trace_lines("production", "conversation", 40_000)
    for record in parse_lines(list(lines[:200])):
        union = TypeAdapter(RealtimeClientEvent if record.direction == C2S
                            else RealtimeServerEvent)
        union.validate_python(record.event)
        assert logreplay.validate(record) is None


@pytest.mark.parametrize("line,message", [
    ("{", "not JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"event_id": "x"}', "event has no type"),
    ('{"type": 7}', "event type must be a string"),
    ('{"type": "response.finished"}', "unknown event type 'response.finished'"),
    ('{"type": "response.audio.delta"}', "beta name of response.output_audio.delta"),
    ('{"t_ms": 0, "direction": "server_to_client", "event": {"type": "response.create"}}',
     "is a client event type but direction is server_to_client"),
    ('{"t_ms": 0, "direction": "up", "event": {"type": "response.create"}}',
     "direction must be"),
    ('{"t_ms": "soon", "event": {"type": "response.create"}}', "t_ms must be a number"),
    ('{"direction": "client_to_server", "event": "response.create"}', "event must be an object"),
])
def test_parse_errors_name_the_line(line, message):
    with pytest.raises(LogError) as info:
        parse_lines([json.dumps({"type": "session.created"}), "", line], "x.jsonl")
    text = str(info.value)
    assert text.startswith("x.jsonl line 3: ") and message in text and "\n" not in text


def test_wrapped_events_may_leave_the_direction_out():
    records = parse_lines(['{"t_ms": 5, "event": {"type": "response.create"}}'])
    assert (records[0].direction, records[0].t_ms) == (C2S, 0)


def test_audio_classes():
    assert audio_class(np.zeros(2400, np.int16)) == "exact_zeros"
    assert audio_class(np.full(2400, 96, np.int16)) == "near_silence"
    assert audio_class(np.full(2400, 300, np.int16)) == "quiet"
    assert audio_class(np.full(2400, 1200, np.int16)) == "speech"  # RMS 0.037


# -- robustness: any sequence of known events replays without crashing ----------------------
_TYPES = sorted(CLIENT_TYPES | SERVER_TYPES)
_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.text(max_size=8),
                    st.sampled_from(["AAAAAA==", "resp_1", "item_1", "!!"]),
                    st.dictionaries(st.text(max_size=6), st.integers(), max_size=2))
_SESSION = st.fixed_dictionaries({"audio": st.fixed_dictionaries({"input": st.fixed_dictionaries({
    "turn_detection": st.one_of(st.none(), st.dictionaries(st.sampled_from(
        ["silence_duration_ms", "prefix_padding_ms", "idle_timeout_ms", "create_response",
         "interrupt_response", "type"]), _VALUES, max_size=4))})})})
_EVENTS = st.fixed_dictionaries({"type": st.sampled_from(_TYPES)}, optional={
    "audio": st.sampled_from(["", "AAAA", "%%%", _b64(np.full(480, 900)), _b64(np.zeros(7))]),
    "delta": st.sampled_from(["", "AAAA", 5]),
    "item_id": st.sampled_from(["item_1", 3]),
    "response_id": st.sampled_from(["resp_1", "resp_2"]),
    "response": st.fixed_dictionaries({}, optional={"id": st.sampled_from(["resp_1", 2])}),
    "audio_end_ms": _VALUES, "session": st.one_of(_VALUES, _SESSION), "error": _VALUES})


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_EVENTS, st.integers(0, 20_000)), min_size=1, max_size=25))
def test_any_known_events_replay_without_crashing(items):
    lines = [json.dumps({"t_ms": t, "event": e}) for e, t in items]
    report = report_of(lines)
    assert report["verdict"] in ("ok", "freeze") and report["events"] == len(lines)


# -- logs as apps write them: bare, console-prefixed; the audio clock ----------------------
@pytest.mark.parametrize("design", ["production", "production+chunk20ms"])
@pytest.mark.parametrize("prefix", ["", "[realtime] ", "app.js:42 [realtime] "])
def test_frozen_session_logged_without_timestamps_is_measured_on_the_audio(design, prefix):
    """A frozen session (the field report's story: zeros after a response), logged as
    bare events or as console lines: the silence is measured on the audio the client
    appended, and the freeze is flagged, whatever the chunk size."""
    lines = trace_lines(design, "field-report", 120_000)
    timed = replay(parse_lines(list(lines)), design).to_dict()
    console = [prefix + text for text in bare(lines)]
    records = parse_lines(console)
    assert records.clock == "audio"
    report = replay(records, design).to_dict()
    assert report["clock"] == "audio" and "audio appended" in report["clock_description"]
    assert report["signature"] == "zeros-after-response" == timed["signature"]
    # the stretch is the audio appended during it: the timed log's, to a chunk or so
    assert abs(report["longest_silence_ms"] - timed["longest_silence_ms"]) <= 200
    assert report["longest_silence_ms"] >= 60_000


def test_console_time_of_day_is_a_clock():
    lines = ["10:00:00.000 [realtime] " + json.dumps({"type": "session.created"}),
             "10:00:12.500 [realtime] " + json.dumps({"type": "response.cancel"})]
    records = parse_lines(lines)
    assert records.clock == "timestamps" and [r.t_ms for r in records] == [0, 12_500]


def test_without_timestamps_or_audio_nothing_is_measured():
    lines = [json.dumps({"type": "session.created"}), json.dumps({"type": "response.cancel"})]
    report = report_of(lines)
    assert report["clock"] == "lines" and report["signature"] is None
    assert report["verdict"] == "ok"


def test_a_setting_the_model_does_not_honour_is_reported():
    lines = list(trace_lines("production", "conversation", 40_000))
    k = line_of(lines, "session.update")
    record = json.loads(lines[k - 1])
    td = record["event"]["session"]["audio"]["input"]["turn_detection"]
    record["event"]["session"]["audio"]["input"]["turn_detection"] = {
        "type": "semantic_vad", "eagerness": "low", "create_response": td["create_response"]}
    record["event"]["session"]["audio"]["input"]["noise_reduction"] = {"type": "far_field"}
    lines[k - 1] = json.dumps(record)
    report = report_of(lines)
    settings = [item["setting"] for item in report["unhonoured"] if item["line"] == k]
    assert any("semantic_vad" in s for s in settings)
    assert any("eagerness" in s for s in settings)
    assert any("noise_reduction" in s for s in settings)


def test_a_string_where_the_sdk_wants_an_integer_is_invalid_with_its_line():
    lines = list(trace_lines("production", "conversation", 40_000))
    k = line_of(lines, "input_audio_buffer.speech_started")
    record = json.loads(lines[k - 1])
    record["event"]["audio_start_ms"] = str(record["event"]["audio_start_ms"])
    lines[k - 1] = json.dumps(record)
    report = report_of(lines)
    assert [item["line"] for item in report["invalid"]] == [k]
    assert "audio_start_ms" in report["invalid"][0]["error"]
