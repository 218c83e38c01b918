"""The engine end to end: canonical event order, production vs development, determinism."""

import json

import numpy as np
import pytest

from vadlock.model.client.session import ClientSession
from vadlock.model.designs import DEVELOPMENT, PRODUCTION, get_design
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.model.server.session import ServerSession
from vadlock.model.symbols import FrameSymbol, Kind
from vadlock.simulator.engine import SimulationError, simulate
from vadlock.simulator.presets import preset
from vadlock.simulator.scenario import CaptureFault, Scenario, Typing, Utterance
from vadlock.simulator.trace import C2S, S2C

ENERGY = ServerVadHypotheses.parse("energy")

CANONICAL = [
    "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
    "input_audio_buffer.committed", "response.created", "response.output_audio.delta",
    "response.output_audio.done", "response.done",
]


def first_turn_types(trace):
    types = [r.type for r in trace.events(S2C)]
    return [t for t in types if t in CANONICAL]


def test_normal_conversation_follows_the_canonical_order_with_plausible_timings():
    trace = simulate(PRODUCTION, ENERGY, preset("conversation", 30_000), seed=0)
    order = first_turn_types(trace)
    turn = []
    for t in order:  # collapse delta runs
        if not turn or turn[-1] != t:
            turn.append(t)
    assert turn[:7] == CANONICAL
    s2c = {r.type: r.t_ms for r in reversed(list(trace.events(S2C)))}  # first occurrence
    onset = trace.utterances[0].start_ms
    assert 0 < s2c["input_audio_buffer.speech_started"] - onset < 500
    stop_after_end = s2c["input_audio_buffer.speech_stopped"] - (
        onset + trace.utterances[0].duration_ms)
    assert 500 <= stop_after_end < 1_000  # silence_duration_ms 500 plus transport latency
    assert s2c["response.output_audio.delta"] - s2c["response.created"] < 1_000
    summary = trace.summary()
    assert summary["heard"] == summary["utterances"] == summary["responses"] == 3


def test_gate_zeros_quiet_chunks_in_production_only():
    scenario = preset("conversation", 12_000)
    prod = simulate(PRODUCTION, ENERGY, scenario, seed=0)
    dev = simulate(DEVELOPMENT, ENERGY, scenario, seed=0)
    prod_sent, dev_sent = prod.chunks["sent"], dev.chunks["sent"]
    assert set(dev_sent) == {"raw"}
    quiet = [i for i, r in enumerate(prod.chunks["rms"]) if r < 0.03]
    loud = [i for i, r in enumerate(prod.chunks["rms"]) if r >= 0.03]
    assert quiet and loud
    assert all(prod_sent[i] == "zeros" for i in quiet)
    assert all(prod_sent[i] == "raw" for i in loud)


def barge_in_scenario(level_dbfs):
    # a turn, then the user talks over the reply at the given level
    return Scenario(
        name="barge-in", duration_ms=14_000, room_noise_dbfs=-50.0,
        utterances=(Utterance(1_000, 1_800), Utterance(4_800, 1_500, level_dbfs)),
        response_audio_ms=(6_000,))


@pytest.mark.parametrize("design, interrupts", [(DEVELOPMENT, True), (PRODUCTION, False)])
def test_a_0_05_rms_barge_in_interrupts_in_development_not_in_production(design, interrupts):
    trace = simulate(design, ENERGY, barge_in_scenario(-26.0), seed=0)  # RMS 0.05
    truncates = list(trace.events(C2S, "conversation.item.truncate"))
    assert bool(truncates) is interrupts
    cancelled = [r for r in trace.events(S2C, "response.done")
                 if r.event["response"]["status"] == "cancelled"]
    assert cancelled  # the server cancels on speech_started either way
    if interrupts:
        played = truncates[0].event["audio_end_ms"]
        assert 0 < played <= 6_000


def test_watchdog_clears_after_30_s_of_unended_speech():
    # zero-skip: the gate's zeros never end speech, so the production watchdog fires
    zero_skip = ServerVadHypotheses.parse("zero-skip")
    scenario = Scenario(name="one-turn", duration_ms=40_000, utterances=(Utterance(1_000, 2_000),))
    trace = simulate(PRODUCTION, zero_skip, scenario, seed=0)
    started = next(trace.events(S2C, "input_audio_buffer.speech_started")).t_ms
    clear = next(trace.events(C2S, "input_audio_buffer.clear")).t_ms
    assert clear - started == pytest.approx(30_000, abs=20)
    assert next(trace.events(S2C, "input_audio_buffer.cleared")).t_ms > clear
    dev = simulate(DEVELOPMENT, zero_skip, scenario, seed=0)
    assert not list(dev.events(C2S, "input_audio_buffer.clear"))


def test_same_seed_same_bytes_different_seed_different_bytes():
    scenario = preset("typing-during-reply", 20_000)
    a = simulate(PRODUCTION, ENERGY, scenario, seed=7).jsonl_bytes()
    b = simulate(PRODUCTION, ENERGY, scenario, seed=7).jsonl_bytes()
    c = simulate(PRODUCTION, ENERGY, scenario, seed=8).jsonl_bytes()
    assert a == b
    assert a != c


def test_jsonl_lines_have_the_documented_shape(tmp_path):
    trace = simulate(PRODUCTION, ENERGY, preset("conversation", 8_000), seed=0)
    path = trace.write_jsonl(tmp_path / "t.jsonl")
    lines = path.read_text().splitlines()
    assert len(lines) == len(trace.wire)
    for line in lines:
        rec = json.loads(line)
        assert set(rec) == {"t_ms", "direction", "event"}
        assert rec["direction"] in (C2S, S2C) and isinstance(rec["t_ms"], int)


def test_tick_must_divide_the_chunk():
    with pytest.raises(SimulationError):
        simulate(PRODUCTION, ENERGY, preset("conversation", 5_000), tick_ms=30)
    short = simulate(PRODUCTION, ENERGY, preset("conversation", 12_000), tick_ms=20)
    assert short.summary()["heard"] == 1


def test_typing_clicks_pass_the_gate_sometimes():
    scenario = Scenario(name="typing", duration_ms=6_000, typing=(Typing(500, 5_000),))
    trace = simulate(PRODUCTION, ENERGY, scenario, seed=0)
    assert "raw" in trace.chunks["sent"] and "zeros" in trace.chunks["sent"]
    assert Kind.TRANSIENT in trace.frames["kind"]  # the server heard clicks


def test_client_and_server_sessions_round_trip_without_audio():
    """wsproto-style: feed one side's output straight into the other."""
    client, server = ClientSession(PRODUCTION), ServerSession(ENERGY, PRODUCTION.level_scale)
    inbox = server.start()
    for event in client.start():
        inbox += server.receive(event)
    speech = FrameSymbol(PRODUCTION.level_scale.threshold_level("gate"), Kind.SPEECH)
    quiet = FrameSymbol(1, Kind.STATIONARY)
    for level_symbol in [speech] * 10 + [quiet] * 8:
        mode, events = client.on_chunk(level_symbol.level, 100)
        sent = level_symbol if mode == "raw" else FrameSymbol(0, Kind.STATIONARY)
        for event in events:
            inbox += server.receive(event, [(sent, 100)])
    for _ in range(200):
        inbox += server.advance(10)
        for event in inbox:
            for reply in client.receive(event):
                server.receive(reply)
        inbox = []
        client.advance(10)
    assert client.beliefs.state == "listening"
    assert server.response.state == "idle" and client.playback.state in ("playing", "idle")
    assert client.watchdog.state == "disarmed"
    assert client.errors == []


def test_webrtc_server_owns_playback_and_truncates_on_barge_in():
    from vadlock.model.designs import WEBRTC
    trace = simulate(WEBRTC, ENERGY, barge_in_scenario(-20.0), seed=0)
    types = [r.type for r in trace.events(S2C)]
    assert "output_audio_buffer.started" in types
    assert "output_audio_buffer.cleared" in types
    truncated = next(trace.events(S2C, "conversation.item.truncated"))
    assert 0 < truncated.event["audio_end_ms"] < 6_000
    assert not list(trace.events(C2S, "conversation.item.truncate"))
    normal = simulate(WEBRTC, ENERGY, preset("conversation", 20_000), seed=0)
    stopped = next(normal.events(S2C, "output_audio_buffer.stopped")).t_ms
    done = next(normal.events(S2C, "response.done")).t_ms
    assert stopped > done  # the buffer drains after generation is done


def test_webrtc_sends_comfort_noise_not_zeros():
    from vadlock.model.designs import WEBRTC
    from vadlock.simulator.engine import Engine
    scenario = Scenario(name="disabled", duration_ms=3_000,
                        capture_faults=(CaptureFault(0, "disabled"),))
    engine = Engine(WEBRTC, ENERGY, scenario, seed=0)
    heard = []
    original = engine.server.receive_audio
    engine.server.receive_audio = lambda frames: heard.extend(frames) or original(frames)
    engine.run()
    assert heard and all(symbol.level > 0 for symbol, _ in heard)


def test_pre_roll_gate_keeps_word_onsets():
    from vadlock.model.designs import HYSTERESIS_GATE
    scenario = preset("conversation", 12_000)
    plain = simulate(PRODUCTION, ENERGY, scenario, seed=0)
    preroll = simulate(HYSTERESIS_GATE, ENERGY, scenario, seed=0)
    onset = scenario.utterances[0].start_ms
    preroll_ms = HYSTERESIS_GATE.gate.preroll_chunks * HYSTERESIS_GATE.chunk_ms
    assert preroll_ms > 0
    before = [i for i, t in enumerate(plain.chunks["t_ms"]) if onset - preroll_ms <= t < onset]
    assert all(plain.chunks["sent"][i] == "zeros" for i in before)
    assert all(preroll.chunks["sent"][i] == "raw" for i in before)
    assert preroll.summary()["heard"] == plain.summary()["heard"]


@pytest.mark.parametrize("design, server, preset_name", [
    ("production", "energy", "field-report"), ("production", "zero-skip", "typing-during-reply"),
    ("development", "floor-adapt", "app-switch"), ("recommended", "energy", "field-report"),
    ("idle-timeout", "energy", "conversation"), ("liveness-watchdog", "zero-skip", "field-report"),
    ("webrtc", "energy", "app-switch"), ("capture-health", "energy", "app-switch")])
def test_fast_forward_through_quiet_ticks_is_exact(design, server, preset_name):
    """Skipping ticks in which nothing can happen gives the very same trace as running
    every tick: the same wire bytes, transitions, notices, chunks and decoded frames."""
    from vadlock.simulator.engine import Engine
    scenario = preset(preset_name, 70_000)
    runs = [Engine(get_design(design), ServerVadHypotheses.parse(server), scenario, seed=3,
                   fast_forward=fast).run() for fast in (True, False)]
    fast, slow = runs
    assert fast.jsonl_bytes() == slow.jsonl_bytes()
    assert fast.transitions == slow.transitions and fast.notices == slow.notices
    assert fast.chunks == slow.chunks and fast.frames == slow.frames


def test_liveness_ladder_climbs_past_its_own_acknowledgements_to_a_reconnect():
    """A server that stays deaf (zero-skip + clear-keeps-vad behind the zeroing gate)
    answers the ladder's session.update and commit; the ladder must not take those replies
    for recovery: it climbs to a reconnect, replays the conversation it knows, and the new
    session hears the user again."""
    from vadlock.simulator.scenario import Segment
    scenario = Scenario(
        name="deaf", duration_ms=130_000, room_noise_dbfs=-60.0,
        utterances=(Utterance(1_000, 1_800), Utterance(11_000, 1_800),
                    *(Utterance(t, 1_800, -20.0) for t in range(24_000, 126_000, 6_000))),
        segments=(Segment(20_000, 600, "speech", -20.0),))
    trace = simulate(get_design("liveness-watchdog"),
                     ServerVadHypotheses.parse("zero-skip,clear-keeps-vad"), scenario, seed=1)
    notices = [text for _, text in trace.notices]
    assert any("re-applying turn_detection" in n for n in notices)
    assert any("reconnecting" in n for n in notices) and trace.reconnects >= 1
    reconnect_ms = next(trace.events(C2S, "conversation.item.create")).t_ms
    replayed = [r.event["item"]["role"] for r in trace.events(C2S, "conversation.item.create")
                if r.t_ms == reconnect_ms]
    known = [r.event["item"]["role"] for r in trace.events(S2C, "conversation.item.done")
             if r.t_ms < reconnect_ms]
    assert known and replayed == known  # the first reconnect replays what was known, in order
    assert any(r.t_ms > reconnect_ms for r in trace.events(S2C, "input_audio_buffer.speech_started"))


@pytest.mark.parametrize("server", ["energy", "zero-skip,clear-keeps-vad", "floor-adapt",
                                    "deadband", "noise-as-speech"])
@pytest.mark.parametrize("design", ["development", "production", "comfort-noise-gate"])
def test_judging_kinds_only_where_they_matter_changes_nothing(design, server):
    """The engine judges a frame's kind only from the level at which the hypotheses can
    tell kinds apart; judging every frame gives the same wire bytes and transitions."""
    from vadlock.simulator.engine import Engine
    scenario = preset("typing-during-reply", 40_000)
    lazy, every = (Engine(get_design(design), ServerVadHypotheses.parse(server), scenario,
                          seed=5, judge_all_kinds=flag).run() for flag in (False, True))
    assert lazy.jsonl_bytes() == every.jsonl_bytes()
    assert lazy.transitions == every.transitions and lazy.notices == every.notices
    assert lazy.chunks == every.chunks


def test_quantizing_is_the_pcm16_round_trip_bit_for_bit():
    from vadlock.simulator import audio
    rng = np.random.default_rng(0)
    samples = np.concatenate([audio.speech(3_000, 0.3, rng) * 4,  # clipping, both signs
                              audio.pink_noise(48_000, 0.01, rng),
                              np.array([1.5, -1.5, 2.5 / 32767, -2.5 / 32767], np.float32)])
    assert np.array_equal(audio.quantize_pcm16(samples),
                          audio.from_pcm16(audio.to_pcm16(samples)))


def test_design_variants_are_named_and_run():
    from vadlock.model.designs import UnknownDesign
    from vadlock.cli import main
    variant = get_design("production+silence200ms+chunk20ms")
    assert (variant.name, variant.chunk_ms, variant.silence_duration_ms) == \
        ("production+chunk20ms+silence200ms", 20, 200)
    assert get_design("production+lag1").gate.lag_chunks == 1
    for bad in ("production+lag2", "production+chunk25ms", "production+fast", "nope+lag1"):
        with pytest.raises(UnknownDesign):
            get_design(bad)
    trace = simulate(variant, ENERGY, preset("conversation", 12_000), seed=0)
    appends = [r for r in trace.events(C2S, "input_audio_buffer.append")]
    assert len(appends) == 12_000 // 20 and trace.summary()["heard"] == 1
    assert main(["simulate", "--design", "production", "--chunk-ms", "20", "--silence-duration-ms",
                 "200", "--preset", "conversation", "--duration-s", "12", "--json"]) == 0
    assert main(["simulate", "--design", "production", "--gate-lag-chunks", "2"]) == 2


def test_a_chunk_partly_suspended_is_as_long_as_what_was_captured():
    import base64
    scenario = Scenario(name="suspend", duration_ms=3_000,
                        capture_faults=(CaptureFault(1_030, "suspended", 40),))
    trace = simulate(PRODUCTION, ENERGY, scenario, seed=0)
    lengths = {r.t_ms: len(base64.b64decode(r.event["audio"])) // 2
               for r in trace.events(C2S, "input_audio_buffer.append")}
    assert lengths[1_100] == 60 * 24  # 40 of the chunk's 100 ms were never captured
    assert lengths[1_000] == lengths[1_200] == 100 * 24
