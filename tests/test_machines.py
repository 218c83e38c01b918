"""Unit tests: every machine's transitions, driven through its own inputs."""

import pytest
from transitions import MachineError

from vadlock.model import protocol
from vadlock.model.client.beliefs import ServerBeliefs
from vadlock.model.client.capture import Capture
from vadlock.model.client.gate import VadGate
from vadlock.model.client.health import CaptureHealthWatchdog
from vadlock.model.client.liveness import LivenessWatchdog
from vadlock.model.client.outputs import CommitOrClear, Reacquire, Reconnect
from vadlock.model.client.playback import Playback
from vadlock.model.client.rules import WatchdogRule
from vadlock.model.client.watchdog import StuckVadWatchdog
from vadlock.model.designs import DEVELOPMENT, PRODUCTION
from vadlock.model.hypotheses import FrameClass, ServerVadHypotheses
from vadlock.model.machine import declared_machines
from vadlock.model.server.audio_buffer import Committed, InputAudioBuffer
from vadlock.model.server.floor import AdaptiveFloor
from vadlock.model.server.idle_timeout import IdleTimeout
from vadlock.model.server.output_buffer import OutputAudioBuffer
from vadlock.model.server.response import ResponseLifecycle
from vadlock.model.server.semantic_vad import SemanticVad
from vadlock.model.server.session_limit import SessionLimit
from vadlock.model.server.vad import ServerVad, SpeechStarted, SpeechStopped
from vadlock.model.symbols import FrameSymbol, Kind

SCALE = PRODUCTION.level_scale
LOUD = SCALE.threshold_level("interrupt")  # >= 0.1 RMS
MID = SCALE.threshold_level("gate")  # 0.03 .. 0.1
QUIET = SCALE.threshold_level("server_speech")  # 0.01 .. 0.03


def speech(level):
    return FrameSymbol(level, Kind.SPEECH)


# -- symbols -------------------------------------------------------------------------
def test_level_scale_orders_edges_from_the_design():
    assert SCALE.level_of(0.0, exact_zero=True) == 0
    assert SCALE.level_of(0.0005, False) < SCALE.level_of(0.002, False)
    assert SCALE.level_of(0.05, False) == MID
    assert SCALE.level_of(0.2, False) == LOUD
    dev = DEVELOPMENT.level_scale
    # development's interruption edge (0.02) sits below the gate parameter (0.03)
    assert dev.threshold_level("interrupt") < dev.threshold_level("gate")


# -- capture -------------------------------------------------------------------------
def test_capture_faults_and_recovery():
    c = Capture()
    for fault in ("muted", "attenuated", "disabled", "suspended"):
        c.start_fault(fault)
        assert c.state == fault
        c.restore()
        assert c.state == "live"
    c.suspend()
    assert not c.delivers_chunks
    c.reacquire()
    assert c.delivers_chunks


# -- gate ----------------------------------------------------------------------------
def test_gate_zeros_quiet_chunks_and_passes_loud_ones():
    g = VadGate("zeros", MID, lag_chunks=0, hangover_ms=0, chunk_ms=100)
    assert g.chunk(QUIET) == "zeros"
    assert g.state == "zeroing"
    assert g.chunk(MID) == "raw"
    assert g.state == "passing"


def test_lagged_gate_decides_on_the_previous_chunk():
    g = VadGate("zeros", MID, lag_chunks=1, hangover_ms=0, chunk_ms=100)
    assert g.chunk(QUIET) == "raw"  # still passing from before
    assert g.chunk(LOUD) == "zeros"  # the previous chunk was quiet
    assert g.chunk(QUIET) == "raw"


def test_hysteresis_gate_holds_open_for_the_hangover():
    g = VadGate("zeros", MID, 0, hangover_ms=300, chunk_ms=100)
    g.chunk(LOUD)
    assert [g.chunk(QUIET) for _ in range(4)] == ["raw", "raw", "raw", "zeros"]


def test_comfort_noise_gate_never_sends_zeros():
    g = VadGate("comfort_noise", MID, 0, 0, 100)
    assert g.chunk(1) == "comfort_noise"


def test_gate_off_always_passes():
    g = VadGate("off", MID, 0, 0, 100)
    assert g.chunk(0) == "raw" and g.state == "passing"


# -- playback ------------------------------------------------------------------------
def test_playback_plays_in_real_time_and_drains():
    p = Playback(interrupt_level=LOUD)
    p.queue_audio("item_1", 250)
    assert p.state == "playing"
    assert p.advance(100) == 100 and p.advance(200) == 150
    assert p.state == "idle" and p.played_ms == 250


def test_barge_in_truncates_with_played_ms_only_when_loud_enough():
    p = Playback(interrupt_level=LOUD)
    p.queue_audio("item_1", 1000)
    p.advance(300)
    p.barge_in(MID)  # below production's 0.1: keeps playing
    assert p.state == "playing" and p.drain() == []
    p.barge_in(LOUD)
    assert p.state == "idle"
    assert p.drain() == [protocol.truncate("item_1", 300)]


# -- stuck-VAD watchdog --------------------------------------------------------------
def test_watchdog_clears_after_30_s_armed_and_disarms_on_speech_stopped():
    w = StuckVadWatchdog(30_000)
    w.advance(60_000)
    assert w.state == "disarmed" and w.drain() == []  # never armed: never fires
    w.speech_started()
    w.advance(29_990)
    assert w.drain() == []
    w.advance(10)
    assert w.drain() == [protocol.clear()] and w.state == "disarmed"
    w.speech_started()
    w.speech_stopped()
    w.advance(40_000)
    assert w.drain() == []


def test_watchdog_rejects_expiry_when_disarmed():
    with pytest.raises(MachineError):
        StuckVadWatchdog(30_000).expire()


# -- beliefs -------------------------------------------------------------------------
def test_beliefs_follow_a_turn():
    b = ServerBeliefs()
    for trigger, state in (("speech_started", "user_speaking"),
                           ("speech_stopped", "awaiting_response"),
                           ("response_created", "responding"), ("response_done", "listening")):
        getattr(b, trigger)()
        assert b.state == state
    b.speech_started()
    b.buffer_cleared()
    assert b.state == "listening"


# -- liveness and capture health (fixes) ---------------------------------------------
def test_liveness_watchdog_escalates_one_rung_at_a_time():
    w = LivenessWatchdog(3_000, 3_000, protocol.turn_detection_config())
    w.audio_sent(3_000, speech_level=True)
    assert w.state == "resyncing" and w.drain()[-1]["type"] == "session.update"
    w.audio_sent(3_000, True)
    assert w.state == "clearing" and CommitOrClear() in w.drain()
    w.audio_sent(3_000, True)
    assert w.state == "reconnecting" and Reconnect() in w.drain()
    for ack in ("session.updated", "input_audio_buffer.cleared", "error"):
        w.server_event(ack)  # replies to the ladder's own requests prove nothing
        assert w.state == "reconnecting"
    w.server_event("input_audio_buffer.speech_started")
    assert w.state == "watching"
    w.audio_sent(10_000, speech_level=False)
    assert w.state == "watching"


def test_capture_health_reacquires_after_near_silence():
    h = CaptureHealthWatchdog(2_000, near_silent_level=SCALE.threshold_level("near_silent"))
    for _ in range(19):
        h.chunk(1, 100)
    assert Reacquire() not in h.drain()
    h.chunk(None, 100)
    assert Reacquire() in h.drain()
    h.chunk(MID, 100)
    assert h.state == "healthy" and h.silent_ms == 0


# -- server: buffer ------------------------------------------------------------------
def test_buffer_commit_needs_100_ms():
    b = InputAudioBuffer()
    b.commit()
    assert b.drain()[0]["error"]["code"] == protocol.COMMIT_EMPTY
    b.append(duration_ms=60)
    b.commit()
    assert b.drain()[0]["error"]["code"] == protocol.COMMIT_EMPTY
    b.append(duration_ms=40)
    b.commit()
    assert b.drain() == [Committed()] and b.state == "empty"


def test_buffer_clear_answers_cleared():
    b = InputAudioBuffer()
    b.append(duration_ms=500)
    b.clear()
    assert b.drain() == [{"type": "input_audio_buffer.cleared"}] and b.buffered_ms == 0


# -- server: VAD under hypotheses ----------------------------------------------------
def vad(flags="energy", silence_ms=500):
    return ServerVad(ServerVadHypotheses.parse(flags), SCALE, silence_ms, 300)


def test_vad_turn_with_prefix_padding_and_silence_duration():
    v = vad()
    v.feed(speech(MID), 1_000, 2_000)
    assert v.drain() == [SpeechStarted(1_700)]
    v.feed(FrameSymbol(0, Kind.STATIONARY), 400, 3_000)
    assert v.state == "speech"
    v.feed(FrameSymbol(0, Kind.STATIONARY), 400, 3_400)
    assert v.drain() == [SpeechStopped(3_500)] and v.state == "silence"


def test_zero_skip_never_ends_speech_on_zeros():
    v = vad("zero-skip")
    v.feed(speech(MID), 500, 0)
    v.feed(FrameSymbol(0, Kind.STATIONARY), 60_000, 500)
    assert v.state == "speech"
    v.feed(FrameSymbol(2, Kind.STATIONARY), 500, 60_500)  # room noise does end it
    assert v.state == "silence"


def test_noise_as_speech_takes_key_clicks_for_speech():
    click = FrameSymbol(MID, Kind.TRANSIENT)
    plain = vad()
    plain.feed(click, 10, 0)
    assert plain.state == "silence"
    noisy = vad("noise-as-speech")
    noisy.feed(click, 10, 0)
    assert noisy.state == "speech"


def test_deadband_holds_speech_on_quiet_speech_like_frames():
    v = vad("deadband")
    v.feed(speech(MID), 300, 0)
    v.feed(speech(3), 5_000, 300)  # -56..-40 dBFS speech-like: inside the dead band
    assert v.state == "speech"
    v.feed(FrameSymbol(3, Kind.STATIONARY), 500, 5_300)
    assert v.state == "silence"


def test_floor_adapt_climbs_on_loud_noise_and_zeros_freeze_it():
    near = SCALE.threshold_level("near_silent")  # -56 .. -40 dBFS: under the base edge
    v = vad("floor-adapt")
    floor = AdaptiveFloor(v.hypotheses, SCALE)

    def feed(symbol, duration_ms, audio_pos_ms):  # as the server session wires them
        floor.hear(symbol, v.feed(symbol, duration_ms, audio_pos_ms, floor.band), duration_ms)

    start = floor.band
    feed(speech(near), 100, 0)
    assert v.state == "speech"  # a low floor lets quiet speech count
    feed(FrameSymbol(1, Kind.STATIONARY), 500, 100)
    feed(FrameSymbol(MID, Kind.TRANSIENT), 10_000, 600)
    assert v.state == "silence" and floor.band > start
    high = floor.band
    feed(FrameSymbol(0, Kind.STATIONARY), 60_000, 10_600)
    assert floor.band == high  # exact zeros never bring it down
    feed(FrameSymbol(2, Kind.STATIONARY), 100, 70_600)
    assert floor.band == high  # a short quiet moment does not
    feed(speech(near), 50, 70_700)
    assert v.state == "silence"  # quiet speech no longer stands above the floor
    feed(FrameSymbol(2, Kind.STATIONARY), 100, 70_750)
    assert floor.band == 2  # 200 ms of quieter audio brings it down
    feed(speech(near), 100, 70_850)
    assert v.state == "speech"


def test_floor_adapt_is_never_deaf_to_speech_at_the_base_edge():
    """The artefact fixed: a floor at the top band no longer makes loud speech inaudible."""
    v = vad("floor-adapt")
    floor = AdaptiveFloor(v.hypotheses, SCALE)

    def feed(symbol, duration_ms, audio_pos_ms):
        floor.hear(symbol, v.feed(symbol, duration_ms, audio_pos_ms, floor.band), duration_ms)

    feed(FrameSymbol(MID, Kind.TRANSIENT), 20_000, 0)
    assert floor.band >= QUIET  # the floor is at the top band
    feed(speech(MID), 100, 20_000)
    assert v.state == "speech"


def test_floor_climbs_toward_louder_noise_one_band_per_rise():
    floor = AdaptiveFloor(ServerVadHypotheses.parse("floor-adapt"), SCALE)
    loud_noise = FrameSymbol(MID, Kind.STATIONARY)
    floor.hear(loud_noise, FrameClass.SILENCE, 500)
    assert floor.state == "climbing" and floor.running_timers() == ("floor_climb",)
    band = floor.band
    floor.expire_timer("floor_climb")
    assert floor.band == band + 1


def test_clear_keeps_vad_is_a_session_level_flag():
    assert ServerVadHypotheses.parse("clear-keeps-vad").has("clear-keeps-vad")
    with pytest.raises(ValueError):
        ServerVadHypotheses.parse("energy,bogus")


# -- server: responses ---------------------------------------------------------------
def test_response_lifecycle_completes_and_rejects_a_second_create():
    r = ResponseLifecycle()
    r.start("resp_1", "item_1", 1_000)
    types = [e["type"] for e in r.drain()]
    assert types[0] == "response.created" and types[-1] == "response.content_part.added"
    r.start("resp_2", "item_2", 1_000)
    assert r.drain()[0]["error"]["code"] == protocol.ALREADY_ACTIVE
    assert r.response_id == "resp_1"
    r.advance(300 + 250)  # first audio after 300 ms, then 4x real time
    r.advance(1_000)
    out = r.drain()
    assert [e["type"] for e in out][:2] == ["response.output_audio.delta"] * 2
    assert out[-1]["type"] == "response.done" and out[-1]["response"]["status"] == "completed"
    assert r.state == "idle"


def test_cancel_turn_detected_and_cancel_when_idle():
    r = ResponseLifecycle()
    r.cancel("client_cancelled")
    assert r.drain()[0]["error"]["code"] == protocol.CANCEL_NOT_ACTIVE
    r.start("resp_1", "item_1", 5_000)
    r.drain()
    r.cancel("turn_detected")
    done = r.drain()[-1]
    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"]["reason"] == "turn_detected"


# -- declarations ----------------------------------------------------------------------
@pytest.mark.parametrize("machine", declared_machines(), ids=lambda m: m.NAME)
def test_every_declared_transition_names_declared_states(machine):
    states = set(machine.STATES)
    assert machine.INITIAL in states
    for t in machine.TRANSITIONS:
        sources = t["source"] if isinstance(t["source"], list) else [t["source"]]
        assert all(s == "*" or s in states for s in sources), t
        assert t["dest"] is None or t["dest"] in states, t


# -- the lean event dispatch is transitions' own semantics ------------------------------
def _build(machine_cls, machine_class):
    """An instance of `machine_cls` run by `machine_class` (stock or lean)."""
    variant = type(machine_cls.__name__, (machine_cls,), {"MACHINE_CLASS": machine_class})
    args = {
        VadGate: ("zeros", MID, 0, 300, 100),
        Playback: (LOUD,),
        StuckVadWatchdog: (30_000,),
        LivenessWatchdog: (3_000, 2_000, protocol.turn_detection_config()),
        CaptureHealthWatchdog: (5_000, 2),
        ServerVad: (ServerVadHypotheses.parse("floor-adapt"), SCALE),
        SemanticVad: (ServerVadHypotheses.parse("floor-adapt"), SCALE, "high"),
        AdaptiveFloor: (ServerVadHypotheses.parse("floor-adapt"), SCALE),
        OutputAudioBuffer: (lambda: 500, lambda: False),
        IdleTimeout: (lambda: True,),
        SessionLimit: (1_000,),
        WatchdogRule: ("no_server_event_while_sending", 500,
                       ("session_update", "commit_or_clear", "reconnect", "notify"),
                       protocol.turn_detection_config()),
    }.get(machine_cls, ())
    return variant(*args)


def _observe(machine):
    return (machine.snapshot(), [repr(o) for o in machine.drain()], list(machine.changes))


@pytest.mark.parametrize("machine_cls", declared_machines(), ids=lambda m: m.NAME)
def test_lean_dispatch_matches_stock_transitions(machine_cls):
    """Random trigger sequences give the same states, data, outputs and recorded changes
    whether the table runs on transitions' stock `Event` or on `LeanEvent`."""
    from hypothesis import given, settings, strategies as st
    from transitions import Machine

    from vadlock.model.machine import LeanEvent

    assert machine_cls.MACHINE_CLASS.event_cls is LeanEvent
    triggers = sorted({t["trigger"] for t in machine_cls.TRANSITIONS})

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.tuples(st.sampled_from(triggers), st.integers(0, 600)), max_size=30))
    def run(steps):
        stock, lean = _build(machine_cls, Machine), _build(machine_cls, machine_cls.MACHINE_CLASS)
        for trigger, ms in steps:
            outcomes = []
            for machine in (stock, lean):
                try:
                    takes = machine_cls.TRIGGER_ARGS.get(trigger, ())
                    result = getattr(machine, trigger)(**{name: ms for name in takes})
                except MachineError:
                    result = "MachineError"
                outcomes.append((result, *_observe(machine)))
            assert outcomes[0] == outcomes[1], trigger

    run()


def test_an_abstract_snapshot_leaves_out_ids_and_loads_them_as_new():
    r = ResponseLifecycle()
    r.start("resp_1", "item_1", 4_000)
    r.advance(1_000)
    snap = r.abstract_snapshot()
    assert snap == ("in_progress", True)  # generated audio: a running timer, no ids
    other = ResponseLifecycle()
    other.start("resp_9", "item_9", 9_000)
    other.load_abstract_snapshot(snap)
    assert (other.state, other.generated_ms) == ("in_progress", 1)
    assert (other.response_id, other.item_id, other.index) == ("", "", -1)
    assert other.total_ms == ResponseLifecycle.ABSTRACT_TOTAL_MS  # a little audio to come
