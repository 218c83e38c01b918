"""Traces: everything a run produced, and its JSONL export.

The wire log is the client's view of the WebSocket (what a browser-side logger sees):
client events at the time the client sends them, server events at the time the client
receives them. Each JSONL line is `{"t_ms", "direction", "event"}`. An event that carries
audio holds a placeholder until the record is read or exported, when it is rendered to
base64 pcm16 (the same bytes whenever that happens).

Machine states over time are not sampled: they are the recorded transitions, from each
machine's initial state (`state_runs`, `state_at`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

C2S = "client_to_server"
S2C = "server_to_client"

AUDIO_FIELDS = ("audio", "delta")


class WireRecord:
    """One event on the wire; `render` (if any) turns its audio placeholder into base64."""

    __slots__ = ("t_ms", "direction", "_event", "_render")

    def __init__(self, t_ms: int, direction: str, event: dict[str, Any],
                 render: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:
        self.t_ms, self.direction, self._event, self._render = t_ms, direction, event, render

    @property
    def event(self) -> dict[str, Any]:
        if self._render is not None:
            self._event, self._render = self._render(self._event), None
        return self._event

    @property
    def type(self) -> str:
        return self._event["type"]

    @property
    def audio(self) -> Any:
        """The audio field as it stands: a placeholder until rendered."""
        return self._event.get("audio", self._event.get("delta"))

    def to_json(self) -> str:
        event = self._event if self._render is None else self._render(self._event)
        return json.dumps({"t_ms": self.t_ms, "direction": self.direction, "event": event},
                          separators=(",", ":"))

    def __repr__(self) -> str:
        return f"WireRecord({self.t_ms}, {self.direction!r}, {self.type!r})"


@dataclass
class UtteranceRecord:
    start_ms: int
    duration_ms: int
    level_dbfs: float
    healthy: bool  # capture live at onset, >= 400 ms, >= -35 dBFS


@dataclass
class Trace:
    design: str
    server: str
    scenario_name: str
    seed: int
    tick_ms: int
    duration_ms: int
    wire: list[WireRecord] = field(default_factory=list)
    transitions: list[tuple[int, str, str, str, str]] = field(default_factory=list)
    notices: list[tuple[int, str]] = field(default_factory=list)
    utterances: list[UtteranceRecord] = field(default_factory=list)
    # per chunk the worklet captured: start, RMS, level, what was sent, raw int16 peak
    chunks: dict[str, list] = field(default_factory=lambda: {
        "t_ms": [], "rms": [], "level": [], "sent": [], "peak_int16": []})
    # what the server decoded, as runs of equal 10 ms frame symbols: arrival time, length
    frames: dict[str, list] = field(default_factory=lambda: {
        "t_ms": [], "duration_ms": [], "level": [], "kind": []})
    faults: list[tuple[int, str, str]] = field(default_factory=list)  # (t_ms, start|end, kind)
    reconnects: int = 0
    initial_states: dict[str, str] = field(default_factory=dict)  # machine -> its first state

    # -- machine states ----------------------------------------------------------------
    def state_changes(self, machine: str) -> list[tuple[int, str]]:
        """(t_ms, state) at the start and at every change of `machine`'s state."""
        if machine not in self.initial_states:
            return []
        out = [(0, self.initial_states[machine])]
        for t, _side, name, _trigger, _source, dest in self.transitions:
            if name != machine:
                continue
            if out and out[-1][0] == t:  # several changes at one instant: the last counts
                out.pop()
            if not out or out[-1][1] != dest:
                out.append((t, dest))
        return out

    def state_runs(self, machine: str) -> list[tuple[int, int, str]]:
        """(start_ms, end_ms, state) runs of `machine`'s state over the whole trace."""
        changes = self.state_changes(machine)
        ends = [t for t, _ in changes[1:]] + [self.duration_ms]
        return [(t, end, state) for (t, state), end in zip(changes, ends) if end > t]

    def state_at(self, machine: str, t_ms: int) -> str | None:
        state = None
        for t, value in self.state_changes(machine):
            if t > t_ms:
                break
            state = value
        return state

    # -- views -------------------------------------------------------------------------
    def events(self, direction: str | None = None, type_: str | None = None
               ) -> Iterator[WireRecord]:
        for rec in self.wire:
            if (direction is None or rec.direction == direction) and \
                    (type_ is None or rec.event["type"] == type_):
                yield rec

    def server_events(self) -> list[WireRecord]:
        return list(self.events(S2C))

    def write_jsonl(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as fh:
            for rec in self.wire:
                fh.write(rec.to_json())
                fh.write("\n")
        return path

    def jsonl_bytes(self) -> bytes:
        return "".join(rec.to_json() + "\n" for rec in self.wire).encode()

    def summary(self) -> dict[str, Any]:
        s2c = [r for r in self.wire if r.direction == S2C]
        started = [r.t_ms for r in s2c if r.type == "input_audio_buffer.speech_started"]
        heard_at = [next((t for t in started
                          if u.start_ms - HEARD_EARLY_MS <= t <= u.start_ms + HEARD_WITHIN_MS),
                         None) for u in self.utterances]
        heard = sum(1 for t in heard_at if t is not None)
        completed = [r.t_ms for r in s2c if r.type == "response.done"
                     and r.event["response"]["status"] == "completed"]
        responses = len(completed)
        # answered: heard, and a response completed after its speech_started and before
        # the next utterance begins
        ends = [u.start_ms for u in self.utterances[1:]] + [self.duration_ms + 1]
        answered = sum(1 for t, end in zip(heard_at, ends) if t is not None
                       and any(t < done < end for done in completed))
        return {
            "design": self.design,
            "server": self.server,
            "scenario": self.scenario_name,
            "seed": self.seed,
            "duration_ms": self.duration_ms,
            "client_events": sum(1 for r in self.wire if r.direction == C2S),
            "server_events": len(s2c),
            "utterances": len(self.utterances),
            "heard": heard,
            "answered": answered,
            "responses": responses,
            "last_server_event_ms": s2c[-1].t_ms if s2c else None,
            "errors": [r.event["error"].get("code") for r in s2c if r.type == "error"],
            "notices": len(self.notices),
            "reconnects": self.reconnects,
        }


# a clear utterance: at least this long and this loud; a healthy one is clear and starts
# while the capture is live (the engine marks them, the properties count them)
CLEAR_MIN_MS = 400
CLEAR_MIN_DBFS = -35.0

# an utterance is heard when speech_started reaches the client from HEARD_EARLY_MS before
# its onset (the VAD may fire on the first syllable before the nominal onset) to
# HEARD_WITHIN_MS after it; the `heard` property uses the same window
HEARD_WITHIN_MS = 2_000
HEARD_EARLY_MS = 300


def brief(event: dict[str, Any]) -> str:
    """Key fields of an event for a one-line timeline (audio left out)."""
    kind = event["type"]
    keys = {
        "input_audio_buffer.speech_started": ("audio_start_ms", "item_id"),
        "input_audio_buffer.speech_stopped": ("audio_end_ms", "item_id"),
        "input_audio_buffer.committed": ("item_id",),
        "input_audio_buffer.timeout_triggered": ("audio_start_ms", "audio_end_ms"),
        "conversation.item.truncate": ("item_id", "audio_end_ms"),
        "conversation.item.truncated": ("item_id", "audio_end_ms"),
        "response.output_audio.delta": ("item_id",),
    }.get(kind, ())
    parts = [f"{k}={event[k]}" for k in keys if k in event]
    if kind in ("response.created", "response.done"):
        resp = event["response"]
        parts.append(f"{resp['id']} {resp['status']}")
        if resp.get("status_details"):
            parts.append(f"reason={resp['status_details'].get('reason')}")
    if kind == "error":
        parts.append(f"code={event['error'].get('code')}")
    return " ".join(parts)
