"""The explorer's reductions and fast paths change how it runs, not what it finds."""

import pytest

from vadlock.model.designs import get_design
from vadlock.model.hypotheses import FLOOR_FALL_MS, FrameClass, ServerVadHypotheses
from vadlock.model.server.floor import AdaptiveFloor
from vadlock.model.server.vad import ServerVad
from vadlock.model.symbols import FrameSymbol, Kind
from vadlock.properties.explore import ProductModel, explore

SCALE = get_design("production").level_scale


def _symbols():
    return [FrameSymbol(level, kind) for level in range(SCALE.count) for kind in Kind]


@pytest.mark.parametrize("server", ["energy", "floor-adapt", "deadband", "zero-skip",
                                    "noise-as-speech", "floor-adapt,deadband"])
def test_symbols_alike_in_decisions_are_alike_to_the_server_vad_and_floor(server):
    """Two symbols the explorer merges (the same `decisions`) leave the VAD and the floor
    in the very same exact state, from every state of both."""
    h = ServerVadHypotheses.parse(server)
    symbols = _symbols()
    merged = 0
    for a in symbols:
        for b in symbols:
            if a >= b or h.decisions(a, SCALE) != h.decisions(b, SCALE):
                continue
            merged += 1
            for in_speech in (False, True):
                for band in range(1, 5):
                    for run_ms in (0, 20, 480):
                        after = []
                        for symbol in (a, b):
                            vad, floor = ServerVad(h, SCALE), AdaptiveFloor(h, SCALE)
                            vad.state = "speech" if in_speech else "silence"
                            vad.silence_run_ms, floor.band = run_ms, band
                            floor.hear(symbol, vad.feed(symbol, 20, 0, floor.band), 20)
                            after.append((vad.snapshot(), floor.snapshot(), vad.drain()))
                        assert after[0] == after[1], (a, b, in_speech, band)
    assert merged  # the merge is not empty


def test_the_decisions_merge_quiet_speech_with_noise_only_where_no_edge_tells_them_apart():
    quiet = SCALE.level_of(0.003, False)  # -50 dBFS: below the base speech edge
    speech, noise = FrameSymbol(quiet, Kind.SPEECH), FrameSymbol(quiet, Kind.STATIONARY)
    energy, floor = ServerVadHypotheses.parse("energy"), ServerVadHypotheses.parse("floor-adapt")
    assert energy.decisions(speech, SCALE) == energy.decisions(noise, SCALE)
    # an adaptive floor at a low band lets quiet speech count: kept apart
    assert floor.decisions(speech, SCALE) != floor.decisions(noise, SCALE)


def test_the_floor_fall_is_a_declared_timer_that_falls_to_the_quieter_band():
    h = ServerVadHypotheses.parse("floor-adapt")
    quiet = FrameSymbol(SCALE.level_of(0.0001, False), Kind.STATIONARY)  # band 1
    floor = AdaptiveFloor(h, SCALE)
    start = floor.band
    floor.hear(quiet, FrameClass.SILENCE, FLOOR_FALL_MS // 2)
    assert floor.band == start and floor.running_timers() == ("floor_fall",)
    floor.expire_timer("floor_fall")
    assert floor.band == h.server_band(quiet, SCALE) < start
    assert floor.running_timers() == () and floor.fall_band == 0
    # in the simulator the audio itself runs it out: the same fall, after FLOOR_FALL_MS
    counted = AdaptiveFloor(h, SCALE)
    for _ in range(FLOOR_FALL_MS // 20):
        counted.hear(quiet, FrameClass.SILENCE, 20)
    assert counted.snapshot() == floor.snapshot()


@pytest.mark.parametrize("design, server, fifo_len", [
    ("production", "energy", 1), ("recommended", "floor-adapt", 1),
    ("liveness-watchdog", "clear-keeps-vad", 2), ("webrtc", "energy", 1)])
def test_the_network_fast_paths_agree_with_the_fifo_rules(design, server, fifo_len):
    """Every edge of the network graph, as the fast paths compute it and as `_Wire`'s
    rules do."""
    model = ProductModel(get_design(design), ServerVadHypotheses.parse(server), ("network",),
                         fifo_len=fifo_len)
    frontier, seen, checked = [model.initial()], set(), 0
    while frontier:
        state = frontier.pop()
        if state in seen:
            continue
        seen.add(state)
        for _, _, move in model.moves(state):
            fast = model.apply(state, move)
            assert fast == model._network_step(state, move), (state, move)
            checked += 1
            if fast is not None:
                frontier.append(fast[0])
    assert len(seen) > 1_000 and checked > len(seen)


def test_explore_reports_depth_and_freezes_as_before_on_a_known_freeze():
    """The production freeze under capture faults: found at depth one (the capture becomes
    muted), as the BFS order guarantees."""
    result = explore(get_design("production"), ServerVadHypotheses.parse("energy"),
                     ("capture",), confirm=False)
    assert result.freeze_states and result.traps
    assert len(result.path) == 1 and result.path[0].kind == "fault"
    assert result.depth >= 1


@pytest.mark.parametrize("reply, reconnect", [(True, False), (False, True), (True, True)])
def test_a_client_reply_to_a_delivery_takes_the_same_path_both_ways(reply, reconnect):
    """No design's client answers a delivered batch in the network graphs today; plant
    one (an append, or a reconnect) and both ways must still agree, with the uplink empty
    and full."""
    model = ProductModel(get_design("recommended"), ServerVadHypotheses.parse("energy"),
                         ("network",))
    frontier, seen, planted = [model.initial()], set(), set()
    append = next(eid for eid, event in enumerate(model._event_dicts)
                  if event["type"] == "input_audio_buffer.append")
    while frontier and len(seen) < 3000:
        state = frontier.pop()
        if state in seen:
            continue
        seen.add(state)
        cid, _, _, up, down, _ = state
        if down:
            key = ("client-batch", cid, down[0])
            after = model._client_batch(cid, down[0])
            model._batches[key] = (after[0], (append,) if reply else (), reconnect, after[3])
            step = ("deliver", "down")
            assert model.apply(state, step) == model._network_step(state, step), state
            planted.add(len(up))
            model._batches[key] = after
        for _, _, move in model.moves(state):
            applied = model.apply(state, move)
            if applied is not None:
                frontier.append(applied[0])
    assert planted == {0, 1}  # both with room on the uplink and without
