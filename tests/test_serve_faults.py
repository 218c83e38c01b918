"""Faults of `vadlock serve`, driven through one session without sockets (the audio clock
makes it deterministic), and the load run's log check."""

import base64
import json

import pytest
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter

from serving import chunks, utterance_pcm16
from vadlock.cli import main
from vadlock.model.designs import get_design
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.simulator.serve.faults import FaultBoard, FaultError, parse_fault
from vadlock.simulator.serve.session import ServedSession
from vadlock.simulator.serve.voice import Voice

SERVER_EVENT = TypeAdapter(RealtimeServerEvent)


def session(*specs: str) -> ServedSession:
    board = FaultBoard([parse_fault(s) for s in specs])
    return ServedSession(1, get_design("production"), ServerVadHypotheses.parse("energy"),
                         board, Voice("synthetic"), clock="audio")


def turn(served: ServedSession, seed: int = 0) -> list[dict]:
    """One utterance and enough room noise after it for the response to finish."""
    out = []
    for chunk in chunks(utterance_pcm16(silence_after_ms=4000, seed=seed)):
        frame = json.dumps({"type": "input_audio_buffer.append",
                            "audio": base64.b64encode(chunk).decode()})
        out += served.receive_text(frame)[1]
    for event in out:
        SERVER_EVENT.validate_python(event)
    return out


def kinds(events):
    return [e["type"] for e in events]


def test_healthy_turns_are_answered():
    served = session()
    served.start()
    for seed in range(2):
        assert kinds(turn(served, seed)).count("response.done") == 1
    assert served.turns == 2


def test_fail_response_ends_one_response_with_status_failed():
    served = session("fail-response:after=1")
    served.start()
    first, second, third = turn(served, 0), turn(served, 1), turn(served, 2)
    done = [e for e in first + second + third if e["type"] == "response.done"]
    assert [d["response"]["status"] for d in done] == ["completed", "failed", "completed"]
    details = done[1]["response"]["status_details"]
    assert details["type"] == "failed" and details["error"]["type"] == "server_error"
    assert "response.output_audio.delta" not in kinds(second)  # it failed before any audio


@pytest.mark.parametrize("reason", ["max_output_tokens", "content_filter"])
def test_incomplete_response_is_cut_after_its_first_audio(reason):
    served = session(f"incomplete-response:after=1,reason={reason}")
    served.start()
    first, second, third = turn(served, 0), turn(served, 1), turn(served, 2)
    done = [e for e in first + second + third if e["type"] == "response.done"]
    assert [d["response"]["status"] for d in done] == ["completed", "incomplete", "completed"]
    assert done[1]["response"]["status_details"] == {"type": "incomplete", "reason": reason}
    # some audio went out (the batch with its first delta), then it was cut
    assert 1 <= kinds(second).count("response.output_audio.delta") < \
        kinds(first).count("response.output_audio.delta")


def test_stall_after_n_turns_sends_nothing_more():
    served = session("stall:after=1")
    served.start()
    assert "response.done" in kinds(turn(served, 0))
    assert turn(served, 1) == [] and served.stalled and served.ending is None


def test_expire_sends_session_expired_and_ends_the_session():
    served = session("expire:after=1")
    served.start()
    out = kinds(turn(served, 0))  # it expires at the first input after turn 1
    assert out[-2:] == ["response.done", "error"] and out.count("error") == 1
    assert served.ending == "close" and turn(served, 1) == []


def test_the_session_limit_expires_on_the_session_clock():
    served = ServedSession(1, get_design("production"), ServerVadHypotheses.parse("energy"),
                           FaultBoard(), Voice("synthetic"), clock="audio", max_session_ms=2000)
    served.start()
    out = turn(served, 0)
    assert out[-1]["error"]["code"] == "session_expired" and served.clock_ms == 2000
    assert "response.done" not in kinds(out)  # the first reply needs more than 2 s


def test_drop_after_n_turns_cuts_the_connection():
    served = session("drop:after=1")
    served.start()
    turn(served, 0)
    assert turn(served, 1) == [] and served.ending == "drop"


@pytest.mark.parametrize("spec", ["nothing", "stall:after=x", "latency", "stall:ms=3",
                                  "zero-skip:after=1", "expire:after=-1",
                                  "incomplete-response:reason=tired"])
def test_bad_fault_specs_are_one_line_errors(spec, capsys):
    with pytest.raises(FaultError):
        parse_fault(spec)
    assert main(["serve", "--fault", spec]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vadlock serve: error: fault") and "\n" not in err


def test_the_load_run_replays_every_log_without_divergence(capsys):
    assert main(["serve", "--load", "3", "--load-audio-s", "12", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["sessions"] == 3 and result["incomplete_logs"] == 0
    assert result["divergences"] == 0 and result["invalid_events"] == 0
    assert result["responses"] >= 3  # the conversation preset: a user turn every 10 s


def test_the_espeak_voice_speaks_the_transcript_at_24_khz():
    voice = Voice("espeak")
    samples = voice.samples(0)
    assert voice.response_ms(0) == len(samples) // 24 > 500
    assert float((samples ** 2).mean()) > 1e-4  # real speech, not silence
    total = voice.response_ms(0)
    said = "".join(voice.words_between(0, start, start + 100, total)
                   for start in range(0, total, 100))
    assert said == voice.transcript(0)


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from vadlock.simulator.logreplay import CLIENT_TYPES  # noqa: E402

_JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) |
                     st.floats(allow_nan=False) | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3) |
                     st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
_FIELDS = st.sampled_from(["audio", "session", "item", "item_id", "audio_end_ms",
                           "content_index", "response", "event_id", "turn_detection"])
_AUDIO = st.binary(max_size=2400).map(lambda b: base64.b64encode(b).decode())
_EVENTS = st.one_of(
    st.builds(lambda kind, extra: json.dumps({"type": kind, **extra}),
              st.sampled_from(sorted(CLIENT_TYPES)), st.dictionaries(_FIELDS, _JSON, max_size=3)),
    st.builds(lambda audio_b64: json.dumps({"type": "input_audio_buffer.append",
                                            "audio": audio_b64}), _AUDIO),
    st.builds(lambda td: json.dumps({"type": "session.update", "session": {"audio": {
        "input": {"turn_detection": td}}}}), st.dictionaries(
            st.sampled_from(["type", "silence_duration_ms", "prefix_padding_ms",
                             "idle_timeout_ms", "create_response", "interrupt_response",
                             "threshold"]), _JSON, max_size=4)),
    st.text(max_size=20),
    _JSON.map(json.dumps),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_EVENTS, min_size=1, max_size=12))
def test_any_frames_get_valid_events_and_never_crash_the_session(frames):
    served = session()
    served.start()
    for frame in frames:
        for event in served.receive_text(frame)[1]:
            SERVER_EVENT.validate_python(event)
    for event in turn(served):  # and audio after them is still answered validly
        SERVER_EVENT.validate_python(event)


@pytest.mark.parametrize("specs", [("fail-response:after=1",), ("stall:after=2",),
                                   ("expire:after=2",), ("fail-response:count=0",),
                                   ("incomplete-response:after=1",)])
def test_logs_under_faults_replay_without_divergence(specs, tmp_path):
    from vadlock.simulator.logreplay import read_log, replay
    from vadlock.simulator.serve.server import SessionLog

    served = session(*specs)
    log = SessionLog(tmp_path / "faulted.jsonl")
    for event in served.start():
        log.write(served.clock_ms, "server_to_client", event)
    for seed in range(3):
        for chunk in chunks(utterance_pcm16(silence_after_ms=4000, seed=seed)):
            t_ms = served.clock_ms
            accepted, out = served.receive_text(json.dumps(
                {"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()}))
            if accepted is not None:
                log.write(t_ms, "client_to_server", accepted)
            for event in out:
                log.write(served.clock_ms, "server_to_client", event)
    log.close()
    report = replay(read_log(log.path), "production", "energy", str(log.path)).to_dict()
    assert report["divergences"] == [] and report["invalid"] == []
    assert report["server_events"] > 10
