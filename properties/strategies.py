"""Hypothesis strategies over scenarios, shaped like the field report.

Every generated scenario has three phases:
1. *good turns*: 2-4 ordinary turns, one every 10 s (the report's "works for several turns");
2. *incidents* within ~10 s: keyboard typing, a loud noise (a fan, a vacuum cleaner, music:
   steady noise at -40..-20 dBFS for 1-10 s), a barge-in, a capture fault (mute, attenuate,
   disable, suspend; caused by an application switch or not; with an end or for good),
   a latency spike — which kinds are allowed is the fault class; the `server` class adds a
   server fault (a stall, a failed response or an expired session) after one of the good
   turns, on the first connection;
3. a *fair tail* of 60 s: no new fault, the user speaks clearly every 8-10 s.
Room noise and echo level vary throughout. The tail is what lets the `recovery` property
tell a frozen session from a slow one.
"""

from __future__ import annotations

from hypothesis import strategies as st

from vadlock.model.client.capture import FAULTS
from vadlock.simulator.scenario import (SEARCHED_SERVER_FAULT_KINDS, CaptureFault, LatencySpike,
                                        Network, Scenario, Segment, ServerFault, Typing, Utterance)

FAULT_CLASSES = ("acoustic", "capture", "network", "server")
TURN_PERIOD_MS = 10_000
TAIL_MS = 60_000


def _good_turns(n: int) -> list[Utterance]:
    return [Utterance(1_000 + i * TURN_PERIOD_MS, 1_600 + 300 * (i % 3)) for i in range(n)]


@st.composite
def incidents(draw, fault_classes: tuple[str, ...], t0: int):
    typing, utterances, faults, spikes, noises = [], [], [], [], []
    kinds = [k for k in ("typing", "noise", "barge_in") if "acoustic" in fault_classes]
    kinds += ["capture"] if "capture" in fault_classes else []
    kinds += ["latency"] if "network" in fault_classes else []
    if not kinds:
        return typing, utterances, faults, spikes, noises
    for kind in draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=3)):
        start = t0 + draw(st.integers(0, 100)) * 100
        if kind == "typing":
            typing.append(Typing(start, draw(st.integers(5, 80)) * 100,
                                 float(draw(st.integers(3, 10))),
                                 float(draw(st.integers(-24, -3)))))
        elif kind == "noise":
            noises.append(Segment(start, draw(st.integers(10, 100)) * 100, "noise",
                                  float(draw(st.integers(-40, -20)))))
        elif kind == "barge_in":
            utterances.append(Utterance(start, draw(st.integers(4, 25)) * 100,
                                        float(draw(st.integers(-40, -10)))))
        elif kind == "capture":
            duration = draw(st.none() | st.integers(5, 150).map(lambda k: k * 100))
            faults.append(CaptureFault(start, draw(st.sampled_from(FAULTS)), duration,
                                       draw(st.sampled_from(("fault", "app_switch")))))
        else:
            spikes.append(LatencySpike(start, draw(st.integers(2, 50)) * 100,
                                       draw(st.integers(1, 50)) * 100))
    return typing, utterances, faults, spikes, noises


@st.composite
def scenarios(draw, fault_classes: tuple[str, ...] = FAULT_CLASSES, min_good_turns: int = 2):
    n_good = draw(st.integers(min_good_turns, 4))
    good = _good_turns(n_good)
    t_incidents = 1_000 + n_good * TURN_PERIOD_MS
    typing, barge_ins, faults, spikes, noises = draw(incidents(fault_classes, t_incidents))
    server_faults = ((ServerFault(draw(st.sampled_from(SEARCHED_SERVER_FAULT_KINDS)),
                                  draw(st.integers(1, n_good))),)
                     if "server" in fault_classes else ())
    ends = [t_incidents + 10_000]
    ends += [t.start_ms + t.duration_ms for t in typing]
    ends += [f.start_ms + f.duration_ms for f in faults if f.duration_ms is not None]
    ends += [s.start_ms + s.duration_ms for s in spikes]
    ends += [n.start_ms + n.duration_ms for n in noises]
    t_tail = max(ends) + 2_000
    tail = []
    t = t_tail
    while t < t_tail + TAIL_MS - 3_000:
        tail.append(Utterance(t, draw(st.integers(10, 25)) * 100,
                              float(draw(st.integers(-30, -10)))))
        t += draw(st.integers(80, 100)) * 100
    return Scenario(
        name="search", duration_ms=t_tail + TAIL_MS,
        utterances=tuple(sorted(good + barge_ins + tail, key=lambda u: u.start_ms)),
        typing=tuple(typing), capture_faults=tuple(faults),
        room_noise_dbfs=float(draw(st.integers(-65, -40))),
        echo_gain_db=float(draw(st.integers(-45, -15))),
        network=Network(spikes=tuple(spikes)), segments=tuple(noises),
        server_faults=server_faults, description="found by vadlock search")
