"""Scenarios in words, for people reading a counterexample."""

from __future__ import annotations

from vadlock.simulator.scenario import Scenario


def _s(ms: int) -> str:
    return f"{ms / 1000:.1f} s"


def describe(scenario: Scenario) -> list[str]:
    lines = [f"{scenario.name}: {_s(scenario.duration_ms)} long, room noise "
             f"{scenario.room_noise_dbfs:.0f} dBFS, echo {scenario.echo_gain_db:.0f} dB"]
    for u in scenario.utterances:
        lines.append(f"  {_s(u.start_ms):>8}  user speaks {u.duration_ms} ms at "
                     f"{u.level_dbfs:.0f} dBFS")
    for t in scenario.typing:
        lines.append(f"  {_s(t.start_ms):>8}  keyboard typing for {t.duration_ms} ms, "
                     f"{t.keys_per_s:.0f} keys/s, peaks {t.peak_dbfs:.0f} dBFS")
    for f in scenario.capture_faults:
        until = "for good" if f.duration_ms is None else f"for {f.duration_ms} ms"
        cause = " (application switch)" if f.cause == "app_switch" else ""
        lines.append(f"  {_s(f.start_ms):>8}  capture becomes {f.kind}{cause} {until}")
    for sp in scenario.network.spikes:
        lines.append(f"  {_s(sp.start_ms):>8}  network latency +{sp.extra_ms} ms for "
                     f"{sp.duration_ms} ms")
    for seg in scenario.segments:
        lines.append(f"  {_s(seg.start_ms):>8}  {seg.kind} at {seg.level_dbfs:.0f} dBFS for "
                     f"{seg.duration_ms} ms")
    head, events = lines[0], lines[1:]
    events.sort(key=lambda line: float(line.split(" s")[0]))
    return [head, *events]
