"""The server side of one Realtime session: its machines wired together by declared couplings.

The machines: the input audio buffer, the VAD and its adaptive floor, the response, the
WebRTC output audio buffer and the idle timeout (one file each in `model/server/`). What
one machine's output makes the others do is data (`COUPLINGS`, after h11's
`STATE_TRIGGERED_TRANSITIONS`): cancel the response on `speech_started`, commit on
`speech_stopped`, respond on `committed`, ...

Sans-IO: `receive(event, frames)` takes one client event (with the decoded frame symbols
of an append; what each type does is a table, `RECEIVE`) and `advance(ms)` lets simulated
time pass; both return server events in wire shape, `event_id` stamped. Ids come
from counters, so traces are deterministic.

Assumptions beyond the machines' own docstrings:
- the VAD's commit at `speech_stopped` cuts the buffer at `audio_end_ms`: the audio of the
  same append after that point starts the next buffer;
- the VAD's own commit at `speech_stopped` is skipped (no error, no response) when the
  buffer holds under 100 ms — possible only after a clear under `clear-keeps-vad`;
- `session.update` re-applying `turn_detection` resets the VAD, except under
  `clear-keeps-vad` (which then stands for "buffer-level operations never reset VAD");
- `idle_timeout_ms` counts from `response.done` plus that response's audio duration;
- the session limit (60 minutes, `model/server/session_limit.py`) ends the session with
  the `session_expired` error; after it the session is closed: it hears nothing and sends
  nothing more, and none of its timers runs.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from vadlock.model import protocol
from vadlock.model.hypotheses import HypothesisFlag, ServerVadHypotheses
from vadlock.model.machine import MachineSession
from vadlock.model.server.audio_buffer import Committed, InputAudioBuffer
from vadlock.model.server.floor import AdaptiveFloor
from vadlock.model.server.idle_timeout import IdleTimeout, TimedOut
from vadlock.model.server.output_buffer import (OutputAudioBuffer, OutputBufferState,
                                                PlaybackCut, PlaybackStarted, PlaybackStopped)
from vadlock.model.server.response import ResponseLifecycle, ResponseState
from vadlock.model.server.semantic_vad import MAX_WAIT_MS, SemanticVad
from vadlock.model.server.session_limit import (MAX_SESSION_MS, SESSION_EXPIRED,
                                                SESSION_EXPIRED_MESSAGE, SessionExpired,
                                                SessionLimit, SessionLimitState)
from vadlock.model.server.vad import ServerVad, SpeechStarted, SpeechStopped, VadState
from vadlock.model.symbols import FrameSymbol, LevelScale

DEFAULT_RESPONSE_MS = 4_000

Frames = Iterable[tuple[FrameSymbol, int]]

# What the session does with each client event (h11's EVENT_TRIGGERED_TRANSITIONS): its
# type -> the session's handler, which takes the event and the append's frames and returns
# the server events sent. A type not listed here changes nothing and is answered with none.
RECEIVE: dict[str, str] = {
    "input_audio_buffer.append": "_on_append",
    "input_audio_buffer.commit": "_on_commit",
    "input_audio_buffer.clear": "_on_clear",
    "session.update": "_on_session_update",
    "response.create": "_on_response_create",
    "response.cancel": "_on_response_cancel",
    "conversation.item.truncate": "_on_item_truncate",
    "conversation.item.create": "_on_item_create",
    "output_audio_buffer.clear": "_on_output_clear",
}

# What the session does with each output of a machine, in order: (condition or "", action),
# both methods of the session. Wire events a machine emits as dicts are keyed by their type
# (`dict` for any other); every action returns the wire events it sends.
COUPLINGS: dict[type | str, tuple[tuple[str, str], ...]] = {
    SpeechStarted: (("", "_disarm_idle"), ("", "_open_user_item"),
                    ("", "_send_speech_started"), ("_interrupts", "_cancel_response"),
                    ("_server_playing", "_cut_output")),
    SpeechStopped: (("", "_send_speech_stopped"), ("_can_commit", "_commit_at_stop")),
    Committed: (("", "_send_committed"), ("_responds", "_respond")),
    TimedOut: (("", "_send_timeout_triggered"), ("_can_commit", "_commit")),
    PlaybackStarted: (("", "_send_playback_started"),),
    PlaybackStopped: (("", "_send_playback_stopped"),),
    PlaybackCut: (("", "_send_playback_cut"),),
    SessionExpired: (("", "_send_session_expired"),),
    "response.output_audio.delta": (("", "_count_item_audio"), ("_over_websocket", "_send"),
                                    ("_server_plays", "_to_media")),
    "response.content_part.added": (("", "_send"), ("_server_plays", "_start_output")),
    "response.done": (("", "_send"), ("", "_close_response")),
    dict: (("", "_send"),),
}
# the machines whose outputs `_collect` follows, in this order
COLLECTED = ("vad", "buffer", "response")
# the clock timers' order within one `advance`: the session limit first (nothing follows
# it), the playback position (it stops only on audio a finished response has sent), then
# generation, then the idle timeout
CLOCKED = ("limit", "output_buffer", "response", "idle")


class ServerSession(MachineSession):
    def __init__(self, hypotheses: ServerVadHypotheses, scale: LevelScale,
                 turn_detection: dict[str, Any] | None = None,
                 response_ms: Callable[[int], int] | None = None,
                 owns_output_buffer: bool = False,
                 session_limit_ms: int | None = MAX_SESSION_MS) -> None:
        self.hypotheses = hypotheses
        self.turn_detection = turn_detection or protocol.turn_detection_config()
        td = self.turn_detection
        self.vad = (SemanticVad(hypotheses, scale, td.get("eagerness") or "auto")
                    if td["type"] == "semantic_vad" else
                    ServerVad(hypotheses, scale, td["silence_duration_ms"],
                              td["prefix_padding_ms"]))
        self.floor = AdaptiveFloor(hypotheses, scale)
        self.buffer = InputAudioBuffer()
        self.response = ResponseLifecycle()
        self.output_buffer = OutputAudioBuffer(
            audio_ms=lambda: self.item_audio_ms.get(self.response.item_id, 0),
            streaming=lambda: self.response.state != ResponseState.IDLE)
        self.idle = IdleTimeout(
            user_quiet=lambda: (self.vad.state == VadState.SILENCE
                                and self.response.state == ResponseState.IDLE),
            timeout_ms=lambda: self.turn_detection.get("idle_timeout_ms"))
        self.limit = SessionLimit(session_limit_ms)  # None: no limit (the explorer's default)
        self.response_ms = response_ms or (lambda index: DEFAULT_RESPONSE_MS)
        self.owns_output_buffer = owns_output_buffer  # WebRTC: server plays and truncates
        self.audio_pos_ms = 0
        self._cut_ms: int | None = None  # where the VAD's last commit cut the audio timeline
        self._client_commit = False  # the commit being followed is the client's
        self._event_seq = 0
        self._item_seq = 0
        self._response_seq = 0
        self.user_item_id = ""
        self.last_item_id: str | None = None
        self.item_audio_ms: dict[str, int] = {}
        self.audio_for_media: list[protocol.AudioPayload] = []  # WebRTC: to the speaker
        self.changes: list[tuple[str, str, str, str]] = []
        # the order of the explorer's snapshots and timer steps
        self.machines = (self.buffer, self.vad, self.response, self.output_buffer,
                         self.floor, self.idle, self.limit)
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

    # -- views the engine reads ----------------------------------------------------------
    @property
    def out_playing(self) -> bool:
        """WebRTC: the server is playing response audio."""
        return self.output_buffer.state == OutputBufferState.PLAYING

    @property
    def played_ms(self) -> int:
        """WebRTC: playback position in the current response's audio."""
        return self.output_buffer.played_ms

    # -- inputs ------------------------------------------------------------------------
    def start(self) -> list[dict[str, Any]]:
        return [self._stamp({"type": "session.created",
                             "session": protocol.session_object("sess_vadlock",
                                                                self.turn_detection)})]

    @property
    def closed(self) -> bool:
        """The session has ended (its limit was reached): it hears and sends nothing."""
        return self.limit.state == SessionLimitState.EXPIRED

    def receive(self, event: dict[str, Any], frames: Frames = ()) -> list[dict[str, Any]]:
        """One client event (with the decoded frames of an append), as `RECEIVE` says."""
        if self.closed:
            return []
        handler = RECEIVE.get(event["type"])
        return getattr(self, handler)(event, frames) if handler else []

    # -- the handlers of RECEIVE ---------------------------------------------------------
    def _on_append(self, event: dict[str, Any], frames: Frames) -> list[dict[str, Any]]:
        return self.receive_audio(frames)

    def _on_commit(self, event: dict[str, Any], frames: Frames) -> list[dict[str, Any]]:
        self.buffer.commit()
        return self._collect(client_commit=True)

    def _on_clear(self, event: dict[str, Any], frames: Frames) -> list[dict[str, Any]]:
        self.buffer.clear()
        if not self.hypotheses.has(HypothesisFlag.CLEAR_KEEPS_VAD):
            self.vad.reset()
        return self._collect()

    def _on_session_update(self, event: dict[str, Any], frames: Frames) -> list[dict[str, Any]]:
        td = event["session"]["audio"]["input"]["turn_detection"]
        if td["type"] != self.turn_detection["type"]:
            raise ValueError("session.update: the model's server keeps the turn "
                             f"detection type it started with ({self.turn_detection['type']})")
        self.turn_detection = td
        self.vad.silence_duration_ms = (MAX_WAIT_MS[td.get("eagerness") or "auto"]
                                        if td["type"] == "semantic_vad"
                                        else td["silence_duration_ms"])
        if not self.hypotheses.has(HypothesisFlag.CLEAR_KEEPS_VAD):
            self.vad.reset()
        return [self._stamp({"type": "session.updated",
                             "session": protocol.session_object("sess_vadlock", td)})]

    def _on_response_create(self, event: dict[str, Any], frames: Frames
                            ) -> list[dict[str, Any]]:
        self._start_response()
        return self._collect()

    def _on_response_cancel(self, event: dict[str, Any], frames: Frames
                            ) -> list[dict[str, Any]]:
        self.response.cancel(reason="client_cancelled")
        return self._collect()

    def _on_item_truncate(self, event: dict[str, Any], frames: Frames) -> list[dict[str, Any]]:
        return self._truncate(event)

    def _on_item_create(self, event: dict[str, Any], frames: Frames) -> list[dict[str, Any]]:
        return self._create_item(event["item"])

    def _on_output_clear(self, event: dict[str, Any], frames: Frames) -> list[dict[str, Any]]:
        return self._cut_output(None) if self.owns_output_buffer else []

    def receive_audio(self, frames: Frames) -> list[dict[str, Any]]:
        """Input audio, from `append` events (WebSocket) or the media track (WebRTC)."""
        out: list[dict[str, Any]] = []
        if self.closed:
            return out
        for symbol, duration_ms in frames:
            start_ms, end_ms = self.audio_pos_ms, self.audio_pos_ms + duration_ms
            self.buffer.append(duration_ms=duration_ms)
            frame_class = self.vad.feed(symbol, duration_ms, start_ms, self.floor.band)
            self.floor.hear(symbol, frame_class, duration_ms)
            self.audio_pos_ms = end_ms
            self._cut_ms = None
            out += self._collect()
            if self._cut_ms is not None and self._cut_ms < end_ms:
                # the VAD committed inside this run: what follows the cut is the next turn's
                self.buffer.append(duration_ms=end_ms - self._cut_ms)
        return out

    def advance(self, elapsed_ms: int) -> list[dict[str, Any]]:
        """Let wall time pass for the clock timers (`model.machine.Timer`), in `CLOCKED`
        order, following what each one's expiry sets off."""
        out: list[dict[str, Any]] = []
        for name in CLOCKED:
            if self.closed:
                break
            getattr(self, name).advance(elapsed_ms)
            out += self._collect()
        return out

    def ms_until_next_deadline(self) -> int | None:
        return None if self.closed else super().ms_until_next_deadline()

    def running_timers(self, answer_only: bool = False) -> tuple[str, ...]:
        return () if self.closed else super().running_timers(answer_only)

    # -- the couplings ---------------------------------------------------------------------
    def _collect(self, client_commit: bool = False) -> list[dict[str, Any]]:
        """Turn the machines' outputs into wire events, following `COUPLINGS`."""
        out: list[dict[str, Any]] = []
        self._client_commit = client_commit
        for machine in (self.limit, self.output_buffer, self.idle):
            out += self._follow(machine.drain())
        if not (self.vad.outbox or self.buffer.outbox or self.response.outbox):
            return out
        for name in COLLECTED:
            self._client_commit = client_commit
            out += self._follow(getattr(self, name).drain())
        return out

    def _follow(self, outputs: list[Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        client_commit = self._client_commit
        for output in outputs:
            key = output["type"] if isinstance(output, dict) else type(output)
            for condition, action in COUPLINGS.get(key) or COUPLINGS[type(output)]:
                self._client_commit = client_commit  # an action's own follow-ups reset it
                if not condition or getattr(self, condition)(output):
                    out += getattr(self, action)(output)
        return out

    # conditions
    def _interrupts(self, output) -> bool:
        return bool(self.turn_detection.get("interrupt_response")) and \
            self.response.state == ResponseState.IN_PROGRESS

    def _server_playing(self, output) -> bool:
        """WebRTC: the server is playing audio that speech cuts (interrupt_response)."""
        return self.out_playing and bool(self.turn_detection.get("interrupt_response", True))

    def _can_commit(self, output) -> bool:
        return self.buffer.buffered_ms >= protocol.MIN_COMMIT_MS

    def _responds(self, output) -> bool:
        return not self._client_commit and self.turn_detection.get("create_response", True)

    def _server_plays(self, output) -> bool:
        return self.owns_output_buffer

    def _over_websocket(self, output) -> bool:
        return not self.owns_output_buffer

    # actions
    def _send(self, output: dict[str, Any]) -> list[dict[str, Any]]:
        return [self._stamp(output)]

    def _disarm_idle(self, output) -> list[dict[str, Any]]:
        self.idle.disarm()
        return []

    def _open_user_item(self, output) -> list[dict[str, Any]]:
        self.user_item_id = self._new_item()
        return []

    def _send_speech_started(self, output: SpeechStarted) -> list[dict[str, Any]]:
        return [self._stamp({"type": "input_audio_buffer.speech_started",
                             "audio_start_ms": output.audio_start_ms,
                             "item_id": self.user_item_id})]

    def _cancel_response(self, output) -> list[dict[str, Any]]:
        self.response.cancel(reason="turn_detected")
        return self._collect()

    def _send_speech_stopped(self, output: SpeechStopped) -> list[dict[str, Any]]:
        return [self._stamp({"type": "input_audio_buffer.speech_stopped",
                             "audio_end_ms": output.audio_end_ms,
                             "item_id": self.user_item_id})]

    def _commit_at_stop(self, output: SpeechStopped) -> list[dict[str, Any]]:
        self.buffer.commit()
        self._cut_ms = output.audio_end_ms
        return self._collect()

    def _commit(self, output) -> list[dict[str, Any]]:
        self.buffer.commit()
        return self._collect()

    def _send_committed(self, output: Committed) -> list[dict[str, Any]]:
        item_id = self.user_item_id or self._new_item()
        out = [self._stamp({"type": "input_audio_buffer.committed", "item_id": item_id,
                            "previous_item_id": self.last_item_id})]
        user = protocol.user_item(item_id)
        out.append(self._stamp({"type": "conversation.item.added",
                                "previous_item_id": self.last_item_id, "item": user}))
        out.append(self._stamp({"type": "conversation.item.done",
                                "previous_item_id": self.last_item_id, "item": user}))
        self.last_item_id = item_id
        self.user_item_id = ""
        return out

    def _respond(self, output) -> list[dict[str, Any]]:
        self._start_response()
        return self._collect()

    def _send_timeout_triggered(self, output: TimedOut) -> list[dict[str, Any]]:
        item_id = self._new_item()
        out = [self._stamp({"type": "input_audio_buffer.timeout_triggered",
                            "audio_start_ms": max(0, self.audio_pos_ms - output.quiet_ms),
                            "audio_end_ms": self.audio_pos_ms, "item_id": item_id})]
        self.user_item_id = item_id
        return out

    def _count_item_audio(self, output: dict[str, Any]) -> list[dict[str, Any]]:
        self.item_audio_ms[output["item_id"]] = (
            self.item_audio_ms.get(output["item_id"], 0) + output["delta"].duration_ms)
        return []

    def _to_media(self, output: dict[str, Any]) -> list[dict[str, Any]]:
        self.audio_for_media.append(output["delta"])  # WebRTC: audio on the media track
        return []

    def _start_output(self, output) -> list[dict[str, Any]]:
        self.output_buffer.start()
        return self._follow(self.output_buffer.drain())

    def _send_playback_started(self, output) -> list[dict[str, Any]]:
        return [self._stamp({"type": "output_audio_buffer.started",
                             "response_id": self.response.response_id})]

    def _send_playback_stopped(self, output) -> list[dict[str, Any]]:
        return [self._stamp({"type": "output_audio_buffer.stopped",
                             "response_id": self.response.response_id})]

    def _cut_output(self, output) -> list[dict[str, Any]]:
        """Barge-in, or the client's `output_audio_buffer.clear`: playback stops."""
        self.output_buffer.clear()
        return self._follow(self.output_buffer.drain())

    def _send_playback_cut(self, output: PlaybackCut) -> list[dict[str, Any]]:
        """WebRTC: the server truncates the item where playback stopped."""
        item_id = self.response.item_id
        self.item_audio_ms[item_id] = output.played_ms
        return [self._stamp({"type": "output_audio_buffer.cleared",
                             "response_id": self.response.response_id}),
                self._stamp({"type": "conversation.item.truncated", "item_id": item_id,
                             "content_index": 0, "audio_end_ms": output.played_ms})]

    def _send_session_expired(self, output: SessionExpired) -> list[dict[str, Any]]:
        """The limit is reached: the error, and nothing after it (`closed`)."""
        return [self._stamp(protocol.error(SESSION_EXPIRED, SESSION_EXPIRED_MESSAGE))]

    def _close_response(self, output) -> list[dict[str, Any]]:
        self.last_item_id = self.response.item_id
        timeout = self.turn_detection.get("idle_timeout_ms")
        if timeout:
            self.idle.arm(timeout_ms=timeout, playback_ms=self.response.total_ms)
        return []

    # -- internals ---------------------------------------------------------------------
    def _start_response(self) -> None:
        if self.response.state == ResponseState.IDLE:
            self._response_seq += 1
            item_id = self._new_item()
            self.response.start(f"resp_{self._response_seq:04d}", item_id,
                                self.response_ms(self._response_seq - 1))
        else:
            self.response.start("", "", 0)

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
    """The server's abstract state: its machines with timers as running/not, whether a user
    item is pending and the configured silence duration. Ids and the audio timeline are
    left out: no guard reads them."""
    return (tuple(m.abstract_snapshot() for m in server.machines),
            bool(server.user_item_id), server.vad.silence_duration_ms)


def load_server_snapshot(server: ServerSession, snap: tuple) -> None:
    machines, pending, server.vad.silence_duration_ms = snap
    for machine, machine_snap in zip(server.machines, machines):
        machine.load_abstract_snapshot(machine_snap)
    server.user_item_id = "item_pending" if pending else ""
    server.item_audio_ms = _AnyLength()
    server.audio_for_media.clear()
    server.changes.clear()
