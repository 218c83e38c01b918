"""Turn an explorer path into a scenario, replay it in the full simulator, and judge it.

Two good turns come first (the explorer's initial state is the quiet state a session is in
between turns). Then each block step becomes 100 ms of explicit audio (a `segments` entry:
speech, typing or noise at the block's level); a timer expiry becomes the wait the real
timer needs (what its machine declares, `ProtocolMachine.real_wait`); capture-fault steps
become capture faults (for the 60-minute session limit, the steps before it are moved to
end at the limit). Network steps (the network class) become the simulator's network: a
stall until it resumes, a latency spike as long as the stall; a drop, a `ConnectionDrop`; a
block lost on the media track, a `MediaLoss`; and events in flight across blocks, a latency
per direction as long as the most batches the path ever had in flight that way (the
simulator's delay is per direction, not per event: an approximation the replay's verdict
judges). A fair tail follows: 60 s of the user speaking clearly every 9 s in a quiet room.
The counterexample is *confirmed* when the full simulation violates the `recovery`
property — the same freeze verdict search uses.
"""

from __future__ import annotations

from pathlib import Path

from vadlock.model.client.session import ClientSession
from vadlock.model.designs import Design
from vadlock.model.hypotheses import FLOOR_RISE_MS, ServerVadHypotheses
from vadlock.model.machine import WaitInput
from vadlock.model.server.session import ServerSession
from vadlock.model.server.session_limit import MAX_SESSION_MS
from vadlock.model.symbols import FrameSymbol, Kind, LevelScale
from vadlock.properties.checks import FREEZE_PROPERTY, check
from vadlock.simulator import audio
from vadlock.simulator.engine import simulate
from vadlock.simulator.scenario import (CaptureFault, ConnectionDrop, LatencySpike, MediaLoss,
                                        Network, Scenario, Segment, Utterance)

TAIL_MS = 60_000
TAIL_PERIOD_MS = 9_000
# the audio that supplies each `WaitInput`: (segment kind, level dBFS)
WAIT_AUDIO = {WaitInput.QUIET: ("noise", -50.0), WaitInput.SPEECH: ("speech", -22.0),
              WaitInput.NEAR_SILENCE: ("noise", -80.0)}


def timer_waits(design: Design) -> dict[str, tuple[str, float, int]]:
    """What each timer of the design's machines needs to fire in a real run, as its machine
    declares it: {timer: (kind of audio, level dBFS, how long)}."""
    client = ClientSession(design)
    server = ServerSession(ServerVadHypotheses(), design.level_scale,
                           dict(client.turn_detection), owns_output_buffer=client.webrtc)
    waits = {}
    for machine in (*client.machines, *server.machines):
        for timer in machine.TIMERS:
            wait_input, wait_ms = machine.real_wait(timer)
            waits[timer.name] = (*WAIT_AUDIO[wait_input], wait_ms)
    return waits


def block_segment(symbol: FrameSymbol, scale: LevelScale) -> tuple[str, float]:
    """How a block of `symbol` is rendered as audio (a `Segment`'s kind and level): speech,
    typing (its click peak 12 dB over the level's RMS) or noise, at the level's
    representative RMS. The replay and the engine tables (`analysis.measure`) both render
    symbols with it."""
    rms = scale.representative_rms(symbol.level)
    kind = {Kind.SPEECH: "speech", Kind.TRANSIENT: "typing",
            Kind.STATIONARY: "noise"}[symbol.kind]
    level = audio.rms_to_dbfs(rms * (4.0 if kind == "typing" else 1.0))
    return kind, round(max(-120.0, min(0.0, level)), 1)


GOOD_TURNS = 2  # the replay starts as the report's sessions do: a few good turns


def _until_session_limit(design: Design, path, block_ms: int) -> int | None:
    """The audio the path's steps take before its session-limit expiry (None: it has
    none)."""
    total, waits = 0, timer_waits(design)
    for step in path:
        if step.kind == "expire" and step.timer == "session_limit":
            return total + waits["session_limit"][2]
        if step.kind == "expire":
            total += FLOOR_RISE_MS if step.timer == "floor_climb" else waits[step.timer][2]
        elif step.kind == "block":
            total += block_ms
    return None


def path_to_scenario(design: Design, path, block_ms: int,
                     in_flight: tuple[int, int] = (0, 0)) -> Scenario:
    """`in_flight`: the most batches the path had in flight (uplink, downlink)."""
    scale = design.level_scale
    good = [Utterance(1_000 + 10_000 * i, 1_800, -22.0) for i in range(GOOD_TURNS)]
    t = 10_000 * GOOD_TURNS
    segments: list[Segment] = [Segment(0, t, "noise", -50.0)]
    faults: list[CaptureFault] = []
    waits = timer_waits(design)

    def add(kind: str, level_dbfs: float, duration_ms: int) -> None:
        last = segments[-1] if segments else None
        if last and last.kind == kind and last.level_dbfs == level_dbfs and \
                last.start_ms + last.duration_ms == t:
            segments[-1] = Segment(last.start_ms, last.duration_ms + duration_ms, kind, level_dbfs)
        else:
            segments.append(Segment(t, duration_ms, kind, level_dbfs))

    # the session limit counts from the session's start: the steps before its expiry are
    # moved, after quiet, to end at the limit, so that it runs out where the path says
    before_ms = _until_session_limit(design, path, block_ms)
    if before_ms is not None and t + before_ms < MAX_SESSION_MS:
        add("noise", -50.0, MAX_SESSION_MS - before_ms - t)
        t = MAX_SESSION_MS - before_ms
    previous = None  # the last loud non-speech block: what drives a floor climb
    spikes: list[LatencySpike] = []
    drops: list[ConnectionDrop] = []
    losses: list[MediaLoss] = []
    stalled_at = None
    for step in path:
        if step.kind == "deliver":
            continue
        if step.kind == "network":
            if stalled_at is not None and t > stalled_at:  # the stall ends: resumes or drops
                spikes.append(LatencySpike(stalled_at, t - stalled_at, t - stalled_at))
            stalled_at = t if step.net == "stall" else None
            if step.net == "drop":
                drops.append(ConnectionDrop(t))
            continue
        if step.net == "lost":
            losses.append(MediaLoss(t, block_ms))
        if step.kind == "expire":
            if step.timer == "floor_climb" and previous is not None:
                # the audio that drives the climb goes on for the climb's 2 s
                add(*previous[:2], FLOOR_RISE_MS)
                t += FLOOR_RISE_MS
            else:
                kind, level, wait_ms = waits[step.timer]
                if wait_ms:
                    add(kind, level, wait_ms)
                    t += wait_ms
            continue
        if step.kind == "fault":
            if step.fault == "end" and faults:
                last = faults[-1]
                faults[-1] = CaptureFault(last.start_ms, last.kind, max(1, t - last.start_ms),
                                          last.cause)
            elif step.fault != "end":
                faults.append(CaptureFault(t, step.fault.split(":")[1]))
            continue
        symbol = step.symbol
        rms = scale.representative_rms(symbol.level)
        kind, level = block_segment(symbol, scale)
        add(kind, level, block_ms)
        if symbol.kind is not Kind.SPEECH and (previous is None or symbol.level >= previous[2]):
            # a climb needs every 10 ms frame above the floor: steady noise, not clicks
            previous = ("noise", round(audio.rms_to_dbfs(rms), 1), symbol.level)
        t += block_ms
    tail_start = t + 1_000
    add("noise", -50.0, 1_000)
    t = tail_start
    utterances = list(good)
    while t < tail_start + TAIL_MS - 3_000:
        utterances.append(Utterance(t, 1_800, -22.0))
        t += TAIL_PERIOD_MS
    segments.append(Segment(tail_start, TAIL_MS, "noise", -50.0))
    if stalled_at is not None:  # a stall the path leaves in force: it ends with the tail
        spikes.append(LatencySpike(stalled_at, tail_start - stalled_at, tail_start - stalled_at))
    base = Network()
    network = Network(
        uplink_latency_ms=max(base.uplink_latency_ms, in_flight[0] * block_ms),
        downlink_latency_ms=max(base.downlink_latency_ms, in_flight[1] * block_ms),
        spikes=tuple(spikes), drops=tuple(drops), media_losses=tuple(losses))
    return Scenario(name="explore", duration_ms=tail_start + TAIL_MS,
                    utterances=tuple(utterances), capture_faults=tuple(faults),
                    segments=tuple(segments), room_noise_dbfs=-120.0, network=network)


def confirm_path(design: Design, hypotheses: ServerVadHypotheses, path, model, seed: int,
                 out_dir: str | Path | None):
    """Replay an explorer path in the full simulator: (confirmed, saved scenario, trace)."""
    scenario = path_to_scenario(design, path, model.block_ms, _in_flight(model, path))
    trace = simulate(design, hypotheses, scenario, seed=seed)
    confirmed = bool(check(trace, (FREEZE_PROPERTY,)))
    saved = None
    if out_dir is not None:
        from dataclasses import replace
        scenario = replace(scenario, seed=seed, description=(
            f"explorer counterexample for design {design.name}, server {hypotheses.label}: "
            f"{'confirmed' if confirmed else 'spurious'} in the full simulator"))
        name = f"explore__{design.name}__{hypotheses.label.replace(',', '+')}.json"
        saved = scenario.save(Path(out_dir) / name)
    return confirmed, saved, trace


def _in_flight(model, path) -> tuple[int, int]:
    """The most batches in flight along `path`, per direction (0, 0 without the network
    class)."""
    if not model.network:
        return 0, 0
    state, most = model.initial(), [0, 0]
    for step in path:
        state, _ = model.successor(state, step)
        if len(state) == 6:
            most = [max(most[0], len(state[3])), max(most[1], len(state[4]))]
    return most[0], most[1]
