"""Counterexample timelines: one trace as stacked panels on a shared time axis (seconds).

(a) the audio the client sent, with the assistant's audio where it plays; (b) microphone RMS
per chunk in dBFS against the gate, interruption and server-VAD thresholds; (c) a state
strip per machine; (d) the server and client events that matter, and the client's notices.
Faults are shaded in every panel. A trace read back from JSONL has only its wire log; the
panels then show what the wire log implies (`load_jsonl`).
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vadlock.model.client.beliefs import BeliefState  # noqa: E402
from vadlock.model.client.capture import CaptureState  # noqa: E402
from vadlock.model.client.playback import PlaybackState  # noqa: E402
from vadlock.model.client.watchdog import WatchdogState  # noqa: E402
from vadlock.model.server.response import ResponseState  # noqa: E402
from vadlock.model.server.vad import VadState  # noqa: E402
from vadlock.simulator.audio import SAMPLES_PER_MS, from_pcm16  # noqa: E402
from vadlock.simulator.trace import C2S, S2C, Trace, WireRecord  # noqa: E402

ENVELOPE_MS = 10
SERVER_VAD_EDGE_DBFS = -40.0
RMS_FLOOR_DBFS = -90.0
CHAR_WIDTH_IN = 0.058  # a 7 pt character, for placing labels without overlaps
FAULT_COLORS = {"latency_spike": "#f2d16b"}
CAPTURE_FAULT_COLOR = "#e45756"

Span = tuple[int, int, str]  # (start_ms, end_ms, state)


# -- reading -------------------------------------------------------------------------
def load_jsonl(path: str | Path) -> Trace:
    """A trace holding only the wire log of a vadlock `--out` JSONL file.

    Raises ValueError naming the line for a line that is not a wire record.
    """
    path = Path(path)
    wire: list[WireRecord] = []
    with path.open() as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                wire.append(_wire_record(line, number, path))
    duration_ms = max((r.t_ms for r in wire), default=0)
    return Trace("unknown", "unknown", "unknown", seed=0, tick_ms=10,
                 duration_ms=duration_ms, wire=wire)


def _wire_record(line: str, number: int, path: Path) -> WireRecord:
    where = f"{path} line {number}"
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not JSON ({exc.msg})") from None
    if not isinstance(obj, dict) or set(obj) != {"t_ms", "direction", "event"}:
        raise ValueError(f"{where}: expected an object with t_ms, direction and event")
    t_ms, direction, event = obj["t_ms"], obj["direction"], obj["event"]
    if not isinstance(t_ms, int) or isinstance(t_ms, bool) or t_ms < 0:
        raise ValueError(f"{where}: t_ms must be a non-negative integer, got {t_ms!r}")
    if direction not in (C2S, S2C):
        raise ValueError(f"{where}: direction must be {C2S} or {S2C}, got {direction!r}")
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise ValueError(f"{where}: event must be an object with a string type")
    return WireRecord(t_ms, direction, event)


# -- audio on the wire ----------------------------------------------------------------
def _decode(b64: Any) -> np.ndarray:
    return from_pcm16(base64.b64decode(b64)) if isinstance(b64, str) else np.zeros(0, np.float32)


def _sent_audio(trace: Trace) -> list[tuple[int, np.ndarray]]:
    """(start_ms, samples) per append: the chunk ends when it is sent."""
    out = []
    for rec in trace.events(C2S, "input_audio_buffer.append"):
        samples = _decode(rec.event.get("audio"))
        out.append((rec.t_ms - len(samples) // SAMPLES_PER_MS, samples))
    return out


def _playback(trace: Trace) -> list[tuple[int, int, np.ndarray]]:
    """(start_ms, end_ms, samples) per response: from its first delta, for its audio's
    length, cut by a truncate, an output clear or the next response's audio."""
    audio: dict[str, list[np.ndarray]] = {}
    first_ms: dict[str, int] = {}
    cuts: list[int] = []
    for rec in trace.wire:
        if rec.direction == S2C and rec.type == "response.output_audio.delta":
            key = rec.event.get("response_id") or rec.event.get("item_id") or ""
            first_ms.setdefault(key, rec.t_ms)
            audio.setdefault(key, []).append(_decode(rec.event.get("delta")))
        elif rec.type in ("conversation.item.truncate", "output_audio_buffer.clear",
                          "output_audio_buffer.cleared"):
            cuts.append(rec.t_ms)
    starts = sorted((t, key) for key, t in first_ms.items())
    out = []
    for i, (start, key) in enumerate(starts):
        samples = np.concatenate(audio[key])
        end = start + len(samples) // SAMPLES_PER_MS
        later = [c for c in cuts if c >= start] + [s for s, _ in starts[i + 1:]]
        end = min([end, *later])
        out.append((start, end, samples[: (end - start) * SAMPLES_PER_MS]))
    return out


def _envelope(pieces: list[tuple[int, np.ndarray]], duration_ms: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """Min and max per ENVELOPE_MS bin of audio placed at its start time; NaN where none."""
    bin_n = ENVELOPE_MS * SAMPLES_PER_MS
    n_bins = max(1, math.ceil(duration_ms / ENVELOPE_MS))
    low, high = np.full(n_bins, np.nan), np.full(n_bins, np.nan)
    for start_ms, samples in pieces:
        s0 = start_ms * SAMPLES_PER_MS
        if s0 < 0:
            samples, s0 = samples[-s0:], 0
        if not len(samples):
            continue
        head = s0 % bin_n
        padded = np.full(math.ceil((head + len(samples)) / bin_n) * bin_n, np.nan)
        padded[head:head + len(samples)] = samples
        rows = padded.reshape(-1, bin_n)
        b0 = s0 // bin_n
        b1 = min(n_bins, b0 + len(rows))
        if b1 <= b0:
            continue
        rows = rows[: b1 - b0]
        low[b0:b1] = np.fmin(low[b0:b1], np.fmin.reduce(rows, axis=1))
        high[b0:b1] = np.fmax(high[b0:b1], np.fmax.reduce(rows, axis=1))
    return low, high


def _dbfs(rms: np.ndarray) -> np.ndarray:
    return np.maximum(20 * np.log10(np.maximum(rms, 1e-12)), RMS_FLOOR_DBFS)


# -- state strips -----------------------------------------------------------------------
def _runs(times: list[int], values: list[str], end_ms: int) -> list[Span]:
    """Runs of equal values; of several values at one instant the last one counts."""
    starts: list[tuple[int, str]] = []
    for t, v in zip(times, values):
        if starts and starts[-1][0] >= t:
            starts.pop()
        if not (starts and starts[-1][1] == v):
            starts.append((t, v))
    ends = [t for t, _ in starts[1:]] + [end_ms]
    return [(t, end, v) for (t, v), end in zip(starts, ends)]


def _chunk_end(times: list[int], duration_ms: int) -> int:
    step = times[-1] - times[-2] if len(times) > 1 else 0
    return max(duration_ms, times[-1] + step)


def _gate_from_wire(trace: Trace) -> list[Span]:
    pieces = _sent_audio(trace)
    times = [start for start, _ in pieces]
    values = ["zeros" if not np.any(s) else "audio" for _, s in pieces]
    return _runs(times, values, trace.duration_ms) if times else []


def _between(trace: Trace, on: str, off: tuple[str, ...], state: str, rest: str
             ) -> list[Span]:
    """`state` from each `on` event to the next `off` event (server events)."""
    times, values = [0], [rest]
    for rec in trace.events(S2C):
        if rec.type == on or rec.type in off:
            times.append(rec.t_ms)
            values.append(state if rec.type == on else rest)
    return _runs(times, values, trace.duration_ms)


def _beliefs_from_wire(trace: Trace) -> list[Span]:
    """The beliefs machine's table replayed over the received events."""
    state, times, values = BeliefState.LISTENING, [0], [BeliefState.LISTENING]
    for rec in trace.events(S2C):
        kind = rec.type
        if kind == "input_audio_buffer.speech_started":
            state = BeliefState.USER_SPEAKING
        elif kind == "input_audio_buffer.speech_stopped" and state == BeliefState.USER_SPEAKING:
            state = BeliefState.AWAITING_RESPONSE
        elif kind == "response.created":
            state = BeliefState.RESPONDING
        elif kind == "response.done" and state == BeliefState.RESPONDING:
            state = BeliefState.LISTENING
        elif kind == "input_audio_buffer.cleared" and state == BeliefState.USER_SPEAKING:
            state = BeliefState.LISTENING
        elif kind == "session.created":
            state = BeliefState.LISTENING
        else:
            continue
        times.append(rec.t_ms)
        values.append(state)
    return _runs(times, values, trace.duration_ms)


def state_rows(trace: Trace) -> list[tuple[str, list[Span]]]:
    """(row name, spans) per machine, from the recorded states or else from the wire log."""
    rows: list[tuple[str, list[Span]]] = []
    chunks, end = trace.chunks, trace.duration_ms
    if chunks.get("t_ms"):
        rows.append(("gate (sent)", _runs(chunks["t_ms"], chunks["sent"],
                                          _chunk_end(chunks["t_ms"], end))))
    else:
        rows.append(("gate (from wire)", _gate_from_wire(trace)))
    if trace.initial_states:
        for machine, name in (("capture", "capture"), ("server_vad", "server VAD"),
                              ("response", "server response"), ("playback", "playback"),
                              ("stuck_vad_watchdog", "stuck-VAD watchdog"),
                              ("beliefs", "client beliefs")):
            runs = trace.state_runs(machine)
            if runs:
                rows.append((name, runs))
        return rows
    times, values = [0], [PlaybackState.IDLE]
    for start, stop, _ in _playback(trace):  # in order, each cut at the next one's start
        times += [start, stop]
        values += [PlaybackState.PLAYING, PlaybackState.IDLE]
    playback = _runs(times, values, end)
    if any(True for _ in trace.events(S2C, "output_audio_buffer.started")):  # WebRTC
        playback = _between(trace, "output_audio_buffer.started",
                            ("output_audio_buffer.stopped", "output_audio_buffer.cleared"),
                            PlaybackState.PLAYING, PlaybackState.IDLE)
    rows += [
        ("server VAD (from wire)", _between(trace, "input_audio_buffer.speech_started",
                                            ("input_audio_buffer.speech_stopped",),
                                            VadState.SPEECH, VadState.SILENCE)),
        ("playback (from wire)", playback),
        ("client beliefs (from wire)", _beliefs_from_wire(trace)),
    ]
    return rows


# by name: machines whose states share a name (idle, playing, armed, ...) share its colour
STATE_COLORS = {
    "raw": "#8fd18f", "audio": "#8fd18f", "zeros": "#e45756", "comfort_noise": "#f2a541",
    "held": "#c8c8c8", CaptureState.LIVE: "#8fd18f", CaptureState.MUTED: "#e45756",
    CaptureState.ATTENUATED: "#f2a541", CaptureState.DISABLED: "#b22222",
    CaptureState.SUSPENDED: "#9467bd", VadState.SILENCE: "#e8e8e8", VadState.SPEECH: "#4c78a8",
    ResponseState.IDLE: "#e8e8e8", ResponseState.IN_PROGRESS: "#72b7b2",
    PlaybackState.PLAYING: "#72b7b2", "none": "#f4f4f4",
    WatchdogState.DISARMED: "#e8e8e8", WatchdogState.ARMED: "#f2a541",
    BeliefState.LISTENING: "#e8e8e8", BeliefState.USER_SPEAKING: "#4c78a8",
    BeliefState.AWAITING_RESPONSE: "#b279a2", BeliefState.RESPONDING: "#72b7b2",
}
_SPARE_COLORS = ("#9d755d", "#bab0ac", "#ff9da6", "#54a24b", "#eeca3b")


# -- events -----------------------------------------------------------------------------
_SERVER_EVENTS = {
    "session.created": ("session.created", "#7f7f7f"),
    "session.updated": ("session.updated", "#7f7f7f"),
    "input_audio_buffer.speech_started": ("speech_started", "#4c78a8"),
    "input_audio_buffer.speech_stopped": ("speech_stopped", "#1f3f6b"),
    "input_audio_buffer.committed": ("committed", "#b279a2"),
    "input_audio_buffer.cleared": ("input cleared", "#9467bd"),
    "input_audio_buffer.timeout_triggered": ("timeout_triggered", "#9467bd"),
    "output_audio_buffer.cleared": ("output cleared", "#9467bd"),
    "response.created": ("response.created", "#72b7b2"),
    "response.done": ("response.done", "#54a24b"),
    "error": ("error", "#d62728"),
}
_CLIENT_EVENTS = {
    "session.update": ("session.update", "#7f7f7f"),
    "input_audio_buffer.commit": ("commit", "#b279a2"),
    "input_audio_buffer.clear": ("clear", "#9467bd"),
    "output_audio_buffer.clear": ("output clear", "#9467bd"),
    "conversation.item.truncate": ("truncate", "#f58518"),
    "response.create": ("response.create", "#72b7b2"),
    "response.cancel": ("response.cancel", "#d62728"),
}


def _event_label(rec: WireRecord) -> tuple[str, str] | None:
    table = _SERVER_EVENTS if rec.direction == S2C else _CLIENT_EVENTS
    if rec.type not in table and not rec.type.startswith("session."):
        return None
    label, color = table.get(rec.type, (rec.type, "#7f7f7f"))
    if rec.type == "response.done":
        response = rec.event.get("response") or {}
        status = response.get("status", "?")
        reason = (response.get("status_details") or {}).get("reason")
        label = f"done {status}" + (f" ({reason})" if reason else "")
        color = "#54a24b" if status == "completed" else "#d62728"
    elif rec.type == "error":
        label = f"error {(rec.event.get('error') or {}).get('code', '')}".strip()
    return label, color


def _fault_spans(trace: Trace) -> list[Span]:
    open_: dict[str, int] = {}
    spans: list[Span] = []
    for t, action, kind in sorted(trace.faults, key=lambda f: (f[0], f[1] != "end")):
        if action == "start":
            open_.setdefault(kind, t)
        elif kind in open_:
            spans.append((open_.pop(kind), t, kind))
    spans += [(t, max(t, trace.duration_ms), kind) for kind, t in open_.items()]
    return sorted(spans)


# -- drawing ------------------------------------------------------------------------------
def plot_trace(trace: Trace, path: str | Path, gate_rms: float = 0.03,
               interrupt_rms: float = 0.1, title: str | None = None) -> Path:
    """Write the trace's timeline as a PNG at `path`; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    duration_s = max(trace.duration_ms, 1) / 1000
    rows = state_rows(trace)
    width = min(32.0, max(16.0, 12.0 + duration_s / 10))
    # time per character of 7 pt text: the axes span about width - 5 in (labels, legends)
    ms_per_char = max(trace.duration_ms, 1) * CHAR_WIDTH_IN / (width - 5.0)
    heights = [2.2, 2.2, 0.32 * len(rows) + 0.4, 1.9, 1.5]
    fig, axes = plt.subplots(len(heights), 1, sharex=True, figsize=(width, sum(heights) + 1.0),
                             gridspec_kw={"height_ratios": heights})
    try:
        _draw_audio(axes[0], trace)
        _draw_rms(axes[1], trace, gate_rms, interrupt_rms)
        _draw_states(axes[2], rows, ms_per_char)
        _draw_events(axes[3], list(trace.events(S2C)), [], "server events", ms_per_char)
        _draw_events(axes[4], list(trace.events(C2S)), trace.notices,
                     "client events\nand notices", ms_per_char)
        for ax in axes:
            _shade_faults(ax, trace)
        axes[0].set_xlim(0, duration_s)
        axes[-1].set_xlabel("time (s)")
        fig.suptitle(title or _default_title(trace), fontsize=12)
        # fixed margins in inches (labels on the left, the title on top): one render, not
        # the two that tight_layout needs
        fig_w, fig_h = fig.get_size_inches()
        fig.subplots_adjust(left=1.45 / fig_w, right=1 - 0.25 / fig_w, top=1 - 0.55 / fig_h,
                            bottom=0.5 / fig_h, hspace=0.12)
        fig.savefig(path, dpi=90, metadata={"Software": None})
    finally:
        plt.close(fig)
    return path


def _default_title(trace: Trace) -> str:
    if trace.scenario_name == "unknown":
        return f"vadlock trace ({len(trace.wire)} wire events, no recorded states)"
    return (f"vadlock: design {trace.design}, server {trace.server}, "
            f"scenario {trace.scenario_name}, seed {trace.seed}")


def _draw_audio(ax, trace: Trace) -> None:
    bins_s = (np.arange(max(1, math.ceil(trace.duration_ms / ENVELOPE_MS))) * ENVELOPE_MS) / 1000
    sent_low, sent_high = _envelope(_sent_audio(trace), trace.duration_ms)
    played = [(start, samples) for start, _, samples in _playback(trace)]
    play_low, play_high = _envelope(played, trace.duration_ms)
    peak = np.nanmax(np.abs(np.concatenate([sent_low, sent_high, play_low, play_high,
                                            [0.0]])))
    for low, high, color, alpha, label in (
            (play_low, play_high, "#f58518", 0.35, "assistant audio (as played, from deltas)"),
            (sent_low, sent_high, "#1f3f6b", 0.9, "audio sent (input_audio_buffer.append)")):
        has = ~np.isnan(low)
        if not has.any():
            continue
        ax.fill_between(bins_s, np.nan_to_num(low), np.nan_to_num(high), where=has,
                        step="post", color=color, alpha=alpha, lw=0.4, label=label)
    limit = max(0.01, float(peak) * 1.15)
    for u in trace.utterances:
        ax.hlines(limit * 0.92, u.start_ms / 1000, (u.start_ms + u.duration_ms) / 1000,
                  color="#333333", lw=3, label="user speaks (scenario)")
    if not any(True for _ in trace.events(C2S, "input_audio_buffer.append")):
        ax.text(0.5, 0.5, "no input_audio_buffer.append on the wire", transform=ax.transAxes,
                ha="center", va="center", color="#777777")
    ax.set_ylim(-limit, limit)
    ax.set_ylabel("amplitude")
    _legend(ax)


def _draw_rms(ax, trace: Trace, gate_rms: float, interrupt_rms: float) -> None:
    chunks = trace.chunks
    if chunks.get("t_ms"):
        times = np.asarray(chunks["t_ms"]) / 1000
        level = _dbfs(np.asarray(chunks["rms"], float))
        sent = list(chunks["sent"])
        ax.set_ylabel("mic RMS (dBFS)")
    else:
        pieces = _sent_audio(trace)
        times = np.asarray([s for s, _ in pieces], float) / 1000
        level = _dbfs(np.asarray([np.sqrt(np.mean(np.square(a, dtype=np.float64)))
                                  if len(a) else 0.0 for _, a in pieces]))
        sent = ["zeros" if not np.any(a) else "raw" for _, a in pieces]
        ax.set_ylabel("sent RMS (dBFS)\n(no mic record)")
    if len(times):
        ax.step(times, level, where="post", color="#9aa7b4", lw=0.8)
        for kind, color, label in (("raw", "#4c78a8", "chunk sent as captured"),
                                   ("zeros", "#e45756", "chunk sent as zeros"),
                                   ("comfort_noise", "#f2a541", "chunk sent as comfort noise")):
            mask = np.asarray([s == kind for s in sent])
            if mask.any():
                ax.scatter(times[mask], level[mask], s=7, color=color, zorder=3, label=label)
    for value_dbfs, style, label in (
            (_dbfs(np.asarray(interrupt_rms)), "--", f"interruption RMS {interrupt_rms:g}"),
            (_dbfs(np.asarray(gate_rms)), "-", f"client gate RMS {gate_rms:g}"),
            (SERVER_VAD_EDGE_DBFS, ":", f"server VAD edge {SERVER_VAD_EDGE_DBFS:g} dBFS")):
        ax.axhline(float(value_dbfs), ls=style, color="#444444", lw=1.0,
                   label=f"{label} ({float(value_dbfs):.1f} dBFS)")
    ax.set_ylim(RMS_FLOOR_DBFS - 3, 0)
    _legend(ax)


def _draw_states(ax, rows: list[tuple[str, list[Span]]], ms_per_char: float) -> None:
    spare: dict[str, str] = {}
    for i, (name, spans) in enumerate(rows):
        y = len(rows) - 1 - i
        for start, end, state in spans:
            if state not in STATE_COLORS and state not in spare:
                spare[state] = _SPARE_COLORS[len(spare) % len(_SPARE_COLORS)]
            color = STATE_COLORS.get(state) or spare[state]
            ax.broken_barh([(start / 1000, (end - start) / 1000)], (y - 0.4, 0.8),
                           facecolors=color, edgecolors="none")
            if end - start >= (len(state) + 2) * ms_per_char:
                ax.text((start + end) / 2000, y, state, ha="center", va="center",
                        fontsize=7, color="#222222", clip_on=True)
    ax.set_yticks(range(len(rows)), [name for name, _ in reversed(rows)], fontsize=8)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.tick_params(axis="y", length=0)


def _draw_events(ax, records: list[WireRecord], notices: list[tuple[int, str]],
                 ylabel: str, ms_per_char: float) -> None:
    """A marker per event on a baseline; labels of nearby events merged and stacked."""
    items: list[tuple[int, str, str, str]] = []  # (t_ms, label, color, marker)
    for rec in records:
        labelled = _event_label(rec)
        if labelled:
            items.append((rec.t_ms, *labelled, "o"))
    items += [(t, f"notice {text}", "#8c0000", "*") for t, text in notices]
    items.sort(key=lambda item: item[0])
    for t, _, color, marker in items:
        ax.plot([t / 1000], [0], marker=marker, color=color, ms=6 if marker == "o" else 9,
                zorder=3)
    level_free_at: list[float] = []
    for t0, text, color in _clusters(items, ms_per_char):
        level = next((i for i, free in enumerate(level_free_at) if free <= t0), None)
        if level is None:
            level = len(level_free_at)
            level_free_at.append(0.0)
        level_free_at[level] = t0 + (len(text) + 3) * ms_per_char
        y = 1 + level
        ax.vlines(t0 / 1000, 0, y, color="#bbbbbb", lw=0.6, zorder=1)
        ax.text(t0 / 1000, y, text, fontsize=7, color=color, va="center", ha="left",
                bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.8))
    ax.set_ylim(-0.6, max(3, len(level_free_at)) + 0.6)
    ax.set_yticks([])
    ax.set_ylabel(ylabel)
    if not items:
        ax.text(0.5, 0.5, "none", transform=ax.transAxes, ha="center", va="center",
                color="#777777")


def _clusters(items: list[tuple[int, str, str, str]], ms_per_char: float
              ) -> list[tuple[int, str, str]]:
    """Events closer than a few characters' width share one label, names counted."""
    out: list[tuple[int, list[str], str]] = []
    for t, label, color, _ in items:
        if out and t - out[-1][0] <= 3 * ms_per_char:
            out[-1][1].append(label)
            if color in ("#d62728", "#8c0000"):
                out[-1] = (out[-1][0], out[-1][1], color)
        else:
            out.append((t, [label], color))
    merged = []
    for t, labels, color in out:
        counted = {name: labels.count(name) for name in labels}
        text = ", ".join(name if n == 1 else f"{name} x{n}" for name, n in counted.items())
        merged.append((t, text, color))
    return merged


def _shade_faults(ax, trace: Trace) -> None:
    for start, end, kind in _fault_spans(trace):
        color = FAULT_COLORS.get(kind, CAPTURE_FAULT_COLOR)
        ax.axvspan(start / 1000, end / 1000, color=color, alpha=0.12, lw=0, zorder=0)
    if ax.get_subplotspec().is_first_row():
        for start, _, kind in _fault_spans(trace):
            ax.text(start / 1000, 1.0, f" {kind}", transform=ax.get_xaxis_transform(),
                    fontsize=8, va="bottom", ha="left", color="#8c0000")


def _legend(ax) -> None:
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    if unique:
        ax.legend(unique.values(), unique.keys(), loc="upper left", fontsize=7,
                  bbox_to_anchor=(1.005, 1.0), borderaxespad=0, frameon=False)
