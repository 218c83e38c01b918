"""Traces: everything a run produced, and its JSONL export.

The wire log is the client's view of the WebSocket (what a browser-side logger sees):
client events at the time the client sends them, server events at the time the client
receives them. Each JSONL line is `{"t_ms", "direction", "event"}`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

C2S = "client_to_server"
S2C = "server_to_client"

AUDIO_FIELDS = ("audio", "delta")


@dataclass
class WireRecord:
    t_ms: int
    direction: str
    event: dict[str, Any]

    @property
    def type(self) -> str:
        return self.event["type"]

    def to_json(self) -> str:
        return json.dumps({"t_ms": self.t_ms, "direction": self.direction, "event": self.event},
                          separators=(",", ":"))


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
    chunks: dict[str, list] = field(default_factory=lambda: {
        "t_ms": [], "rms": [], "level": [], "kind": [], "sent": [], "peak_int16": []})
    ticks: dict[str, list] = field(default_factory=lambda: {
        "t_ms": [], "server_vad": [], "playback": [], "capture": [], "beliefs": [],
        "response": [], "watchdog": []})
    faults: list[tuple[int, str, str]] = field(default_factory=list)  # (t_ms, start|end, kind)
    reconnects: int = 0

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
        heard = sum(1 for u in self.utterances
                    if any(u.start_ms - 200 <= t <= u.start_ms + HEARD_WITHIN_MS for t in started))
        responses = sum(1 for r in s2c if r.type == "response.done"
                        and r.event["response"]["status"] == "completed")
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
            "responses": responses,
            "last_server_event_ms": s2c[-1].t_ms if s2c else None,
            "errors": [r.event["error"].get("code") for r in s2c if r.type == "error"],
            "notices": len(self.notices),
            "reconnects": self.reconnects,
        }


HEARD_WITHIN_MS = 2_000


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
