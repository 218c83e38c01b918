"""Does a real client do what the model's client does? Conformance of a client's journal.

A *journal* is what a real client saw and did, in order: every wire event both ways (the
`simulate --out` records `{"t_ms", "direction", "event"}`) and, between them, each captured
chunk's level (`{"t_ms", "capture": {"rms", "exact_zero", "ms"}}`, or `{"t_ms", "capture":
null}` for a chunk period in which the AudioContext delivered nothing). The reference
browser client (`web/client.js`) keeps one as `client.journal`.

The model's client (`ClientSession(design)`) is driven with the same inputs — the chunks'
levels on the design's own scale, the server events, the time between them — and what it
sends is compared with what the real client sent:
- every append, in order: exact zeros where the model's gate zeroes, the captured chunk's
  own level where it passes the chunk raw, the design's comfort-noise level where it sends
  comfort noise (levels within `LEVEL_TOLERANCE_DB`, `COMFORT_TOLERANCE_DB` for noise);
- every other client event, in order, by type and what a server would act on: a
  truncate's `audio_end_ms` (within `truncate_tolerance_ms`: the real player reports its
  position in blocks), a created item's role, a session.update's turn detection.
A reconnect requested by the model's client must show in the real log as a new
connection (a second `session.created`) followed by the model's re-configuration and replay.

Differences are *divergences*: the model's client is not a faithful description of that
client there (or the client has a bug). None means the client conforms on that run.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from vadlock.model.client.outputs import Reconnect
from vadlock.model.client.session import ClientSession
from vadlock.model.designs import Design
from vadlock.simulator.audio import INT16_FULL_SCALE
from vadlock.simulator.trace import C2S, S2C

TRUNCATE_TOLERANCE_MS = 150  # the player worklet reports every 1024 samples (43 ms), plus delivery
LEVEL_TOLERANCE_DB = 1.0  # a raw chunk's level on the wire against its captured level
COMFORT_TOLERANCE_DB = 3.0  # comfort noise: a noise chunk's level varies around its nominal one


class JournalError(ValueError):
    """A journal that cannot be read: one line naming where."""


@dataclass(frozen=True)
class Divergence:
    index: int  # which client event (in the real client's order) or append
    what: str
    model: str
    client: str

    def __str__(self) -> str:
        return f"#{self.index} {self.what}: model {self.model}, client {self.client}"


@dataclass
class Conformance:
    design: str
    appends: int = 0
    other_events: int = 0
    reconnects: int = 0
    divergences: list[Divergence] = field(default_factory=list)

    @property
    def conforms(self) -> bool:
        return not self.divergences

    def to_dict(self) -> dict[str, Any]:
        return {"design": self.design, "appends": self.appends,
                "other_events": self.other_events, "reconnects": self.reconnects,
                "conforms": self.conforms,
                "divergences": [str(d) for d in self.divergences]}


def read_journal(path: str | Path) -> list[dict[str, Any]]:
    records = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise JournalError(f"{path}:{n}: not JSON ({exc.msg})") from None
        if not isinstance(record, dict) or "t_ms" not in record or not (
                "capture" in record or record.get("direction") in (C2S, S2C)):
            raise JournalError(f"{path}:{n}: neither a wire record nor a capture record")
        records.append(record)
    return records


def append_rms(b64_audio: str) -> float | None:
    """The RMS of a logged append's pcm16 audio (0.0 for exact zeros; None: undecodable)."""
    try:
        pcm = np.frombuffer(base64.b64decode(b64_audio, validate=True), dtype="<i2")
    except (binascii.Error, ValueError):
        return None
    if not pcm.size:
        return None
    return float(np.sqrt(np.mean((pcm / INT16_FULL_SCALE) ** 2)))


def _dbfs(rms: float) -> float:
    return 20 * math.log10(rms) if rms > 0 else -math.inf


def _describe(rms: float | None) -> str:
    if rms is None:
        return "undecodable audio"
    return "exact zeros" if rms == 0 else f"audio at {_dbfs(rms):.1f} dBFS"


def _append_matches(mode: str, expected_rms: float, real_rms: float | None) -> bool:
    if real_rms is None:
        return False
    if mode == "zeros":
        return real_rms == 0
    if real_rms == 0 or expected_rms == 0:
        return real_rms == expected_rms
    tolerance = COMFORT_TOLERANCE_DB if mode == "comfort_noise" else LEVEL_TOLERANCE_DB
    return abs(_dbfs(real_rms) - _dbfs(expected_rms)) <= tolerance


def _key(event: dict[str, Any]) -> tuple:
    kind = event.get("type")
    if kind == "conversation.item.create":
        return (kind, event.get("item", {}).get("role"))
    if kind == "session.update":
        td = event.get("session", {}).get("audio", {}).get("input", {}).get("turn_detection")
        return (kind, json.dumps(td, sort_keys=True))
    return (kind,)


def check(design: Design, journal: Iterable[dict[str, Any]],
          truncate_tolerance_ms: int = TRUNCATE_TOLERANCE_MS) -> Conformance:
    """Drive the model's client with the journal's inputs and compare what it sends."""
    client = ClientSession(design)
    scale = design.level_scale
    result = Conformance(design.name)
    captured_rms: list[float] = []  # by capture index (the model's chunk tag)
    comfort_rms = 10 ** (design.gate.comfort_noise_dbfs / 20)
    model_modes: list[tuple[str, float]] = []  # (mode, the RMS the chunk should carry)
    model_events: list[dict[str, Any]] = []
    real_modes: list[float | None] = []
    real_events: list[dict[str, Any]] = []
    last_t = None
    sessions = 0

    def take(events: list[dict[str, Any]]) -> None:
        for e in events:
            if e["type"] == "input_audio_buffer.append":
                mode = e["audio"].mode
                model_modes.append((mode, {"zeros": 0.0, "comfort_noise": comfort_rms}.get(
                    mode, captured_rms[e["audio"].tag] if e["audio"].tag is not None else 0.0)))
            else:
                model_events.append(e)
        while client.requests:
            request = client.requests.pop(0)
            if isinstance(request, Reconnect):
                result.reconnects += 1
                take(client.reconnected(request.replay))

    for record in journal:
        t = int(record["t_ms"])
        if last_t is not None and t > last_t:
            take(client.advance(t - last_t))
        last_t = t if last_t is None else max(last_t, t)
        if "capture" in record:
            chunk = record["capture"]
            if chunk is None:
                _, events = client.on_chunk(None, design.chunk_ms)
            else:
                level = scale.level_of(float(chunk["rms"]), bool(chunk["exact_zero"]))
                captured_rms.append(0.0 if chunk["exact_zero"] else float(chunk["rms"]))
                _, events = client.on_chunk(level, int(chunk.get("ms", design.chunk_ms)),
                                            tag=len(captured_rms) - 1)
            take(events)
        elif record["direction"] == S2C:
            event = record["event"]
            if event.get("type") == "session.created":
                sessions += 1
                if sessions == 1:
                    take(client.start())
                continue
            if event.get("type") == "response.output_audio.delta":
                event = dict(event)  # the model plays what it receives: length from bytes
            take(client.receive(event))
        else:
            event = record["event"]
            if event.get("type") == "input_audio_buffer.append":
                real_modes.append(append_rms(event.get("audio", "")))
            else:
                real_events.append(event)

    result.appends, result.other_events = len(real_modes), len(real_events)
    for i, ((mode, expected), real) in enumerate(zip(model_modes, real_modes)):
        if not _append_matches(mode, expected, real):
            result.divergences.append(Divergence(
                i, "append", f"{mode} ({_describe(expected if mode != 'zeros' else 0.0)})",
                _describe(real)))
    if len(model_modes) != len(real_modes):
        result.divergences.append(Divergence(min(len(model_modes), len(real_modes)),
                                             "append count", str(len(model_modes)),
                                             str(len(real_modes))))
    for i, (m, r) in enumerate(zip(model_events, real_events)):
        if _key(m) != _key(r):
            result.divergences.append(Divergence(i, "event", str(_key(m)), str(_key(r))))
        elif m["type"] == "conversation.item.truncate" and abs(
                m["audio_end_ms"] - r.get("audio_end_ms", -10 ** 9)) > truncate_tolerance_ms:
            result.divergences.append(Divergence(i, "truncate audio_end_ms",
                                                 str(m["audio_end_ms"]),
                                                 str(r.get("audio_end_ms"))))
    if len(model_events) != len(real_events):
        result.divergences.append(Divergence(
            min(len(model_events), len(real_events)), "event count",
            f"{len(model_events)} {[_key(e)[0] for e in model_events[len(real_events):]]}",
            f"{len(real_events)} {[_key(e)[0] for e in real_events[len(model_events):]]}"))
    return result


def journal_from_trace(trace, chunk_ms: int) -> list[dict[str, Any]]:
    """A simulated session's journal, as the reference client would keep it: each captured
    chunk's level when the worklet hands it over (the end of the chunk), then the wire
    (audio rendered). Chunks the AudioContext never delivered are not in a trace: use only
    sessions without a suspended context."""
    captures = [(t + chunk_ms, 0, {"t_ms": t + chunk_ms,
                                   "capture": {"rms": rms, "exact_zero": level == 0,
                                               "ms": chunk_ms}})
                for t, rms, level in zip(trace.chunks["t_ms"], trace.chunks["rms"],
                                         trace.chunks["level"])]
    wire = [(rec.t_ms, 1, {"t_ms": rec.t_ms, "direction": rec.direction, "event": rec.event})
            for rec in trace.wire]
    merged = sorted(captures + wire, key=lambda entry: (entry[0], entry[1]))
    return [record for _, _, record in merged]


def add_parser(subparsers) -> argparse.ArgumentParser:
    from vadlock.simulator.options import add_design_options, add_json_option, help_formatter

    p = subparsers.add_parser(
        "conform", formatter_class=help_formatter,
        help="does a real client do what the model's client does? (a client's journal)",
        description="Drive the model's client with a real client's journal (its captured "
        "chunk levels, the\nserver events it received, the time between them) and compare "
        "what it sends with what\nthe real client sent: each append (zeros / the raw chunk / "
        "comfort noise) and every other\nevent in order. The reference browser client keeps "
        "its journal as client.journal.\nJournal lines: {\"t_ms\", \"direction\", \"event\"} "
        "wire records and {\"t_ms\", \"capture\":\n{\"rms\", \"exact_zero\", \"ms\"} | null} "
        "chunk records.\nExit 0 when it conforms, 1 on a divergence, 2 for bad input.")
    p.add_argument("journal", metavar="JOURNAL.jsonl")
    add_design_options(p, what="design the client was configured with")
    p.add_argument("--truncate-tolerance-ms", type=int, default=TRUNCATE_TOLERANCE_MS,
                   metavar="MS", help="accepted difference of a truncate's audio_end_ms "
                   f"(default {TRUNCATE_TOLERANCE_MS})")
    add_json_option(p)
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from vadlock.model.designs import get_design
    from vadlock.simulator.options import design_name

    design = get_design(design_name(args))
    if args.truncate_tolerance_ms < 0:
        raise JournalError("--truncate-tolerance-ms must be >= 0")
    result = check(design, read_journal(args.journal), args.truncate_tolerance_ms)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(f"{args.journal}: {result.appends} appends and {result.other_events} other "
              f"client events against the model's {design.name} client, "
              f"{result.reconnects} reconnects")
        for divergence in result.divergences:
            print(f"  divergence {divergence}")
        print("conforms" if result.conforms else f"{len(result.divergences)} divergences")
    return 0 if result.conforms else 1
