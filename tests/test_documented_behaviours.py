"""The documented server behaviours (issue 10, point 2), each planted and shown on the
wire, every event validated strictly against `openai.types.realtime`.

Sources: ../shared/reference/realtime-protocol.md (sections 1.2, 1.3, 2.1, 2.2, 3, 7) and the
entries of `model/evidence.py`."""

from dataclasses import replace

from vadlock.model.designs import get_design
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.simulator.engine import simulate
from vadlock.simulator.logreplay import validate_event
from vadlock.simulator.scenario import Scenario, Utterance
from vadlock.simulator.trace import S2C


def _valid(trace):
    """The trace's wire records, each checked strictly against the SDK's types."""
    for record in trace.wire:
        error = validate_event(record.event, record.direction)
        assert error is None, f"{record.type} at {record.t_ms} ms: {error}"
    return trace.wire


def _events(trace, kind: str) -> list[dict]:
    return [r.event for r in _valid(trace) if r.direction == S2C and r.type == kind]


# -- the idle timer: its segment starts after the last response's playback ---------------------
QUIET = Scenario(name="quiet", duration_ms=30_000, utterances=(Utterance(1_000, 1_800),),
                 response_audio_ms=(3_000,))


def test_idle_timeout_segment_spans_the_timeout_after_the_playback():
    for name in ("idle-timeout", "webrtc"):
        design = replace(get_design(name), idle_timeout_ms=6_000)
        trace = simulate(design, ServerVadHypotheses(), QUIET, 0)
        timeouts = _events(trace, "input_audio_buffer.timeout_triggered")
        done = [r for r in trace.wire if r.type == "response.done"]
        assert timeouts and done, name
        first = timeouts[0]
        # the documented span: end - start ~ idle_timeout_ms (not timeout + playback)
        assert first["audio_end_ms"] - first["audio_start_ms"] == 6_000, (name, first)
        # and it starts after the first response's 3 s of audio played out: the response is
        # done about 1.1 s after speech stopped (3.3 s on the audio timeline)
        stopped = _events(trace, "input_audio_buffer.speech_stopped")[0]["audio_end_ms"]
        assert first["audio_start_ms"] >= stopped + 3_000, (name, first, stopped)


# -- interrupt_response: false leaves the response (and WebRTC's output buffer) alone ---------
BARGE_IN = Scenario(name="barge-in", duration_ms=16_000, response_audio_ms=(8_000,),
                    utterances=(Utterance(1_000, 1_500), Utterance(3_600, 1_500, -12.0)))


def test_interrupt_response_false_keeps_the_response_and_the_webrtc_output_buffer():
    webrtc = get_design("webrtc")
    default = simulate(webrtc, ServerVadHypotheses(), BARGE_IN, 0)
    statuses = [d["response"]["status"] for d in _events(default, "response.done")]
    assert "cancelled" in statuses  # the default: speech cancels it and cuts the playback
    assert _events(default, "output_audio_buffer.cleared")

    kept = simulate(replace(webrtc, interrupt_response=False), ServerVadHypotheses(),
                    BARGE_IN, 0)
    assert _events(kept, "input_audio_buffer.speech_started")[1:]  # the barge-in is heard
    done = _events(kept, "response.done")
    assert done and all(d["response"]["status"] == "completed" for d in done)
    assert not _events(kept, "output_audio_buffer.cleared")
    assert not _events(kept, "conversation.item.truncated")
    # the first response was generated to its end while the user spoke over it
    assert done[0]["response"]["id"] == "resp_0001"


# -- response.done with status incomplete (a server fault) ------------------------------------
def test_an_incomplete_response_is_cut_after_its_first_audio_and_says_why():
    from vadlock.simulator.presets import preset
    from vadlock.simulator.scenario import ServerFault

    for name in ("production", "webrtc"):
        scenario = replace(preset("conversation", 40_000),
                           server_faults=(ServerFault("incomplete-response", 1),))
        trace = simulate(get_design(name), ServerVadHypotheses(), scenario, 0)
        done = [e["response"] for e in _events(trace, "response.done")]
        statuses = [d["status"] for d in done]
        assert statuses.count("incomplete") == 1 and statuses[1] == "incomplete", (name, statuses)
        assert done[1]["status_details"] == {"type": "incomplete",
                                             "reason": "max_output_tokens"}
        assert done[1]["output"][0]["status"] == "incomplete"
        cut = done[1]["id"]
        if name == "production":  # some of its audio went out, then it ended
            deltas = [e for e in _events(trace, "response.output_audio.delta")
                      if e["response_id"] == cut]
            assert len(deltas) == 1
        assert len(_events(trace, "input_audio_buffer.speech_started")) >= 4  # it goes on


def test_incomplete_response_done_carries_either_documented_reason():
    from vadlock.simulator.server_faults import incomplete_response_done

    trace = simulate(get_design("production"), ServerVadHypotheses(), QUIET, 0)
    done = _events(trace, "response.done")[0]
    for reason in ("max_output_tokens", "content_filter"):
        event = incomplete_response_done(done, reason)
        assert validate_event(event, S2C) is None
        assert event["response"]["status_details"]["reason"] == reason
    bad = incomplete_response_done(done, "ran_out_of_time")  # not a documented reason
    assert validate_event(bad, S2C) is not None
