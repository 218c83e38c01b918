"""The server side of one Realtime session: buffer, VAD and response machines wired together.

Sans-IO: `receive(event, frames)` takes one client event (with the decoded frame symbols
of an append) and `advance(ms)` lets simulated time pass; both return server events in
wire shape, `event_id` stamped. Ids come from counters, so traces are deterministic.

Assumptions beyond the machines' own docstrings:
- the VAD's commit at `speech_stopped` cuts the buffer at `audio_end_ms`: the audio of the
  same append after that point starts the next buffer;
- the VAD's own commit at `speech_stopped` is skipped (no error, no response) when the
  buffer holds under 100 ms — possible only after a clear under `clear-keeps-vad`;
- `session.update` re-applying `turn_detection` resets the VAD, except under
  `clear-keeps-vad` (which then stands for "buffer-level operations never reset VAD");
- `idle_timeout_ms` counts from `response.done` plus that response's audio duration.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from vadlock.model import protocol
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.model.server.audio_buffer import InputAudioBuffer
from vadlock.model.server.response import ResponseLifecycle
from vadlock.model.server.vad import ServerVad
from vadlock.model.symbols import FrameSymbol, LevelScale

FIRST_AUDIO_DELAY_MS = 300  # response.created -> audio starts being generated
GENERATION_SPEED = 4  # ms of audio generated per ms of wall time
DELTA_AUDIO_MS = 100  # audio per response.output_audio.delta (the last one may be shorter)
DEFAULT_RESPONSE_MS = 4_000

Frames = Iterable[tuple[FrameSymbol, int]]


class ServerSession:
    def __init__(self, hypotheses: ServerVadHypotheses, scale: LevelScale,
                 turn_detection: dict[str, Any] | None = None,
                 response_ms: Callable[[int], int] | None = None,
                 owns_output_buffer: bool = False) -> None:
        self.hypotheses = hypotheses
        self.turn_detection = turn_detection or protocol.turn_detection_config()
        self.vad = ServerVad(hypotheses, scale,
                             self.turn_detection["silence_duration_ms"],
                             self.turn_detection["prefix_padding_ms"])
        self.buffer = InputAudioBuffer()
        self.response = ResponseLifecycle()
        self.response_ms = response_ms or (lambda index: DEFAULT_RESPONSE_MS)
        self.owns_output_buffer = owns_output_buffer  # WebRTC: server plays and truncates
        self.audio_pos_ms = 0
        self._cut_ms: int | None = None  # where the VAD's last commit cut the audio timeline
        self.since_created_ms = 0
        self.idle_armed = False
        self.idle_ms = 0
        self.idle_needed_ms = 0
        self.played_ms = 0  # WebRTC: playback position of the current response's audio
        self.out_playing = False  # WebRTC: the server is playing response audio
        self._event_seq = 0
        self._item_seq = 0
        self._response_seq = 0
        self.user_item_id = ""
        self.last_item_id: str | None = None
        self.item_audio_ms: dict[str, int] = {}
        self.audio_for_media: list[protocol.AudioPayload] = []  # WebRTC: to the speaker
        self.changes: list[tuple[str, str, str, str]] = []
        for machine in self.machines:
            machine.changes = self.changes

    # -- ids ---------------------------------------------------------------------------
    def _stamp(self, event: dict[str, Any]) -> dict[str, Any]:
        self._event_seq += 1
        stamped = {"type": event["type"], "event_id": f"event_{self._event_seq:05d}"}
        stamped.update(event)  # "type" keeps its place, first
        return stamped

    def _new_item(self) -> str:
        self._item_seq += 1
        return f"item_{self._item_seq:04d}"

    @property
    def machines(self):
        return (self.buffer, self.vad, self.response)

    # -- inputs ------------------------------------------------------------------------
    def start(self) -> list[dict[str, Any]]:
        return [self._stamp({"type": "session.created",
                             "session": protocol.session_object("sess_vadlock",
                                                                self.turn_detection)})]

    def receive(self, event: dict[str, Any], frames: Frames = ()) -> list[dict[str, Any]]:
        kind = event["type"]
        out: list[dict[str, Any]] = []
        if kind == "input_audio_buffer.append":
            out += self.receive_audio(frames)
        elif kind == "input_audio_buffer.commit":
            self.buffer.commit()
            out += self._collect(client_commit=True)
        elif kind == "input_audio_buffer.clear":
            self.buffer.clear()
            if not self.hypotheses.has("clear-keeps-vad"):
                self.vad.reset()
            out += self._collect()
        elif kind == "session.update":
            td = event["session"]["audio"]["input"]["turn_detection"]
            self.turn_detection = td
            self.vad.silence_duration_ms = td["silence_duration_ms"]
            if not self.hypotheses.has("clear-keeps-vad"):
                self.vad.reset()
            out.append(self._stamp({"type": "session.updated",
                                    "session": protocol.session_object("sess_vadlock", td)}))
        elif kind == "response.create":
            self._start_response()
            out += self._collect()
        elif kind == "response.cancel":
            self.response.cancel("client_cancelled")
            out += self._collect()
        elif kind == "conversation.item.truncate":
            out += self._truncate(event)
        elif kind == "conversation.item.create":
            out += self._create_item(event["item"])
        elif kind == "output_audio_buffer.clear":
            if self.owns_output_buffer and self.out_playing:
                out += self._cut_output()
        return out

    def receive_audio(self, frames: Frames) -> list[dict[str, Any]]:
        """Input audio, from `append` events (WebSocket) or the media track (WebRTC)."""
        out: list[dict[str, Any]] = []
        for symbol, duration_ms in frames:
            start_ms, end_ms = self.audio_pos_ms, self.audio_pos_ms + duration_ms
            self.buffer.append(duration_ms)
            self.vad.feed(symbol, duration_ms, start_ms)
            self.audio_pos_ms = end_ms
            self._cut_ms = None
            out += self._collect()
            if self._cut_ms is not None and self._cut_ms < end_ms:
                # the VAD committed inside this run: what follows the cut is the next turn's
                self.buffer.append(end_ms - self._cut_ms)
        return out

    def advance(self, elapsed_ms: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self.out_playing:
            have = self.item_audio_ms.get(self.response.item_id, 0)
            self.played_ms = min(have, self.played_ms + elapsed_ms)
            if self.response.state == "idle" and self.played_ms >= have:
                out += self.stop_output()
        if self.response.state == "in_progress":
            self.since_created_ms += elapsed_ms
            while self.response.state == "in_progress" and \
                    self._ready_ms() >= self._next_delta_ms():
                before = self.response.generated_ms
                self.response.generate(self._next_delta_ms() - before)
                if self.response.generated_ms == before:
                    break  # nothing more comes out (only a broken generator stalls here)
            out += self._collect()
        if self.idle_armed and self.vad.state == "silence" and self.response.state == "idle":
            self.idle_ms += elapsed_ms
            if self.idle_ms >= self.idle_needed_ms:
                out += self._idle_timeout()
        return out

    def _ready_ms(self) -> int:
        """Audio of the current response generated so far (sent or not)."""
        generating_ms = max(0, self.since_created_ms - FIRST_AUDIO_DELAY_MS)
        return min(self.response.total_ms, generating_ms * GENERATION_SPEED)

    def _next_delta_ms(self) -> int:
        """How much audio must be ready for the next delta to go out."""
        return min(self.response.total_ms, self.response.generated_ms + DELTA_AUDIO_MS)

    def quiet_ms(self) -> int | None:
        """How far `advance` can go at once with no output (None: without limit); advancing
        by any amount up to it in one call equals advancing tick by tick."""
        bounds = []
        if self.response.state == "in_progress":  # until the next delta is ready
            due_ms = FIRST_AUDIO_DELAY_MS + -(-self._next_delta_ms() // GENERATION_SPEED)
            bounds.append(due_ms - self.since_created_ms - 1)
        elif self.idle_armed and self.vad.state == "silence":
            bounds.append(self.idle_needed_ms - self.idle_ms - 1)
        if self.out_playing:  # WebRTC: while playback has audio ahead of it, a tick per tick
            have = self.item_audio_ms.get(self.response.item_id, 0)
            bounds.append(have - self.played_ms - 1)
        return max(0, min(bounds)) if bounds else None

    # -- internals ---------------------------------------------------------------------
    def _start_response(self) -> None:
        if self.response.state == "idle":
            self._response_seq += 1
            self.since_created_ms = 0
            item_id = self._new_item()
            self.response.start(f"resp_{self._response_seq:04d}", item_id,
                                self.response_ms(self._response_seq - 1))
        else:
            self.response.start("", "", 0)

    def _collect(self, client_commit: bool = False) -> list[dict[str, Any]]:
        """Turn the machines' outputs into wire events, following their consequences."""
        if not (self.vad.outbox or self.buffer.outbox or self.response.outbox):
            return []
        out: list[dict[str, Any]] = []
        for output in self.vad.drain():
            if output[0] == "speech_started":
                self.idle_armed = False
                self.user_item_id = self._new_item()
                out.append(self._stamp({"type": "input_audio_buffer.speech_started",
                                        "audio_start_ms": output[1],
                                        "item_id": self.user_item_id}))
                if self._interrupts():
                    if self.response.state == "in_progress":
                        self.response.cancel("turn_detected")
                        out += self._collect()
                    if self.out_playing:
                        out += self._cut_output()
            else:
                out.append(self._stamp({"type": "input_audio_buffer.speech_stopped",
                                        "audio_end_ms": output[1],
                                        "item_id": self.user_item_id}))
                if self.buffer.buffered_ms >= protocol.MIN_COMMIT_MS:
                    self.buffer.commit()
                    self._cut_ms = output[1]
                    out += self._collect()
        for output in self.buffer.drain():
            if output == ("committed",):
                out += self._committed(self.user_item_id or self._new_item(),
                                       respond=not client_commit)
            else:
                out.append(self._stamp(output))
        for output in self.response.drain():
            if output["type"] == "response.output_audio.delta":
                self.item_audio_ms[output["item_id"]] = (
                    self.item_audio_ms.get(output["item_id"], 0) + output["delta"].duration_ms)
                if self.owns_output_buffer:
                    self.audio_for_media.append(output["delta"])
                    continue  # WebRTC: response audio travels on the media track
            out.append(self._stamp(output))
            if output["type"] == "response.content_part.added" and self.owns_output_buffer:
                self.out_playing, self.played_ms = True, 0
                out.append(self._stamp({"type": "output_audio_buffer.started",
                                        "response_id": output["response_id"]}))
            if output["type"] == "response.done":
                self.last_item_id = self.response.item_id
                self._arm_idle_timeout()
        return out

    def _interrupts(self) -> bool:
        """turn_detection.interrupt_response: speech_started cancels the response in
        progress and (WebRTC) cuts the audio playing; false: neither (create_response is
        read in `_committed`)."""
        return bool(self.turn_detection.get("interrupt_response", True))

    def stop_output(self) -> list[dict[str, Any]]:
        """WebRTC: the output buffer has drained."""
        self.out_playing = False
        return [self._stamp({"type": "output_audio_buffer.stopped",
                             "response_id": self.response.response_id})]

    def _cut_output(self) -> list[dict[str, Any]]:
        """WebRTC barge-in: the server stops playback and truncates the item itself."""
        self.out_playing = False
        item_id = self.response.item_id
        self.item_audio_ms[item_id] = self.played_ms
        return [self._stamp({"type": "output_audio_buffer.cleared",
                             "response_id": self.response.response_id}),
                self._stamp({"type": "conversation.item.truncated", "item_id": item_id,
                             "content_index": 0, "audio_end_ms": self.played_ms})]

    def _committed(self, item_id: str, respond: bool) -> list[dict[str, Any]]:
        out = [self._stamp({"type": "input_audio_buffer.committed", "item_id": item_id,
                            "previous_item_id": self.last_item_id})]
        user = protocol.user_item(item_id)
        out.append(self._stamp({"type": "conversation.item.added",
                                "previous_item_id": self.last_item_id, "item": user}))
        out.append(self._stamp({"type": "conversation.item.done",
                                "previous_item_id": self.last_item_id, "item": user}))
        self.last_item_id = item_id
        self.user_item_id = ""
        if respond and self.turn_detection.get("create_response", True):
            self._start_response()
            out += self._collect()
        return out

    def _arm_idle_timeout(self) -> None:
        timeout = self.turn_detection.get("idle_timeout_ms")
        if timeout:
            self.idle_armed = True
            self.idle_ms = 0
            self.idle_needed_ms = timeout + self.response.total_ms

    def _idle_timeout(self) -> list[dict[str, Any]]:
        self.idle_armed = False
        item_id = self._new_item()
        out = [self._stamp({"type": "input_audio_buffer.timeout_triggered",
                            "audio_start_ms": max(0, self.audio_pos_ms - self.idle_ms),
                            "audio_end_ms": self.audio_pos_ms, "item_id": item_id})]
        self.user_item_id = item_id
        if self.buffer.buffered_ms >= protocol.MIN_COMMIT_MS:
            self.buffer.commit()
            out += self._collect()
        return out

    def _create_item(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        item = {"id": self._new_item(), "object": "realtime.item", "status": "completed", **item}
        out = [self._stamp({"type": kind, "previous_item_id": self.last_item_id, "item": item})
               for kind in ("conversation.item.added", "conversation.item.done")]
        self.last_item_id = item["id"]
        return out

    def _truncate(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        item_id, end_ms = event["item_id"], event["audio_end_ms"]
        have_ms = self.item_audio_ms.get(item_id)
        if have_ms is None:
            return [self._stamp(protocol.error("invalid_value", f"Item {item_id} not found"))]
        if end_ms > have_ms:
            return [self._stamp(protocol.error(
                protocol.TRUNCATE_TOO_LONG,
                f"Audio content of {have_ms}ms is already shorter than {end_ms}ms"))]
        self.item_audio_ms[item_id] = end_ms
        return [self._stamp({"type": "conversation.item.truncated", "item_id": item_id,
                             "content_index": 0, "audio_end_ms": end_ms})]


class _AnyLength(dict):
    """Item audio lengths when the explorer has abstracted them away: every item is long."""

    def get(self, key, default=None):
        return 10 ** 9


def server_snapshot(server: ServerSession) -> tuple:
    """The server's abstract state: machines with timers as running/not, whether the idle
    timeout is armed and whether a user item is pending. Ids and the audio timeline are
    left out: no guard reads them."""
    return (tuple(m.abstract_snapshot() for m in server.machines), server.idle_armed,
            bool(server.user_item_id), server.vad.silence_duration_ms, server.out_playing)


def load_server_snapshot(server: ServerSession, snap: tuple) -> None:
    (machines, server.idle_armed, pending, server.vad.silence_duration_ms,
     server.out_playing) = snap
    for machine, machine_snap in zip(server.machines, machines):
        machine.load_abstract_snapshot(machine_snap)
    server.user_item_id = "item_pending" if pending else ""
    server.since_created_ms = 0
    server.idle_ms = 0
    server.item_audio_ms = _AnyLength()
    server.played_ms = 0
    server.audio_for_media.clear()
    server.changes.clear()
