"""Replay a real Realtime session log through the model and look for a freeze.

Input: JSONL, one Realtime event per line, in either form (blank lines are skipped):

- vadlock's own trace records: `{"t_ms": 1234, "direction": "client_to_server" |
  "server_to_client", "event": {...}}` (`direction` may be left out: it is inferred);
- bare GA events, one per line as `console.log(JSON.stringify(event))` writes them:
  `{"type": "input_audio_buffer.append", "audio": "...", ...}`. The direction comes from
  the type (client types are those of `openai.types.realtime.RealtimeClientEvent`, server
  types those of `RealtimeServerEvent`);
- browser console dumps: text before the JSON (`[realtime] {...}`, `app.js:42 {...}`),
  with an optional leading time of day (`12:34:56.789 [realtime] {...}`).

The clock (said in the report): a `t_ms`, `timestamp` or `ts` field (a number of
milliseconds -- a `timestamp`/`ts` between 1e8 and 1e11 is Unix time in seconds -- or an
ISO 8601 string, UTC unless it says otherwise) or a console time when the log has any
(a line without one keeps the time before it); else the audio the client appended (bytes
of pcm16 at 24 kHz: each line sits at the end of the audio appended up to it), so that a
stretch of silence is measured in the audio that flowed, whatever the chunk size; else
line order (10 ms a line), on which nothing is measured and no signature is judged.
Times are relative to the first line; a time that goes backwards is held at the previous
one. Appended audio is taken as 24 kHz pcm16 (the GA default, `audio/pcm`); a setting
the model does not honour (another format, `semantic_vad`, a threshold, noise reduction,
an unknown field) is reported with its line, never replaced silently by a default.

What it does:
1. validates every event against the official SDK types (the member of
   `RealtimeServerEvent` / `RealtimeClientEvent` named by its type; without the `openai`
   package, only that the type is a known GA name) -- invalid events are reported by
   line, not fatal;
2. decodes each `input_audio_buffer.append`: RMS, int16 peak, exact zeros, and a class:
   speech-level (RMS >= 0.03), exact zeros, near-silence (non-zero, int16 peak < 100) or
   other quiet audio;
3. reconstructs the state timeline: the logged server's own state (speech, response,
   buffered audio, pending clears) from the log, and the model's client
   (`ClientSession(design)`, fed the server events) and server (`ServerSession`, fed the
   client events, append audio as frame symbols);
4. reports divergences: logged server events the model says are impossible in the state
   reached (`speech_stopped` with no `speech_started`, `response.done` with no active
   response, a second `response.created` while one is active, `committed` with no audio
   appended, `cleared` without a `clear`, a response event outside its response);
5. finds the longest stretch without a server event, what the client sent meanwhile, what
   the model's server would have said meanwhile, and which known freeze signature matches.

Bad input (not UTF-8 text, not JSON, no `type`, an unknown type) raises `LogError`
(a `ValueError`) naming the line. `vadlock replay LOG.jsonl` exits 1 on a freeze
signature, 0 otherwise. Out-of-band responses (`conversation: "none"`), which may run in
parallel, are not modelled.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import bisect
import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from vadlock.model.server.audio_buffer import BufferState, InputAudioBuffer
from vadlock.model.server.response import ResponseLifecycle, ResponseState
from vadlock.model.server.vad import ServerVad, VadState
from vadlock.simulator.audio import INT16_FULL_SCALE, SAMPLES_PER_MS
from vadlock.simulator.trace import C2S, S2C

LINE_MS = 10  # time of a line without a timestamp: line number x 10 ms
EPOCH_S = (1e8, 1e11)  # a `timestamp`/`ts` number in this range is Unix time in seconds
SPEECH_RMS = 0.03  # the production gate's clientVADThreshold
NEAR_SILENT_PEAK = 100  # int16 peak below which non-zero audio is near-silence
DOMINANT_SHARE = 0.9  # "the client sends only X": at least this share of the appends
AUDIO_CLASSES = ("speech", "near_silence", "exact_zeros", "quiet")

# GA type names (openai 3.54 `openai.types.realtime`); the SDK's own lists are added to
# these when the package is installed.
CLIENT_TYPES = frozenset((
    "conversation.item.create", "conversation.item.delete", "conversation.item.retrieve",
    "conversation.item.truncate", "input_audio_buffer.append", "input_audio_buffer.clear",
    "output_audio_buffer.clear", "input_audio_buffer.commit", "response.cancel",
    "response.create", "session.update"))
SERVER_TYPES = frozenset((
    "conversation.created", "conversation.item.created", "conversation.item.deleted",
    "conversation.item.input_audio_transcription.completed",
    "conversation.item.input_audio_transcription.delta",
    "conversation.item.input_audio_transcription.failed",
    "conversation.item.input_audio_transcription.segment", "conversation.item.retrieved",
    "conversation.item.truncated", "conversation.item.added", "conversation.item.done",
    "error", "input_audio_buffer.cleared", "input_audio_buffer.committed",
    "input_audio_buffer.dtmf_event_received", "input_audio_buffer.speech_started",
    "input_audio_buffer.speech_stopped", "input_audio_buffer.timeout_triggered",
    "rate_limits.updated", "response.output_audio.delta", "response.output_audio.done",
    "response.output_audio_transcript.delta", "response.output_audio_transcript.done",
    "response.content_part.added", "response.content_part.done", "response.created",
    "response.done", "response.function_call_arguments.delta",
    "response.function_call_arguments.done", "response.output_item.added",
    "response.output_item.done", "response.output_text.delta", "response.output_text.done",
    "session.created", "session.updated", "output_audio_buffer.started",
    "output_audio_buffer.stopped", "output_audio_buffer.cleared",
    "mcp_list_tools.in_progress", "mcp_list_tools.completed", "mcp_list_tools.failed",
    "response.mcp_call_arguments.delta", "response.mcp_call_arguments.done",
    "response.mcp_call.in_progress", "response.mcp_call.completed",
    "response.mcp_call.failed"))
BETA_NAMES = {"response.audio.delta": "response.output_audio.delta",
              "response.audio.done": "response.output_audio.done",
              "response.audio_transcript.delta": "response.output_audio_transcript.delta",
              "response.audio_transcript.done": "response.output_audio_transcript.done",
              "response.text.delta": "response.output_text.delta",
              "response.text.done": "response.output_text.done"}
TURN_EVENTS = ("input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
               "input_audio_buffer.committed", "response.created", "response.done")


class LogError(ValueError):
    """A log that cannot be read as Realtime events (one line, names the line)."""


@dataclass(frozen=True)
class Signature:
    """A known freeze, as data: after `min_ms` of its `window` (`server_silence`: no server
    event; `speech`: speech_started with no end), optionally right after a response,
    while the client sends `client_audio` (an audio class, `nothing` or `any`)."""

    name: str
    description: str
    window: str
    min_ms: int
    after_response: bool
    client_audio: str


SIGNATURES = (
    Signature("zeros-after-response",
              "After a response.done, 10 s or more with no server event while the client "
              "sends only exact zeros (a zeroing VAD gate over quiet or attenuated capture).",
              "server_silence", 10_000, True, "exact_zeros"),
    Signature("near-silent-capture",
              "After a response.done, 10 s or more with no server event while the client "
              "sends non-zero audio that is mostly near-silent (int16 peaks under 100), the "
              "field report's O6: a muted, stolen or attenuated microphone.",
              "server_silence", 10_000, True, "near_silence"),
    Signature("stuck-in-speech",
              "speech_started with no speech_stopped for 30 s or more while the client "
              "sends audio: the server VAD never sees the end of the turn.",
              "speech", 30_000, False, "any"),
    Signature("no-audio",
              "10 s or more with no server event and no input_audio_buffer.append (in a "
              "log that does append audio): a suspended AudioContext or a dead worklet.",
              "server_silence", 10_000, False, "nothing"),
)


@dataclass
class LogRecord:
    line: int
    t_ms: int
    direction: str
    event: dict[str, Any]

    @property
    def type(self) -> str:
        return self.event["type"]


# -- parsing ---------------------------------------------------------------------------
def read_log(path: str | Path) -> list[LogRecord]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise LogError(f"{path}: cannot read ({exc.__class__.__name__})") from None
    return parse_lines(data.split(b"\n"), str(path))


class LogRecords(list):
    """The records of a log, and which clock their `t_ms` is on (`CLOCKS`)."""

    clock: str = "timestamps"


CLOCKS = {
    "timestamps": "the log's own timestamps",
    "audio": "the audio appended (pcm16 at 24 kHz): the log has no timestamps",
    "lines": f"line order, {LINE_MS} ms a line: the log has neither timestamps nor audio, "
             "so no duration in it is measured",
}


def parse_lines(lines: Iterable[bytes | str], source: str = "log") -> LogRecords:
    """Records of the non-blank lines; `LogError` naming the first bad line. A line is a
    JSON object, or text before one (a browser console's `[realtime] {...}`, with or
    without a leading `HH:MM:SS.mmm` time). The clock (`CLOCKS`): the timestamps when
    there are any (a line without one keeps the time before it), else the audio appended
    (each line at the end of the audio appended up to it), else line order."""
    server_types, client_types = known_types()
    parsed: list[tuple[int, str, dict, float | None, float]] = []
    for number, raw in enumerate(lines, start=1):
        where = f"{source} line {number}"
        if isinstance(raw, bytes):
            if b"\x00" in raw:
                raise LogError(f"{where}: binary data, not a JSONL event log")
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise LogError(f"{where}: not UTF-8 text (a binary file?)") from None
        if not raw.strip():
            continue
        obj, prefix = _json_of(raw, where)
        if not isinstance(obj, dict):
            raise LogError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        event, direction = _event_and_direction(obj, where)
        kind = event["type"]
        inferred = C2S if kind in client_types else S2C if kind in server_types else None
        if inferred is None:
            hint = f" (beta name of {BETA_NAMES[kind]}?)" if kind in BETA_NAMES else ""
            raise LogError(f"{where}: unknown event type {kind!r}{hint}")
        if direction is not None and direction != inferred:
            side = "client" if inferred == C2S else "server"
            raise LogError(f"{where}: {kind!r} is a {side} event type but direction is "
                           f"{direction}")
        t = _time(obj, event, where)
        if t is None and prefix:
            t = _console_time(prefix)
        audio_ms = _append_ms(event) if kind == "input_audio_buffer.append" else 0.0
        parsed.append((number, inferred, event, t, audio_ms))
    if not parsed:
        raise LogError(f"{source}: empty log (no events)")
    records = LogRecords()
    if any(t is not None for *_, t, _ in parsed):
        records.clock = "timestamps"
        first_t = next(t for *_, t, _ in parsed if t is not None)
        last_t = 0
        for number, direction, event, t, _ in parsed:
            if t is not None:
                last_t = max(last_t, int(round(t - first_t)))
            records.append(LogRecord(number, last_t, direction, event))
    elif any(audio_ms for *_, audio_ms in parsed):
        records.clock = "audio"
        appended_ms = 0.0
        for number, direction, event, _, audio_ms in parsed:
            appended_ms += audio_ms
            records.append(LogRecord(number, int(round(appended_ms)), direction, event))
    else:
        records.clock = "lines"
        first = parsed[0][0]
        records.extend(LogRecord(number, (number - first) * LINE_MS, direction, event)
                       for number, direction, event, _, _ in parsed)
    return records


CONSOLE_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d{1,6}))?(?!\d)")


def _json_of(raw: str, where: str) -> tuple[Any, str]:
    """(the line's JSON value, the text before it: a console prefix, or "")."""
    text = raw.strip()
    try:
        return json.loads(text), ""
    except (json.JSONDecodeError, RecursionError) as exc:
        first = exc
    start = text.find("{")
    if start > 0:
        try:
            obj, _ = json.JSONDecoder().raw_decode(text[start:])
            return obj, text[:start]
        except (json.JSONDecodeError, RecursionError):
            pass
    reason = first.msg if isinstance(first, json.JSONDecodeError) else "nested too deeply"
    raise LogError(f"{where}: not JSON ({reason})") from None


def _console_time(prefix: str) -> float | None:
    """A console line's leading time of day (`12:34:56.789`), in ms, or None."""
    match = CONSOLE_TIME.match(prefix)
    if match is None:
        return None
    h, m, sec, frac = match.groups()
    return ((int(h) * 60 + int(m)) * 60 + int(sec)) * 1000.0 + \
        (float(f"0.{frac}") * 1000.0 if frac else 0.0)


def _append_ms(event: dict) -> float:
    """The duration of an append's audio as pcm16 at 24 kHz (0 when it is not base64)."""
    b64 = event.get("audio")
    if not isinstance(b64, str):
        return 0.0
    n_bytes = len(b64.strip()) * 3 // 4 - b64.strip()[-2:].count("=")
    return max(0, n_bytes) / 2 / SAMPLES_PER_MS


def _event_and_direction(obj: dict, where: str) -> tuple[dict, str | None]:
    if isinstance(obj.get("event"), dict) and "type" not in obj:
        event, direction = obj["event"], obj.get("direction")
        if direction is not None and direction not in (C2S, S2C):
            raise LogError(f"{where}: direction must be {C2S} or {S2C}, got {direction!r}")
    elif "event" in obj and "type" not in obj:
        raise LogError(f"{where}: event must be an object")
    else:
        event, direction = obj, None
    if "type" not in event:
        raise LogError(f"{where}: event has no type")
    if not isinstance(event["type"], str):
        raise LogError(f"{where}: event type must be a string, got {event['type']!r}")
    return event, direction


def _time(obj: dict, event: dict, where: str) -> float | None:
    for holder in (obj, event):
        for key in ("t_ms", "timestamp", "ts"):
            if key in holder:
                return _ms(holder[key], key, where)
    return None


def _ms(value: Any, key: str, where: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and \
            math.isfinite(value) and abs(value) < 1e15:
        if key != "t_ms" and EPOCH_S[0] <= value < EPOCH_S[1]:
            return float(value) * 1000.0  # Unix time in seconds
        return float(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            return moment.timestamp() * 1000.0
        except (ValueError, OverflowError, OSError):
            pass
    raise LogError(f"{where}: {key} must be a number of milliseconds or an ISO 8601 time, "
                   f"got {value!r}")


def known_types() -> tuple[frozenset[str], frozenset[str]]:
    """(server types, client types): the GA names, plus the SDK's when it is installed."""
    models = _sdk_models()
    if models is None:
        return SERVER_TYPES, CLIENT_TYPES
    return SERVER_TYPES | frozenset(models[S2C]), CLIENT_TYPES | frozenset(models[C2S])


_SDK: list = []


def _sdk_models() -> dict[str, dict[str, Any]] | None:
    """{direction: {type name: SDK event class}} from the members of `RealtimeServerEvent`
    and `RealtimeClientEvent`, or None without the `openai` package (a test extra,
    imported lazily)."""
    if not _SDK:
        try:
            import typing

            from openai.types.realtime import RealtimeClientEvent, RealtimeServerEvent
        except ImportError:
            _SDK.append(None)
        else:
            def members(union) -> dict[str, Any]:
                if typing.get_origin(union) is typing.Annotated:
                    union = typing.get_args(union)[0]
                return {typing.get_args(m.model_fields["type"].annotation)[0]: m
                        for m in typing.get_args(union)}
            _SDK.append({S2C: members(RealtimeServerEvent), C2S: members(RealtimeClientEvent)})
    return _SDK[0]


def validation_mode() -> str:
    return ("openai SDK types" if _sdk_models() is not None
            else "type names only (the openai package is not installed)")


def validate(record: LogRecord) -> str | None:
    """None if the record's event is valid, else its first error as one line."""
    return validate_event(record.event, record.direction)


def validate_event(event: dict[str, Any], direction: str) -> str | None:
    """None if `event` is a valid GA event of its direction, else its first error as one
    line. The one place vadlock validates wire events (replay and the tests): against the
    SDK class whose `type` matches (what `TypeAdapter(RealtimeServerEvent)` accepts, with
    the member's own error instead of one per member), in pydantic's strict mode, so a
    string "1700" where the SDK wants an integer is an error, not coerced."""
    models = _sdk_models()
    model = models[direction].get(event.get("type")) if models is not None else None
    if model is None:
        return None
    from pydantic import ValidationError

    try:
        model.model_validate(event, strict=True)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "event"
        return f"{event['type']}: {loc}: {err['msg']}"
    return None


# -- audio -----------------------------------------------------------------------------
def decode_append(event: dict[str, Any]) -> np.ndarray | None:
    """The int16 samples of an append, or None when `audio` is not base64 pcm16."""
    b64 = event.get("audio")
    if not isinstance(b64, str):
        return None
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return None
    return np.frombuffer(data[: len(data) // 2 * 2], "<i2")


def audio_class(samples: np.ndarray) -> str:
    """speech (RMS >= 0.03) | exact_zeros | near_silence (int16 peak < 100) | quiet."""
    if not np.any(samples):
        return "exact_zeros"
    x = samples.astype(np.float64) / INT16_FULL_SCALE
    if math.sqrt(float(np.mean(x * x))) >= SPEECH_RMS:
        return "speech"
    return "near_silence" if int(np.max(np.abs(samples.astype(np.int32)))) < NEAR_SILENT_PEAK \
        else "quiet"


# -- the replay ------------------------------------------------------------------------
@dataclass
class _LoggedServer:
    """The log's server state, as its own events (and the client's) imply."""

    speech_line: int | None = None  # line of the speech_started now active
    response: tuple[str, int] | None = None  # (response id, line of response.created)
    buffered_ms: int = 0  # appended since the last commit or clear
    clears_pending: int = 0
    last_turn_event: str = ""

    def state_of(self, machine: type) -> str:
        """The state of the model's `machine` that this logged state stands for."""
        if machine is ServerVad:
            return VadState.SPEECH if self.speech_line is not None else VadState.SILENCE
        if machine is ResponseLifecycle:
            return ResponseState.IN_PROGRESS if self.response is not None else ResponseState.IDLE
        # InputAudioBuffer
        return BufferState.HOLDING if self.buffered_ms else BufferState.EMPTY


# -- legality: the model's own tables judge the logged server's events -------------------
# which machine emits each judged event, and by which of its table's callbacks: the event
# is legal in the states from which that table runs one of them (`states_emitting`)
EMITTED_BY: dict[str, tuple[type, tuple[str, ...]]] = {
    "input_audio_buffer.speech_started": (ServerVad, ("_started",)),
    "input_audio_buffer.speech_stopped": (ServerVad, ("_stopped",)),
    "input_audio_buffer.committed": (InputAudioBuffer, ("_committed",)),
    "response.created": (ResponseLifecycle, ("_created",)),
    "response.done": (ResponseLifecycle, ("_completed", "_cancelled")),
    "response.*": (ResponseLifecycle, ("_deliver",)),  # what a response streams
}


def _model_says_legal(kind: str, logged: _LoggedServer) -> bool:
    machine, callbacks = EMITTED_BY[kind]
    return logged.state_of(machine) in machine.states_emitting(*callbacks)


@dataclass
class _Append:
    line: int
    t_ms: int
    cls: str
    peak: int


@dataclass
class Replay:
    """Everything a replay found (`to_dict` is the `--json` object)."""

    log: str
    design: str
    server: str
    records: list[LogRecord]
    invalid: list[dict[str, Any]] = field(default_factory=list)
    divergences: list[dict[str, Any]] = field(default_factory=list)
    appends: list[_Append] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    model_events: list[tuple[int, str]] = field(default_factory=list)  # model server out
    speech_spans: list[tuple[int, int, int, int]] = field(default_factory=list)
    # (start t, end t, start index, end index) of each logged speech_started..its end
    after_type: dict[int, str] = field(default_factory=dict)  # index -> last turn event
    clock: str = "timestamps"  # what `t_ms` is measured on (`CLOCKS`)
    unhonoured: list[dict[str, Any]] = field(default_factory=list)  # settings not modelled

    def to_dict(self) -> dict[str, Any]:
        silence = self.longest_silence()
        start, end, i, j = silence
        window = [a for a in self.appends if self.records[i].line < a.line
                  < self.records[j].line] if j > i else \
            [a for a in self.appends if a.line > self.records[i].line]
        counts = {c: sum(1 for a in window if a.cls == c) for c in AUDIO_CLASSES}
        near = [a.peak for a in window if a.cls == "near_silence"]
        matches = self.signatures(silence, counts)
        s2c = sum(1 for r in self.records if r.direction == S2C)
        model_in = [k for t, k in self.model_events if start < t <= end]
        return {
            "log": self.log, "design": self.design, "server": self.server,
            "validation": validation_mode(),
            "clock": self.clock, "clock_description": CLOCKS[self.clock],
            "unhonoured": self.unhonoured,
            "events": len(self.records), "server_events": s2c,
            "client_events": len(self.records) - s2c, "appends": len(self.appends),
            "invalid": self.invalid, "divergences": self.divergences,
            "errors": self.errors,
            "longest_silence_ms": end - start, "silence_start_ms": start,
            "silence_end_ms": end,
            "silence_after": (self.records[i].type if self.records[i].direction == S2C
                              else None),
            "silence_start_line": self.records[i].line,
            "client_audio_during_silence": counts,
            "client_sending": _sending(counts),
            "near_silent_peak_int16": [min(near), max(near)] if near else None,
            "model_server_during_silence": {k: model_in.count(k) for k in sorted(set(model_in))},
            "longest_speech_ms": max((e - s for s, e, _, _ in self.speech_spans), default=0),
            "state_at_silence_start": self.state_at(start),
            "timeline": self.timeline,
            "signatures": [s.name for s in matches],
            "signature": matches[0].name if matches else None,
            "signature_description": matches[0].description if matches else None,
            "verdict": "freeze" if matches else "ok",
        }

    def longest_silence(self) -> tuple[int, int, int, int]:
        """(start ms, end ms, index of the record that starts it, index that ends it)."""
        marks = [0] + [k for k, r in enumerate(self.records) if r.direction == S2C]
        marks.append(len(self.records) - 1)
        best = (0, 0, 0, 0)
        for a, b in zip(marks, marks[1:]):
            gap = self.records[b].t_ms - self.records[a].t_ms
            if gap > best[1] - best[0]:
                best = (self.records[a].t_ms, self.records[b].t_ms, a, b)
        return best

    def signatures(self, silence: tuple[int, int, int, int],
                   counts: dict[str, int]) -> list[Signature]:
        start, end, i, _ = silence
        total = sum(counts.values())
        append_lines = [a.line for a in self.appends]

        def appends_between(a: int, b: int) -> bool:
            first = bisect.bisect_right(append_lines, self.records[a].line)
            return first < bisect.bisect_left(append_lines, self.records[b].line)

        out = []
        for sig in SIGNATURES:
            if not judged_on(sig, self.clock):
                continue
            if sig.window == "speech":
                ok = any(e - s >= sig.min_ms and appends_between(a, b)
                         for s, e, a, b in self.speech_spans)
            else:
                ok = end - start >= sig.min_ms and (
                    not sig.after_response
                    or self.after_type.get(i) == "response.done") and \
                    _audio_matches(sig.client_audio, counts, total, bool(self.appends))
            if ok:
                out.append(sig)
        return out

    def state_at(self, t_ms: int) -> dict[str, Any]:
        state: dict[str, Any] = {}
        for entry in self.timeline:
            if entry["t_ms"] > t_ms:
                break
            state = entry
        return {k: v for k, v in state.items() if k not in ("t_ms", "line")}


def judged_on(signature: Signature, clock: str) -> bool:
    """Whether a signature can be judged on a clock: on line order nothing is measured;
    on the audio clock time stands still while nothing is appended, so a stretch with no
    audio (`no-audio`) has no length."""
    if clock == "lines":
        return False
    return not (clock == "audio" and signature.client_audio == "nothing")


def _audio_matches(kind: str, counts: dict[str, int], total: int, log_appends: bool) -> bool:
    if kind == "nothing":
        return total == 0 and log_appends
    if total == 0:
        return False
    if kind == "exact_zeros":
        return counts["exact_zeros"] >= DOMINANT_SHARE * total
    if kind == "near_silence":
        quiet = counts["near_silence"] + counts["quiet"]
        return quiet >= DOMINANT_SHARE * total and counts["near_silence"] >= counts["quiet"]
    return True


def _sending(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    if not total:
        return "nothing"
    top = max(AUDIO_CLASSES, key=lambda c: counts[c])
    return top if counts[top] >= DOMINANT_SHARE * total else "mixed"


def replay(records: list[LogRecord], design_name: str = "production",
           server: str = "energy", log: str = "log") -> Replay:
    """Validate, decode and reconstruct; the findings are in the returned `Replay`."""
    from vadlock.model.client.session import ClientSession
    from vadlock.model.designs import get_design
    from vadlock.model.hypotheses import HypothesisFlag, ServerVadHypotheses
    from vadlock.model.server.session import ServerSession
    from vadlock.simulator.engine import ServerAudioDecoder

    if not records:
        raise LogError(f"{log}: empty log (no events)")
    design = get_design(design_name)
    hypotheses = ServerVadHypotheses.parse(server)
    scale = design.level_scale
    result = Replay(log, design.name, hypotheses.label, records,
                    clock=getattr(records, "clock", "timestamps"))
    client = ClientSession(design)
    model = ServerSession(hypotheses, scale, dict(client.turn_detection),
                          owns_output_buffer=design.transport == "webrtc")
    decoder = ServerAudioDecoder(scale)
    pending = np.zeros(0, np.float32)  # append audio short of a whole 10 ms frame
    logged = _LoggedServer()
    has_appends = any(r.type == "input_audio_buffer.append" for r in records)
    keeps_vad = hypotheses.has(HypothesisFlag.CLEAR_KEEPS_VAD)
    now = records[0].t_ms
    span_start: tuple[int, int] | None = None  # (t, index) of the active speech_started

    def diverge(rec: LogRecord, why: str) -> None:
        result.divergences.append({"line": rec.line, "event": rec.type, "explanation": why})

    def end_speech(t: int, k: int) -> None:
        nonlocal span_start
        if span_start is not None:
            result.speech_spans.append((span_start[0], t, span_start[1], k))
        span_start = None
        logged.speech_line = None

    for k, rec in enumerate(records):
        if rec.t_ms > now:
            client.advance(rec.t_ms - now)
            result.model_events += [(rec.t_ms, e["type"]) for e in model.advance(rec.t_ms - now)]
            now = rec.t_ms
        error = validate(rec)
        if error is not None:
            result.invalid.append({"line": rec.line, "error": error})
        kind, ev = rec.type, rec.event
        if rec.direction == C2S:
            frames: list = []
            if kind == "input_audio_buffer.append":
                samples = decode_append(ev)
                if samples is None and error is None:
                    result.invalid.append({"line": rec.line,
                                           "error": f"{kind}: audio is not base64"})
                elif samples is not None:
                    peak = int(np.max(np.abs(samples.astype(np.int32)))) if len(samples) else 0
                    result.appends.append(_Append(rec.line, rec.t_ms, audio_class(samples),
                                                  peak))
                    logged.buffered_ms += len(samples) // SAMPLES_PER_MS
                    pending = np.concatenate([pending, samples / np.float32(INT16_FULL_SCALE)])
                    usable = len(pending) // decoder.frame_n * decoder.frame_n
                    frames, pending = decoder.frames_of(pending[:usable]), pending[usable:]
                if frames:  # what the client's interruption logic compares (sent audio)
                    client.mic_level = max(s.level for s, _ in frames)
            elif kind == "input_audio_buffer.clear":
                logged.clears_pending += 1
                logged.buffered_ms = 0
            if kind == "session.update":
                result.unhonoured += [{"line": rec.line, "setting": what}
                                      for what in unhonoured_settings(ev)]
            model_event = _model_input(ev, model.turn_detection)
            if model_event is not None:
                result.model_events += [(rec.t_ms, e["type"])
                                        for e in model.receive(model_event, frames)]
        else:
            _check_server_event(rec, k, logged, has_appends, keeps_vad, diverge, end_speech)
            if kind == "input_audio_buffer.speech_started":
                span_start = (rec.t_ms, k)
            if kind == "error" and isinstance(ev.get("error"), dict):
                result.errors.append({"line": rec.line, "code": ev["error"].get("code"),
                                      "message": ev["error"].get("message")})
            if kind != "response.output_audio.delta" or (
                    isinstance(ev.get("delta"), str) and isinstance(ev.get("item_id"), str)):
                client.receive(ev)
            if kind in TURN_EVENTS:
                logged.last_turn_event = kind
            result.after_type[k] = logged.last_turn_event
        _record_state(result, rec, client, model, logged)
    end_speech(records[-1].t_ms, len(records) - 1)
    return result


def _model_input(event: dict[str, Any], current_td: dict[str, Any]) -> dict[str, Any] | None:
    """The client event in the shape the model server reads, or None to skip it."""
    kind = event["type"]
    if kind == "session.update":
        session = event.get("session")
        audio = session.get("audio") if isinstance(session, dict) else None
        given = audio.get("input", {}).get("turn_detection") if isinstance(audio, dict) and \
            isinstance(audio.get("input"), dict) else None
        if not isinstance(given, dict):
            return None  # nothing the model's VAD reads (or VAD off: not modelled)
        td = dict(current_td)
        for key, value in given.items():
            if key in _TD_FIELDS and _TD_FIELDS[key](value):
                td[key] = value
        return {"type": kind, "session": {"audio": {"input": {"turn_detection": td}}}}
    if kind == "conversation.item.truncate":
        ok = isinstance(event.get("item_id"), str) and isinstance(event.get("audio_end_ms"), int)
        return event if ok else None
    if kind == "conversation.item.create":
        item = event.get("item")
        return event if isinstance(item, dict) and item.get("role") in ("user", "assistant") \
            else None
    return event


MODELLED_THRESHOLD = 0.5  # the server VAD threshold the model's server behaves as


def unhonoured_settings(event: dict[str, Any]) -> list[str]:
    """What a `session.update` sets that the model's server does not honour, one line
    each: it is reported, never silently replaced by a default."""
    session = event.get("session")
    if not isinstance(session, dict):
        return []
    out = []
    audio = session.get("audio") if isinstance(session.get("audio"), dict) else {}
    given = audio.get("input") if isinstance(audio.get("input"), dict) else {}
    reduction = given.get("noise_reduction")
    if reduction is not None:
        out.append(f"audio.input.noise_reduction = {json.dumps(reduction)}: not modelled "
                   "(the model's server hears the audio as sent)")
    fmt = given.get("format")
    if isinstance(fmt, dict) and (fmt.get("type", "audio/pcm") != "audio/pcm"
                                  or fmt.get("rate", 24_000) != 24_000):
        out.append(f"audio.input.format = {json.dumps(fmt)}: appends are read as pcm16 at "
                   "24 kHz")
    if "turn_detection" not in given:
        return out
    td = given["turn_detection"]
    if td is None:
        return out + ["audio.input.turn_detection = null (no server VAD): not modelled; the "
                      "model's server keeps its VAD"]
    if not isinstance(td, dict):
        return out
    kind = td.get("type", "server_vad")
    if kind != "server_vad":
        out.append(f"turn_detection.type = {json.dumps(kind)}: not modelled (the model's "
                   "server runs server_vad)")
    for key, value in td.items():
        if key == "type":
            continue
        if key == "threshold":
            if value != MODELLED_THRESHOLD:
                out.append(f"turn_detection.threshold = {json.dumps(value)}: not modelled "
                           f"(the model's server VAD behaves as at {MODELLED_THRESHOLD})")
        elif key not in _TD_FIELDS:
            out.append(f"turn_detection.{key} = {json.dumps(value)}: not modelled")
        elif not _TD_FIELDS[key](value):
            out.append(f"turn_detection.{key} = {json.dumps(value)}: not a value the model "
                       "reads; the model's server keeps its previous value")
    return out


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


_TD_FIELDS = {  # turn_detection fields the model's server reads, with their checks
    "silence_duration_ms": _count, "prefix_padding_ms": _count,
    "idle_timeout_ms": lambda v: v is None or (_count(v) and v > 0),
    "create_response": lambda v: isinstance(v, bool),
    "interrupt_response": lambda v: isinstance(v, bool)}


def _check_server_event(rec: LogRecord, k: int, logged: _LoggedServer, has_appends: bool,
                        keeps_vad: bool, diverge, end_speech) -> None:
    kind, ev = rec.type, rec.event
    active = logged.response
    if kind == "session.created":
        end_speech(rec.t_ms, k)
        logged.response, logged.buffered_ms, logged.clears_pending = None, 0, 0
    elif kind == "session.updated" and not keeps_vad:
        end_speech(rec.t_ms, k)
    elif kind == "input_audio_buffer.speech_started":
        if not _model_says_legal(kind, logged):
            diverge(rec, f"speech_started while speech was already active since line "
                    f"{logged.speech_line} (no speech_stopped or clear in between)")
        end_speech(rec.t_ms, k)
        logged.speech_line = rec.line
    elif kind == "input_audio_buffer.speech_stopped":
        if not _model_says_legal(kind, logged):
            diverge(rec, "speech_stopped with no speech_started before it: the server VAD "
                    "was not in speech")
        end_speech(rec.t_ms, k)
    elif kind == "input_audio_buffer.committed":
        if has_appends and not _model_says_legal(kind, logged):
            diverge(rec, "committed although the client appended no audio since the last "
                    "commit or clear: the buffer was empty")
        logged.buffered_ms = 0
    elif kind == "input_audio_buffer.cleared":
        if logged.clears_pending == 0:
            diverge(rec, "cleared without an input_audio_buffer.clear from the client")
        logged.clears_pending = max(0, logged.clears_pending - 1)
        if not keeps_vad:
            end_speech(rec.t_ms, k)
    elif kind == "response.created":
        rid = _response_id(ev)
        if not _model_says_legal(kind, logged):
            diverge(rec, f"a second response.created ({rid}) while {active[0]} (line "
                    f"{active[1]}) is still active: only one response runs at a time")
        logged.response = (rid, rec.line)
    elif kind == "response.done":
        rid = _response_id(ev)
        if not _model_says_legal(kind, logged):
            diverge(rec, f"response.done ({rid}) with no active response")
        elif rid != active[0]:
            diverge(rec, f"response.done for {rid} but the active response is {active[0]} "
                    f"(line {active[1]})")
        logged.response = None
    elif kind.startswith("response.") and kind != "response.done":
        rid = ev.get("response_id")
        if not _model_says_legal("response.*", logged):
            diverge(rec, f"{kind} outside any response (no response.created is active)")
        elif isinstance(rid, str) and rid != active[0]:
            diverge(rec, f"{kind} for {rid} while the active response is {active[0]} "
                    f"(line {active[1]})")


def _response_id(event: dict[str, Any]) -> str:
    response = event.get("response")
    rid = response.get("id") if isinstance(response, dict) else None
    return rid if isinstance(rid, str) else "?"


def _record_state(result: Replay, rec: LogRecord, client, model, logged: _LoggedServer
                  ) -> None:
    state = {
        "server_speech": logged.speech_line is not None,
        "server_response": logged.response[0] if logged.response else None,
        "client_beliefs": client.beliefs.state,
        "client_playback": client.playback.state,
        "client_watchdog": client.watchdog.state if client.watchdog else "none",
        "model_server_vad": model.vad.state,
        "model_server_response": model.response.state,
    }
    last = result.timeline[-1] if result.timeline else None
    if last is None or any(last[key] != value for key, value in state.items()):
        result.timeline.append({"t_ms": rec.t_ms, "line": rec.line, **state})


# -- vadlock replay --------------------------------------------------------------------
def add_parser(subparsers) -> argparse.ArgumentParser:
    from vadlock.simulator.options import (add_design_options, add_json_option,
                                           add_server_option, help_formatter)

    p = subparsers.add_parser(
        "replay", formatter_class=help_formatter,
        help="check a real session's event log for a freeze",
        description="Read a Realtime session log (one event per line: vadlock trace records "
        "{t_ms, direction, event},\nbare events as console.log(JSON.stringify(event)) "
        "writes them, or a browser console dump\n'[realtime] {...}'), on the log's "
        "timestamps or, without any, on the audio appended (it says\nwhich), validate every "
        "event against the SDK types (strict), report settings the model does\nnot "
        "honour, decode the audio the client appended, reconstruct the server and\nclient "
        "states through the model, and report divergences (server events impossible in\nthe "
        "state reached), the longest stretch without a server event, what the client sent\n"
        "meanwhile, and the freeze signature it matches.\nExit 1 when a freeze signature "
        "matches, 0 otherwise, 2 for a log that cannot be read.")
    p.add_argument("log", metavar="LOG.jsonl")
    add_design_options(p, what="client design to reconstruct")
    add_server_option(p, help="server VAD hypotheses of the model's server (default energy)")
    add_json_option(p)
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from vadlock.model.hypotheses import ServerVadHypotheses
    from vadlock.simulator.options import design_name

    design = design_name(args)  # bad names fail before the log is read
    ServerVadHypotheses.parse(args.server)
    report = replay(read_log(args.log), design, args.server, str(args.log)).to_dict()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 1 if report["signature"] else 0


def print_report(r: dict[str, Any]) -> None:
    print(f"vadlock replay: {r['log']}: {r['events']} events ({r['server_events']} from the "
          f"server, {r['appends']} audio appends); design={r['design']} server={r['server']}")
    print(f"  clock: {r['clock_description']}")
    print(f"  validated with {r['validation']}: {len(r['invalid'])} invalid")
    for item in r["invalid"][:20]:
        print(f"    line {item['line']}: {item['error']}")
    for item in r["unhonoured"][:20]:
        print(f"  not modelled, line {item['line']}: {item['setting']}")
    print(f"  divergences from the model: {len(r['divergences'])}")
    for item in r["divergences"][:20]:
        print(f"    line {item['line']}: {item['explanation']}")
    for item in r["errors"][:10]:
        print(f"  server error at line {item['line']}: {item['code']}: {item['message']}")
    counts = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in
                       r["client_audio_during_silence"].items() if v) or "no appends"
    after = f" after {r['silence_after']} (line {r['silence_start_line']})" \
        if r["silence_after"] else ""
    print(f"  longest stretch without a server event: {r['longest_silence_ms'] / 1000:.1f} s, "
          f"{r['silence_start_ms']} -> {r['silence_end_ms']} ms{after}")
    print(f"    the client sent: {counts}")
    if r["near_silent_peak_int16"]:
        lo, hi = r["near_silent_peak_int16"]
        print(f"    near-silent chunks peak at int16 {lo}..{hi}")
    model = ", ".join(f"{v} {k}" for k, v in r["model_server_during_silence"].items())
    print(f"    the model's server ({r['server']}) would have sent: {model or 'nothing'}")
    state = ", ".join(f"{k}={v}" for k, v in r["state_at_silence_start"].items())
    print(f"    state when it began: {state}")
    if r["signature"]:
        print(f"\nFREEZE: {r['signature']}: {r['signature_description']}")
    elif r["clock"] == "lines":
        print("\nno freeze signature judged: the log has neither timestamps nor audio")
    else:
        print("\nno known freeze signature")
    print(f"verdict: {r['verdict']}")
