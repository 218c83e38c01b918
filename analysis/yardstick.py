"""A yardstick measured in the same run as the benchmarks, so figures from two machines compare.

Absolute timings move by 2x between machines of the same kind (and with the load of a
shared one). The yardstick times two fixed workloads that do not depend on vadlock's code:
- `trigger_us`: one trigger of a stock `transitions.Machine` (two states, a guarded
  transition each way, `send_event=True`, no auto transitions: how vadlock declares its
  machines), the cost of pure-Python dispatch that the explorer, search and simulator pay;
- `numpy_workload_ms`: a fixed numpy workload shaped like the simulator's audio: 10 s of
  24 kHz float32 noise from a fixed seed, cut into 10 ms blocks, each block's RMS and the
  magnitude of its real FFT.
Each is the median of `repeat` timings; the bench measures the yardstick before and after
its other figures (their ratio shows how the machine's load drifted during the run).

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
WORKLOAD_S = 10
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


def trigger_us(triggers: int = TRIGGERS) -> float:
    """Microseconds per trigger of a stock `transitions` machine."""
    model = _toggle_machine()
    started = time.perf_counter()
    for _ in range(triggers):
        model.toggle()
    return (time.perf_counter() - started) / triggers * 1e6


def numpy_workload_ms() -> float:
    """Milliseconds of the fixed numpy workload (RMS and FFT of 10 ms blocks of 10 s)."""
    block = SAMPLE_RATE_HZ * BLOCK_MS // 1000
    audio = np.random.default_rng(0).standard_normal(SAMPLE_RATE_HZ * WORKLOAD_S,
                                                     dtype=np.float32)
    started = time.perf_counter()
    blocks = audio.reshape(-1, block)
    rms = np.sqrt(np.mean(blocks * blocks, axis=1))
    spectrum = np.abs(np.fft.rfft(blocks, axis=1))
    elapsed = time.perf_counter() - started
    if not (np.isfinite(rms).all() and np.isfinite(spectrum).all()):
        raise RuntimeError("the yardstick's numpy workload gave a non-finite value")
    return elapsed * 1e3


def measure(repeat: int = 5) -> dict[str, Any]:
    """The median of `repeat` timings of each workload, with every timing."""
    triggers = [trigger_us() for _ in range(repeat)]
    workloads = [numpy_workload_ms() for _ in range(repeat)]
    return {"trigger_us": statistics.median(triggers),
            "numpy_workload_ms": statistics.median(workloads),
            "trigger_us_values": triggers, "numpy_workload_ms_values": workloads}


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
