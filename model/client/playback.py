"""Playback and interruption (WebSocket: the client plays response audio itself).

The client queues `response.output_audio.delta` audio and plays it in real time. On
`input_audio_buffer.speech_started` while playing, it interrupts only if the microphone's
last chunk reached `INTERRUPTION_ENERGY_THRESHOLD` (production 0.1, development 0.02):
it stops playback and sends `conversation.item.truncate` with the milliseconds actually
played. Otherwise it keeps playing.

Inputs: `queue_audio(item_id, ms)`, `barge_in(mic_level)`, `advance(ms)`, `flush()`.
Outputs: truncate events; "playback_stopped" notices.
"""

from vadlock.model import protocol
from vadlock.model.machine import ProtocolMachine, Timer
from vadlock.model.server.response import ANSWER_PLAYED_WITHIN_MS


class PlaybackState:
    """The states of `Playback`."""

    IDLE = "idle"
    PLAYING = "playing"


class Playback(ProtocolMachine):
    NAME = "playback"
    STATES = (PlaybackState.IDLE, PlaybackState.PLAYING)
    INITIAL = PlaybackState.IDLE
    TRANSITIONS = (
        {"trigger": "audio_arrived", "source": "*", "dest": PlaybackState.PLAYING},
        {"trigger": "barge_in", "source": PlaybackState.PLAYING, "dest": PlaybackState.IDLE,
         "conditions": "_loud_enough", "after": "_truncate"},
        {"trigger": "barge_in", "source": PlaybackState.PLAYING, "dest": None},
        {"trigger": "barge_in", "source": PlaybackState.IDLE, "dest": None},
        {"trigger": "drained", "source": PlaybackState.PLAYING, "dest": PlaybackState.IDLE},
        {"trigger": "flush", "source": "*", "dest": PlaybackState.IDLE, "after": "_drop_queue"},
    )
    DATA = ("queued_ms", "played_ms")
    # the queue plays out in wall time where the client plays it (WebSocket); over WebRTC
    # the server plays, and this machine only follows its output buffer
    TIMERS = (Timer("playback", "queued_ms", "", (PlaybackState.PLAYING,), "drained",
                    clock="plays_locally", counts_down=True, answer=True,
                    wait_ms=ANSWER_PLAYED_WITHIN_MS),)
    # the truncate event's item and position: after an abstract load no item is known, so
    # the explorer's client sends no truncate (whose reply changes no state on either side)
    ABSTRACTED = ("played_ms", "item_id")

    TRIGGER_ARGS = {"barge_in": ("mic_level",)}

    def __init__(self, interrupt_level: int, truncates: bool = True,
                 plays_locally: bool = True) -> None:
        self.interrupt_level = interrupt_level
        self.truncates = truncates
        self.plays_locally = plays_locally
        self.queued_ms = 0
        self.played_ms = 0
        self.item_id: str | None = None
        super().__init__()

    def queue_audio(self, item_id: str, duration_ms: int) -> None:
        if item_id != self.item_id:
            self.item_id, self.played_ms, self.queued_ms = item_id, 0, 0
        self.queued_ms += duration_ms
        self.audio_arrived()

    def advance(self, elapsed_ms: int) -> int:
        """Play for `elapsed_ms`; return how many ms were actually audible."""
        played_from = self.played_ms
        super().advance(elapsed_ms)
        return self.played_ms - played_from

    def _elapsed(self, timer, used_ms: int) -> None:
        self.played_ms += used_ms  # what the queue gave up was heard

    def _loud_enough(self, event) -> bool:
        return event.kwargs["mic_level"] >= self.interrupt_level

    def _truncate(self, event) -> None:
        if self.truncates and self.item_id is not None:
            self.emit(protocol.truncate(self.item_id, self.played_ms))
        self._drop_queue(event)

    def _drop_queue(self, event) -> None:
        self.queued_ms = 0
