"""Every event vadlock puts on the wire validates against the official SDK types, in
pydantic's strict mode (`logreplay.validate_event`, the one place events are validated)."""

import base64
import functools

import pytest

from vadlock.model.designs import DESIGNS, get_design
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.simulator.engine import simulate
from vadlock.simulator.logreplay import validate_event
from vadlock.simulator.presets import PRESETS, preset
from vadlock.simulator.trace import C2S, S2C



def check(event: dict, direction: str) -> None:
    error = validate_event(event, direction)
    assert error is None, f"not a valid GA event: {error}"


@functools.lru_cache(maxsize=None)
def trace_of(design: str, preset_name: str, server: str = "energy"):
    scenario = preset(preset_name, 40_000)
    return simulate(get_design(design), ServerVadHypotheses.parse(server), scenario, seed=3)


@pytest.mark.parametrize("preset_name", sorted(PRESETS))
@pytest.mark.parametrize("design", sorted(DESIGNS))
def test_every_emitted_event_is_a_valid_ga_event(design, preset_name):
    trace = trace_of(design, preset_name)
    seen = set()
    for record in trace.wire:
        key = (record.direction, record.type)
        error = validate_event(record.event, record.direction)
        assert error is None, f"{key} at {record.t_ms} ms is not a valid GA event: {error}"
        seen.add(key)
    if get_design(design).transport == "webrtc":  # audio travels on media tracks
        assert (S2C, "output_audio_buffer.started") in seen
        assert not any(t in ("input_audio_buffer.append", "response.output_audio.delta")
                       for _, t in seen)
    else:
        assert (C2S, "input_audio_buffer.append") in seen
        assert (S2C, "response.output_audio.delta") in seen


def test_error_and_clear_paths_are_valid_too():
    # zero-skip + production: the watchdog clears; error events come from the unit-level paths
    trace = simulate(get_design("production"), ServerVadHypotheses.parse("zero-skip"),
                     preset("conversation", 60_000), seed=1)
    types = {r.type for r in trace.wire}
    assert "input_audio_buffer.clear" in types and "input_audio_buffer.cleared" in types
    for record in trace.wire:
        check(record.event, record.direction)


def test_error_events_validate():
    from vadlock.model import protocol
    for code in protocol.CLIENT_ERROR_CODES:
        check({"event_id": "event_1", **protocol.error(code, "m")}, S2C)


def test_audio_is_base64_pcm16_at_24khz():
    trace = trace_of("production", "conversation")
    append = next(trace.events(C2S, "input_audio_buffer.append"))
    raw = base64.b64decode(append.event["audio"])
    assert len(raw) == 100 * 24 * 2  # a 100 ms chunk: 2,400 int16 samples
    delta = next(trace.events(S2C, "response.output_audio.delta"))
    assert len(base64.b64decode(delta.event["delta"])) % 2 == 0
    update = next(trace.events(C2S, "session.update"))
    assert update.event["session"]["audio"]["input"]["format"] == {"type": "audio/pcm",
                                                                  "rate": 24000}


def _validate(trace):
    for record in trace.wire:
        error = validate_event(record.event, record.direction)
        assert error is None, f"{record.type} at {record.t_ms} ms is not a valid GA event: {error}"
    return {(r.direction, r.type) for r in trace.wire}


def test_recovery_paths_emit_valid_events_too():
    """The rarer paths: the server's idle timeout, the liveness ladder's reconnect with
    conversation replay, a WebRTC barge-in, under every server hypothesis."""
    from vadlock.simulator.scenario import Scenario, Segment, Utterance
    seen = set()
    quiet = Scenario(name="quiet", duration_ms=40_000, utterances=(Utterance(1_000, 1_800),))
    seen |= _validate(simulate(get_design("idle-timeout"), ServerVadHypotheses(), quiet, 0))
    deaf = Scenario(
        name="deaf", duration_ms=130_000, room_noise_dbfs=-60.0,
        utterances=tuple(Utterance(t, 1_800, -20.0) for t in range(1_000, 126_000, 6_000)),
        segments=(Segment(20_000, 600, "speech", -20.0),))
    seen |= _validate(simulate(get_design("liveness-watchdog"),
                               ServerVadHypotheses.parse("zero-skip,clear-keeps-vad"), deaf, 1))
    barge = Scenario(name="barge", duration_ms=12_000,
                     utterances=(Utterance(1_000, 1_800), Utterance(5_000, 1_500, -12.0)))
    seen |= _validate(simulate(get_design("webrtc"), ServerVadHypotheses(), barge, 0))
    for server in ("zero-skip", "floor-adapt", "deadband", "clear-keeps-vad", "noise-as-speech"):
        seen |= _validate(trace_of("production", "field-report", server))
    for expected in [(S2C, "input_audio_buffer.timeout_triggered"),
                     (C2S, "conversation.item.create"), (S2C, "conversation.item.added"),
                     (S2C, "output_audio_buffer.cleared"), (S2C, "conversation.item.truncated"),
                     (S2C, "session.updated")]:
        assert expected in seen, expected


def test_strict_mode_refuses_a_string_where_the_sdk_wants_an_integer():
    event = {"type": "input_audio_buffer.speech_started", "event_id": "event_1",
             "audio_start_ms": 1700, "item_id": "item_1"}
    check(event, S2C)
    error = validate_event({**event, "audio_start_ms": "1700"}, S2C)  # lax mode coerces it
    assert error is not None and "audio_start_ms" in error and "integer" in error
