"""One connection's server, without sockets: client frames in, server events out.

It drives the same `ServerSession` as the simulator (through `start`, `receive`,
`advance`), decodes appended audio with the simulator's `ServerAudioDecoder`, renders the
model's audio placeholders with a `Voice`, and applies the `FaultBoard`.

Clocks. Turn detection runs on the audio received, as the API's `audio_start_ms` /
`audio_end_ms` do: silence and prefix padding are counted in appended audio. The server's
other timers (response generation: first audio 300 ms after `response.created`, then 4 ms
of audio per ms; `idle_timeout_ms`; the session limit) run on the session clock, which is
`wall` (milliseconds since the connection opened, stepped by the endpoint every 10 ms) or
`audio` (milliseconds of audio received; the server then answers only as audio arrives,
deterministically, and a client may send faster than real time). Log times are on the
session clock.

What the edge adds to the model's events: base64 pcm16 for each audio delta, a
`response.output_audio_transcript.delta` after it (the words whose evenly spread end
falls in that audio), the transcript in the `.done` events, and its own events (ids
`event_edge_N`): `error` for frames that are not valid client events, `session.updated`
for an update that leaves turn detection alone, `conversation.item.deleted`, and the
injected faults. Error codes are the guide's (`invalid_event`, `invalid_value`); the
messages are vadlock's own wording.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from typing import Any, Callable

import numpy as np

from vadlock.model import protocol
from vadlock.model.client.session import ClientSession
from vadlock.model.designs import Design
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.model.server.session import ServerSession
from vadlock.simulator import audio
from vadlock.simulator.engine import ServerAudioDecoder, detector_factory
from vadlock.simulator.logreplay import CLIENT_TYPES
from vadlock.simulator.serve import CLOCKS
from vadlock.simulator.serve.faults import FaultBoard
from vadlock.simulator.server_faults import (SESSION_EXPIRED_MESSAGE, failed_response_done,
                                             incomplete_response_done)
from vadlock.simulator.serve.voice import Voice

MAX_APPEND_BYTES = 15 * 2**20  # documented limit per input_audio_buffer.append
DEFAULT_MAX_SESSION_MS = 60 * 60_000  # documented: sessions last at most 60 minutes
TRANSCRIPT_PLACEHOLDER = "…"  # what the model's response machine puts in transcripts
_CONTENT_TYPES = {"user": ("input_text", "input_audio"), "system": ("input_text",),
                  "assistant": ("output_text", "output_audio")}


class Rejected(Exception):
    """A client frame the server answers with an `error` event."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.param = code, message, param


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


_TD_CHECKS = {  # the server_vad fields the model's server reads, with their checks
    "threshold": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
    and 0 <= v <= 1,
    "silence_duration_ms": _count, "prefix_padding_ms": _count,
    "idle_timeout_ms": lambda v: v is None or (_count(v) and v > 0),
    "create_response": lambda v: isinstance(v, bool),
    "interrupt_response": lambda v: isinstance(v, bool)}


class ServedSession:
    def __init__(self, number: int, design: Design, hypotheses: ServerVadHypotheses,
                 board: FaultBoard, voice: Voice, clock: str = "wall",
                 max_session_ms: int = DEFAULT_MAX_SESSION_MS) -> None:
        if clock not in CLOCKS:
            raise ValueError(f"clock must be one of {', '.join(CLOCKS)}, got {clock!r}")
        self.number, self.board, self.voice, self.clock = number, board, voice, clock
        self.hypotheses = hypotheses
        self.max_session_ms = max_session_ms
        # the design's session.update, as `vadlock replay --design` reconstructs it
        self.turn_detection = dict(ClientSession(design).turn_detection)
        self.server = ServerSession(hypotheses, design.level_scale, dict(self.turn_detection),
                                    response_ms=voice.response_ms,
                                    session_limit_ms=max_session_ms)
        # a frame's kind is judged only where the hypotheses can tell kinds apart (as the
        # simulator's engine does)
        factory = detector_factory(hypotheses)
        self.decoder = ServerAudioDecoder(
            design.level_scale, kind_from_level=hypotheses.kind_from_level(design.level_scale),
            detector=None if factory is None else factory(),
            threshold=lambda: self.server.turn_detection.get("threshold", 0.5))
        self._decoded: np.ndarray | None = None  # the append audio `_check` decoded
        self._pending = np.zeros(0, np.float32)  # audio short of a whole 10 ms frame
        self.samples_received = 0
        self.clock_ms = 0
        self.turns = 0  # response.done events sent
        self.stalled = False
        self.ending: str | None = None  # "close" or "drop": the endpoint ends the connection
        self._failed: dict[Any, int] = {}  # fail/incomplete-response fault -> responses taken
        self._edge_seq = 0
        self._said: dict[str, str] = {}  # item id -> transcript delivered so far

    # -- the endpoint's calls --------------------------------------------------------
    def start(self) -> list[dict[str, Any]]:
        return self._wire(self.server.start())

    def receive_text(self, text: str | bytes) -> tuple[dict[str, Any] | None,
                                                        list[dict[str, Any]]]:
        """(the client event if the server accepted it, the events to send)."""
        if self.ending:
            return None, []
        event: Any = None
        try:
            event = self._load(text)
            self._check_type(event)
            self._check(event)
        except Rejected as rejected:
            client_id = event.get("event_id") if isinstance(event, dict) else None
            return None, [self._edge(protocol.error(
                rejected.code, rejected.message,
                client_id if isinstance(client_id, str) else None), param=rejected.param)]
        out = self._fault_step()
        if self.ending or self.stalled:
            return event, out
        return event, out + self._wire(self._dispatch(event))

    def advance_to(self, clock_ms: int) -> list[dict[str, Any]]:
        """The wall clock's step: let the server's timers run up to `clock_ms`."""
        elapsed = clock_ms - self.clock_ms
        if elapsed <= 0 or self.ending:
            return []
        self.clock_ms = clock_ms
        out = self._fault_step()
        if self.ending or self.stalled:
            return out
        return out + self._wire(self.server.advance(elapsed))

    # -- input -------------------------------------------------------------------------
    @staticmethod
    def _load(text: str | bytes) -> dict[str, Any]:
        try:
            event = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            raise Rejected("invalid_event", "The frame is not valid JSON.") from None
        if not isinstance(event, dict):
            raise Rejected("invalid_event", "An event must be a JSON object.")
        return event

    @staticmethod
    def _check_type(event: dict[str, Any]) -> None:
        kind = event.get("type")
        if not isinstance(kind, str):
            raise Rejected("invalid_event", "The event has no string 'type'.", "type")
        if kind not in CLIENT_TYPES:
            raise Rejected("invalid_value", f"Invalid value: {kind!r}. Supported values "
                           "are: " + ", ".join(sorted(CLIENT_TYPES)) + ".", "type")
        if "event_id" in event and not isinstance(event["event_id"], str):
            raise Rejected("invalid_value", "'event_id' must be a string.", "event_id")

    def _check(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "input_audio_buffer.append":
            self._decoded = self._decode(event)
        elif kind == "session.update":
            self._turn_detection_of(event)
        elif kind == "conversation.item.truncate":
            if not isinstance(event.get("item_id"), str) or not _count(
                    event.get("audio_end_ms")) or not _count(event.get("content_index", 0)):
                raise Rejected("invalid_value", "conversation.item.truncate needs item_id "
                               "(a string), content_index and audio_end_ms (integers >= 0).")
        elif kind == "conversation.item.create":
            item = event.get("item")
            ok = isinstance(item, dict) and item.get("type") == "message" and \
                isinstance(item.get("content"), list) and item.get("role") in _CONTENT_TYPES \
                and all(isinstance(part, dict) and
                        part.get("type") in _CONTENT_TYPES[item["role"]]
                        for part in item["content"])
            if not ok:
                raise Rejected("invalid_value", "vadlock serve models message items only "
                               "(user, system or assistant, with matching content parts).",
                               "item")
        elif kind == "conversation.item.retrieve":
            raise Rejected("invalid_value", "vadlock serve does not model "
                           "conversation.item.retrieve.", "type")
        elif kind == "conversation.item.delete":
            if not isinstance(event.get("item_id"), str):
                raise Rejected("invalid_value", "conversation.item.delete needs item_id.",
                               "item_id")
        elif kind == "response.create":
            response = event.get("response")
            if response is not None and not isinstance(response, dict):
                raise Rejected("invalid_value", "'response' must be an object.", "response")
            if isinstance(response, dict) and response.get("conversation") == "none":
                raise Rejected("invalid_value", "vadlock serve does not model out-of-band "
                               "responses (conversation: none).", "response.conversation")

    def _decode(self, event: dict[str, Any]) -> np.ndarray:
        b64 = event.get("audio")
        if not isinstance(b64, str):
            raise Rejected("invalid_value", "'audio' must be a base64 string.", "audio")
        if len(b64) > (MAX_APPEND_BYTES + 2) // 3 * 4:
            raise Rejected("invalid_value", f"Audio is over {MAX_APPEND_BYTES} bytes "
                           "(15 MiB per append).", "audio")
        try:
            data = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise Rejected("invalid_value", "'audio' is not valid base64.", "audio") from None
        return audio.from_pcm16(data[: len(data) // 2 * 2])

    def _turn_detection_of(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """The merged server_vad settings an update asks for (None: it leaves them)."""
        session = event.get("session")
        if not isinstance(session, dict):
            raise Rejected("invalid_value", "'session' must be an object.", "session")
        audio_cfg = session.get("audio", {})
        inputs = audio_cfg.get("input", {}) if isinstance(audio_cfg, dict) else None
        if not isinstance(inputs, dict):
            raise Rejected("invalid_value", "'session.audio.input' must be an object.",
                           "session.audio")
        if "turn_detection" not in inputs:
            return None
        given = inputs["turn_detection"]
        param = "session.audio.input.turn_detection"
        if not isinstance(given, dict) or given.get("type", "server_vad") != "server_vad":
            raise Rejected("invalid_value", "vadlock serve models server_vad turn detection "
                           "only (not null or semantic_vad).", param)
        td = dict(self.turn_detection)
        for key, value in given.items():
            if key in _TD_CHECKS:
                if not _TD_CHECKS[key](value):
                    raise Rejected("invalid_value", f"Invalid value for {key}: {value!r}.",
                                   f"{param}.{key}")
                td[key] = value
        return td

    def _dispatch(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        kind = event["type"]
        if kind == "input_audio_buffer.append":
            decoded, self._decoded = self._decoded, None
            self.samples_received += len(decoded)
            samples = np.concatenate([self._pending, decoded])
            usable = len(samples) // self.decoder.frame_n * self.decoder.frame_n
            frames = self.decoder.frames_of(samples[:usable])
            self._pending = samples[usable:]
            out = self.server.receive({"type": kind}, frames)
            if self.clock == "audio":
                now = self.samples_received // audio.SAMPLES_PER_MS
                if now > self.clock_ms:
                    out += self.server.advance(now - self.clock_ms)
                    self.clock_ms = now
            return out
        if kind == "session.update":
            td = self._turn_detection_of(event)
            if td is None:
                return [self._edge({"type": "session.updated", "session":
                                    protocol.session_object("sess_vadlock",
                                                            self.turn_detection)})]
            self.turn_detection = td
            return self.server.receive(
                {"type": kind, "session": {"audio": {"input": {"turn_detection": dict(td)}}}})
        if kind == "conversation.item.delete":
            return [self._edge({"type": "conversation.item.deleted",
                                "item_id": event["item_id"]})]
        return self.server.receive(event)

    # -- faults ------------------------------------------------------------------------
    def _fault_step(self) -> list[dict[str, Any]]:
        """Apply the board before a batch: expire, drop, stall."""
        board = self.board
        expire = board.get("expire")
        if self.clock_ms >= self.max_session_ms or (
                expire and self.turns >= expire.after and
                (expire.at_s is None or self.clock_ms >= expire.at_s * 1000)):
            self.ending = "close"
            return [self._edge(protocol.error("session_expired", SESSION_EXPIRED_MESSAGE))]
        drop = board.get("drop")
        if drop and self.turns >= drop.after:
            self.ending = "drop"
            return []
        stall = board.get("stall")
        self.stalled = bool(stall and self.turns >= stall.after)
        return []

    def _fails_next(self, name: str = "fail-response") -> bool:
        """Whether the fault `name` (fail-response, incomplete-response) takes the response
        now starting (or, for incomplete-response, now sending its first audio)."""
        fault = self.board.get(name)
        if fault is None or self.turns < fault.after:
            return False
        done = self._failed.get(fault, 0)
        if fault.count and done >= fault.count:
            return False
        self._failed[fault] = done + 1
        return True

    # -- output ------------------------------------------------------------------------
    def _edge(self, event: dict[str, Any], param: str | None = None) -> dict[str, Any]:
        self._edge_seq += 1
        if param is not None:
            event["error"]["param"] = param
        return {"type": event["type"], "event_id": f"event_edge_{self._edge_seq:05d}",
                **event}

    def _wire(self, events: list[dict[str, Any]],
              ending: Callable[[dict[str, Any]], dict[str, Any]] | None = None
              ) -> list[dict[str, Any]]:
        """The model's events as they go on the wire (see the module docstring); `ending`
        rewrites the `response.done` of a response a fault ended."""
        out: list[dict[str, Any]] = []
        cut = None  # how the response a fault takes in this batch ends
        for event in events:
            kind = event["type"]
            if kind == "response.output_audio.delta":
                out += self._audio_delta(event)
                if ending is None and cut is None and self._fails_next("incomplete-response"):
                    reason = self.board.get("incomplete-response").reason
                    cut = functools.partial(incomplete_response_done, reason=reason)
                continue
            if kind == "response.created" and ending is None and self._fails_next():
                cut = failed_response_done
            if kind == "response.done":
                self.turns += 1
                cut = None  # it ended in this batch already (barge-in): nothing to end
                if ending is not None:
                    event = ending(event)
            out.append(_fill_transcript(event, self._said.get(_item_of(event), "")))
        if cut is not None:
            out += self._wire(self.server.receive({"type": "response.cancel"}), ending=cut)
        return out

    def _audio_delta(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        payload = event["delta"]
        index, start, duration = payload.response_index, payload.offset_ms, payload.duration_ms
        delta = base64.b64encode(self.voice.pcm16(index, start, duration)).decode()
        out = [{**event, "delta": delta}]
        words = self.voice.words_between(index, start, start + duration,
                                         self.voice.response_ms(index))
        if words:
            item_id = event["item_id"]
            self._said[item_id] = self._said.get(item_id, "") + words
            out.append(self._edge({
                "type": "response.output_audio_transcript.delta",
                "response_id": event["response_id"], "item_id": item_id,
                "output_index": event["output_index"],
                "content_index": event["content_index"], "delta": words}))
        return out


def _item_of(event: dict[str, Any]) -> str:
    if isinstance(event.get("item_id"), str):
        return event["item_id"]
    item = event.get("item")
    if isinstance(item, dict):
        return item.get("id", "")
    output = event.get("response", {}).get("output") if isinstance(
        event.get("response"), dict) else None
    return output[0].get("id", "") if output else ""


def _fill_transcript(node: Any, text: str) -> Any:
    """`node` with the model's transcript placeholder replaced by `text`."""
    if isinstance(node, dict):
        return {key: text if key == "transcript" and value == TRANSCRIPT_PLACEHOLDER
                else _fill_transcript(value, text) for key, value in node.items()}
    if isinstance(node, list):
        return [_fill_transcript(value, text) for value in node]
    return node
