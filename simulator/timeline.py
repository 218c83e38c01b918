"""A readable timeline of a trace: wire events and state changes, audio runs collapsed."""

from __future__ import annotations

from vadlock.simulator.trace import C2S, Trace, brief

ARROW = {C2S: "->", "server_to_client": "<-"}
QUIET_TYPES = ("input_audio_buffer.append", "response.output_audio.delta")


def timeline_lines(trace: Trace, limit: int | None = None) -> list[str]:
    rows: list[tuple[int, int, str]] = []
    run: dict[str, list] = {}

    def flush(key: str) -> None:
        if key in run:
            t0, t1, n, modes = run.pop(key)
            mode = next(iter(modes))
            rows.append((t0, 0, f"{t0 / 1000:9.3f} s  {ARROW[key[0]]} {key[1]} x{n} ({mode})"
                         f" until {t1 / 1000:.3f} s"))

    for rec in trace.wire:
        if rec.type in QUIET_TYPES:
            mode = _audio_mode(rec.event) if rec.type.endswith("append") else "audio"
            key = (rec.direction, rec.type)
            if key in run and mode not in run[key][3]:
                flush(key)
            if key in run:
                run[key][1] = rec.t_ms
                run[key][2] += 1
                run[key][3][mode] += 1
            else:
                run[key] = [rec.t_ms, rec.t_ms, 1, {mode: 1}]
            continue
        for k in list(run):
            flush(k)
        rows.append((rec.t_ms, 0, f"{rec.t_ms / 1000:9.3f} s  {ARROW[rec.direction]} "
                     f"{rec.type}  {brief(rec.event)}".rstrip()))
    for k in list(run):
        flush(k)
    for t, side, machine, trigger, source, dest in trace.transitions:
        rows.append((t, 1, f"{t / 1000:9.3f} s   ~ {side}.{machine}: {source} -> {dest}"
                     f" ({trigger})"))
    for t, text in trace.notices:
        rows.append((t, 2, f"{t / 1000:9.3f} s   ! notice: {text}"))
    rows.sort(key=lambda r: (r[0], r[1]))
    lines = [r[2] for r in rows]
    return lines if limit is None else lines[:limit]


def _audio_mode(event: dict) -> str:
    audio = event.get("audio", "")
    return "zeros" if audio.strip("A=") == "" else "audio"


def print_timeline(trace: Trace) -> None:
    print(f"vadlock simulate: design={trace.design} server={trace.server} "
          f"scenario={trace.scenario_name} seed={trace.seed}")
    for line in timeline_lines(trace):
        print(line)
