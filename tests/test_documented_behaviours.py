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


# -- the 60-minute session limit -----------------------------------------------------------
def test_the_session_limit_is_a_declared_clock_timer_that_ends_the_session():
    from vadlock.model import protocol
    from vadlock.model.designs import PRODUCTION
    from vadlock.model.server.session import ServerSession
    from vadlock.model.server.session_limit import MAX_SESSION_MS

    server = ServerSession(ServerVadHypotheses(), PRODUCTION.level_scale)
    server.start()
    assert "session_limit" in server.running_timers()
    assert server.ms_until_next_deadline() == MAX_SESSION_MS
    assert server.advance(MAX_SESSION_MS - 1) == []  # fast-forward reaches it exactly
    out = server.advance(1)
    assert [e["type"] for e in out] == ["error"]
    assert out[0]["error"]["code"] == "session_expired"
    assert out[0]["error"]["message"] == ("Your session hit the maximum duration of 60 "
                                          "minutes.")
    assert validate_event(out[0], S2C) is None
    # closed: it hears nothing, answers nothing, and no timer runs
    assert server.receive(protocol.response_create()) == []
    assert server.running_timers() == () and server.ms_until_next_deadline() is None
    unlimited = ServerSession(ServerVadHypotheses(), PRODUCTION.level_scale,
                              session_limit_ms=None)
    assert "session_limit" not in unlimited.running_timers()


def test_a_session_longer_than_60_minutes_expires_and_production_stays_silent():
    long = Scenario(name="long", duration_ms=3_612_000,
                    utterances=(Utterance(1_000, 1_800), Utterance(3_590_000, 1_800),
                                Utterance(3_604_000, 1_800)))
    trace = simulate(get_design("production"), ServerVadHypotheses(), long, 0)
    errors = _events(trace, "error")
    assert [e["error"]["code"] for e in errors] == ["session_expired"]
    expired_ms = next(r.t_ms for r in trace.wire if r.type == "error")
    assert 3_600_000 <= expired_ms < 3_600_200  # the limit, plus the downlink's latency
    started = [r.t_ms for r in trace.wire if r.type == "input_audio_buffer.speech_started"]
    assert len(started) == 2 and started[-1] < 3_600_000  # the utterance after it: unheard
    assert trace.server_events()[-1].type == "error" and trace.reconnects == 0


def test_the_explorer_lets_the_session_limit_run_out_only_with_the_server_fault_class():
    from vadlock.properties.explore import ProductModel

    production = get_design("production")
    default = ProductModel(production, ServerVadHypotheses(), ("acoustic", "capture"))
    assert "session_limit" not in default._load_server(default.fresh_server).running_timers()
    server = ProductModel(production, ServerVadHypotheses(), ("acoustic", "capture", "server"))
    assert "session_limit" in server._load_server(server.fresh_server).running_timers()


# -- semantic_vad with eagerness ---------------------------------------------------------------
TWO_TURNS = Scenario(name="two-turns", duration_ms=30_000,
                     utterances=(Utterance(1_000, 1_800), Utterance(15_000, 1_800)))


def test_semantic_vad_ends_the_turn_at_the_eagerness_maximum_wait_in_the_simulator():
    from vadlock.simulator.trace import C2S

    speech_end_ms = 2_800  # the first utterance's last audio
    server_vad = simulate(get_design("production"), ServerVadHypotheses(), TWO_TURNS, 0)
    server_vad_start_ms = _events(server_vad, "input_audio_buffer.speech_started")[0][
        "audio_start_ms"]
    for eagerness, wait_ms in (("high", 2_000), ("medium", 4_000), ("auto", 4_000),
                               ("low", 8_000)):
        trace = simulate(get_design(f"production+semantic-{eagerness}"), ServerVadHypotheses(),
                         TWO_TURNS, 0)
        update = next(r.event for r in _valid(trace)
                      if r.direction == C2S and r.type == "session.update")
        assert update["session"]["audio"]["input"]["turn_detection"] == {
            "type": "semantic_vad", "eagerness": eagerness, "create_response": True,
            "interrupt_response": True}  # and no idle_timeout_ms, threshold, padding
        started = _events(trace, "input_audio_buffer.speech_started")
        stopped = _events(trace, "input_audio_buffer.speech_stopped")
        assert len(started) == len(stopped) == 2
        # speech starts as server_vad's does; the turn ends the maximum wait after speech
        assert started[0]["audio_start_ms"] == server_vad_start_ms
        assert stopped[0]["audio_end_ms"] == speech_end_ms + wait_ms, eagerness
        assert len(_events(trace, "response.done")) == 2
    assert _events(server_vad, "input_audio_buffer.speech_stopped")[0]["audio_end_ms"] == 3_300


def test_semantic_vad_end_of_turn_is_a_declared_timer_the_explorer_fires_at_any_point():
    from vadlock.model.designs import PRODUCTION
    from vadlock.model.server.semantic_vad import SemanticVad
    from vadlock.model.server.vad import SpeechStopped
    from vadlock.model.symbols import FrameSymbol, Kind

    scale = PRODUCTION.level_scale
    speech = FrameSymbol(scale.level_of(0.08, False), Kind.SPEECH)
    quiet = FrameSymbol(scale.level_of(0.003, False), Kind.STATIONARY)
    vad = SemanticVad(ServerVadHypotheses(), scale, "low")
    vad.feed(speech, 500, 0)
    assert vad.running_timers() == ()  # not while the user speaks
    vad.feed(quiet, 100, 500)
    assert vad.running_timers() == ("end_of_turn",)
    assert vad.ms_until_next_deadline() is None  # it counts audio, not wall time
    vad.drain()
    vad.expire_timer("end_of_turn")  # the classifier decides early: after 100 ms
    assert vad.state == "silence" and vad.drain() == [SpeechStopped(600)]
    # without an early decision, the documented maximum: 8 s of silence for `low`
    vad.feed(speech, 500, 600)
    vad.feed(quiet, 7_900, 1_100)
    assert vad.state == "speech"
    vad.feed(quiet, 200, 9_000)
    assert vad.drain()[-1] == SpeechStopped(9_100)


def test_semantic_variants_parse_and_refuse_what_is_not_documented():
    import pytest
    from vadlock.model.designs import UnknownDesign

    design = get_design("recommended+semantic-high")
    assert (design.vad_type, design.eagerness) == ("semantic_vad", "high")
    assert "idle_timeout_ms" not in design.turn_detection()
    assert any("idle_timeout_ms" in line for line in design.unhonoured())
    with pytest.raises(UnknownDesign, match="semantic-eager"):
        get_design("production+semantic-eager")


# -- the new machines' tables run the same on stock transitions and on the lean dispatch ----
def test_new_machine_tables_run_the_same_on_stock_and_lean_dispatch():
    """SemanticVad and SessionLimit (not yet in `declared_machines`: the committed diagrams
    are regenerated at integration) under transitions' stock `Event` and `LeanEvent`."""
    from hypothesis import given, settings, strategies as st
    from transitions import Machine
    from transitions.core import MachineError

    from vadlock.model.designs import PRODUCTION
    from vadlock.model.server.semantic_vad import SemanticVad
    from vadlock.model.server.session_limit import SessionLimit

    builders = {SemanticVad: lambda cls: cls(ServerVadHypotheses(), PRODUCTION.level_scale, "high"),
                SessionLimit: lambda cls: cls(1_000)}

    def check(machine_cls, build):
        states = set(machine_cls.STATES)
        for row in machine_cls.TRANSITIONS:
            assert row["source"] in (*states, "*") and row["dest"] in (*states, None)
        triggers = sorted({row["trigger"] for row in machine_cls.TRANSITIONS})

        def make(machine_class):
            return build(type(machine_cls.__name__, (machine_cls,),
                              {"MACHINE_CLASS": machine_class}))

        @settings(max_examples=60, deadline=None)
        @given(st.lists(st.tuples(st.sampled_from(triggers + ["advance"]),
                                  st.integers(0, 600)), max_size=30))
        def run(steps):
            stock, lean = make(Machine), make(machine_cls.MACHINE_CLASS)
            for trigger, ms in steps:
                seen = []
                for machine in (stock, lean):
                    try:
                        if trigger == "advance":
                            result = machine.advance(ms)
                        else:
                            takes = machine_cls.TRIGGER_ARGS.get(trigger, ())
                            result = getattr(machine, trigger)(**{n: ms for n in takes})
                    except MachineError:
                        result = "MachineError"
                    seen.append((result, machine.snapshot(),
                                 [repr(o) for o in machine.drain()], list(machine.changes)))
                assert seen[0] == seen[1], (machine_cls.NAME, trigger)

        run()

    for machine_cls, build in builders.items():
        check(machine_cls, build)


def test_a_replayed_session_limit_expiry_lands_right_after_the_paths_steps():
    from vadlock.model.server.session_limit import MAX_SESSION_MS, SessionLimit
    from vadlock.model.symbols import FrameSymbol, Kind
    from vadlock.properties.explore import Step
    from vadlock.properties.replay import path_to_scenario

    settle_ms = SessionLimit.TIMERS[0].wait_ms  # declared: the noise after the path's steps

    design = get_design("recommended")
    speech = FrameSymbol(design.level_scale.level_of(0.08, False), Kind.SPEECH)
    path = [Step("block", speech), Step("block", speech), Step("expire", timer="session_limit")]
    scenario = path_to_scenario(design, path, design.chunk_ms)
    spoken = [s for s in scenario.segments if s.kind == "speech"]
    assert spoken[0].start_ms + spoken[0].duration_ms == MAX_SESSION_MS - settle_ms
    assert spoken[0].duration_ms == 200
