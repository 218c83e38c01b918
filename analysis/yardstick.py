"""A yardstick measured in the same run as the benchmarks, so figures from two machines compare.

Absolute timings move by 2x between machines of the same kind (and with the load of a
shared one). The yardstick times two fixed workloads that do not depend on vadlock's code:
- `trigger_us`: one trigger of a stock `transitions.Machine` (two states, a guarded
  transition each way, `send_event=True`, no auto transitions: how vadlock declares its
  machines), the cost of pure-Python dispatch that the explorer, search and simulator pay;
- `numpy_workload_ms`: a fixed numpy workload shaped like the simulator's audio: 60 s of
  24 kHz float32 noise from a fixed seed, cut into 10 ms blocks, each block's RMS and the
  magnitude of its real FFT.
Each is the median of `repeat` wall-clock timings (like the figures it normalises), each
long enough (tens of milliseconds at least) that the scheduler's time slices on a loaded
machine average out; `cpu_share` is the process CPU time over the wall time of all of them
(1.0 on an idle core; less when other processes took the core meanwhile). The bench
measures the yardstick before and after its other figures (their ratio shows how the
machine's load drifted during the run).

A figure is normalised by the unit its name carries: a duration (`*_s`) is divided by the
yardstick's time, a rate (`*_per_s`, `*_rtf`: per wall second) multiplied by it; other
figures (memory, counts, speed-ups: ratios already) are not normalised. Both yardsticks are
applied: `per_trigger` (a duration in triggers, a rate per trigger's time) and
`per_numpy_workload`.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

TRIGGERS = 20_000
SAMPLE_RATE_HZ = 24_000
WORKLOAD_S = 60
BLOCK_MS = 10


class _Toggle:
    """The model of the yardstick's machine."""

    def open_allowed(self, event) -> bool:
        return True

    def close_allowed(self, event) -> bool:
        return True


def _toggle_machine():
    from transitions import Machine

    model = _Toggle()
    Machine(model=model, states=["closed", "open"], initial="closed",
            transitions=[{"trigger": "toggle", "source": "closed", "dest": "open",
                          "conditions": "open_allowed"},
                         {"trigger": "toggle", "source": "open", "dest": "closed",
                          "conditions": "close_allowed"}],
            auto_transitions=False, send_event=True)
    return model


def _timed(work) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of `work()`."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def _triggers(triggers: int = TRIGGERS) -> tuple[float, float]:
    model = _toggle_machine()

    def work() -> None:
        for _ in range(triggers):
            model.toggle()

    return _timed(work)


def trigger_us(triggers: int = TRIGGERS) -> float:
    """Microseconds (wall) per trigger of a stock `transitions` machine."""
    return _triggers(triggers)[0] / triggers * 1e6


def _numpy_workload() -> tuple[float, float]:
    block = SAMPLE_RATE_HZ * BLOCK_MS // 1000
    audio = np.random.default_rng(0).standard_normal(SAMPLE_RATE_HZ * WORKLOAD_S,
                                                     dtype=np.float32)
    out: list[np.ndarray] = []

    def work() -> None:
        blocks = audio.reshape(-1, block)
        out.append(np.sqrt(np.mean(blocks * blocks, axis=1)))
        out.append(np.abs(np.fft.rfft(blocks, axis=1)))

    timed = _timed(work)
    if not all(np.isfinite(o).all() for o in out):
        raise RuntimeError("the yardstick's numpy workload gave a non-finite value")
    return timed


def numpy_workload_ms() -> float:
    """Milliseconds (wall) of the fixed numpy workload (RMS and FFT of 10 ms blocks)."""
    return _numpy_workload()[0] * 1e3


def measure(repeat: int = 5) -> dict[str, Any]:
    """The median of `repeat` timings of each workload, with every timing and the share
    of a core the process had meanwhile."""
    triggers = [_triggers() for _ in range(repeat)]
    workloads = [_numpy_workload() for _ in range(repeat)]
    timings = triggers + workloads
    return {"trigger_us": statistics.median(w / TRIGGERS * 1e6 for w, _ in triggers),
            "numpy_workload_ms": statistics.median(w * 1e3 for w, _ in workloads),
            "trigger_us_values": [w / TRIGGERS * 1e6 for w, _ in triggers],
            "numpy_workload_ms_values": [w * 1e3 for w, _ in workloads],
            "cpu_share": sum(c for _, c in timings) / sum(w for w, _ in timings)}


def combine(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """One yardstick from the timings before and after the benchmarks (the median of all),
    with how much slower the machine got meanwhile (after / before)."""
    out: dict[str, Any] = {"triggers_per_timing": TRIGGERS,
                           "numpy_workload": f"{WORKLOAD_S} s of {SAMPLE_RATE_HZ} Hz float32 "
                           f"in {BLOCK_MS} ms blocks: RMS and |rfft|"}
    for key in ("trigger_us", "numpy_workload_ms"):
        values = before[f"{key}_values"] + after[f"{key}_values"]
        out[key] = statistics.median(values)
        out[f"{key}_before"], out[f"{key}_after"] = before[key], after[key]
        out[f"{key}_drift"] = after[key] / before[key]
    out["cpu_share_before"], out["cpu_share_after"] = before["cpu_share"], after["cpu_share"]
    return out


def unit_of(key: str) -> str | None:
    """'rate', 'duration' or None (not normalised), from the unit in a figure's name."""
    if key.endswith(("_per_s", "_rtf")):
        return "rate"
    if key.endswith("_s"):
        return "duration"
    return None


def normalise(figures: dict[str, Any], yardstick: dict[str, Any]) -> dict[str, Any]:
    """Every duration and rate among `figures` in yardstick units (None stays None)."""
    seconds = {"per_trigger": yardstick["trigger_us"] * 1e-6,
               "per_numpy_workload": yardstick["numpy_workload_ms"] * 1e-3}
    out: dict[str, Any] = {}
    for key, value in figures.items():
        unit = unit_of(key)
        if unit is None or not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        out[key] = {name: (value / s if unit == "duration" else value * s)
                    for name, s in seconds.items()}
    return out
