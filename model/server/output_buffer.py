"""The WebRTC output audio buffer: the server plays the response audio itself.

`start` when a response's audio begins (`output_audio_buffer.started`); the
`server_playback` timer counts the playback position in wall time, up to the audio the
item has so far (`audio_ms`, which the session supplies); it runs out once all of it has
played and the response is no longer streaming (`output_audio_buffer.stopped`). `clear`
— the client's `output_audio_buffer.clear` or the server's own barge-in — stops it at the
position reached: `output_audio_buffer.cleared`, and the item is truncated there.
"""

from dataclasses import dataclass
from typing import Callable

from vadlock.model.machine import ProtocolMachine, Timer
from vadlock.model.server.response import ANSWER_PLAYED_WITHIN_MS


@dataclass(frozen=True)
class PlaybackStarted:
    pass


@dataclass(frozen=True)
class PlaybackStopped:
    pass


@dataclass(frozen=True)
class PlaybackCut:
    """Playback was cleared after `played_ms` of the item."""

    played_ms: int


class OutputBufferState:
    """The states of `OutputAudioBuffer`."""

    SILENT = "silent"
    PLAYING = "playing"


class OutputAudioBuffer(ProtocolMachine):
    NAME = "output_audio_buffer"
    STATES = (OutputBufferState.SILENT, OutputBufferState.PLAYING)
    INITIAL = OutputBufferState.SILENT
    TRANSITIONS = (
        {"trigger": "start", "source": "*", "dest": OutputBufferState.PLAYING,
         "after": "_started"},
        {"trigger": "played_out", "source": OutputBufferState.PLAYING,
         "dest": OutputBufferState.SILENT, "after": "_stopped"},
        {"trigger": "clear", "source": OutputBufferState.PLAYING,
         "dest": OutputBufferState.SILENT, "after": "_cut"},
        {"trigger": "clear", "source": OutputBufferState.SILENT, "dest": None},
    )
    TIMERS = (Timer("server_playback", "played_ms", "audio_ms", (OutputBufferState.PLAYING,),
                    "played_out", due="_all_played", saturates=True, answer=True,
                    wait_ms=ANSWER_PLAYED_WITHIN_MS),)
    ABSTRACTED = ("played_ms",)

    def __init__(self, audio_ms: Callable[[], int], streaming: Callable[[], bool]) -> None:
        self.audio_ms = audio_ms
        self.streaming = streaming
        self.played_ms = 0  # the playback position in the current item's audio
        super().__init__()

    def _all_played(self) -> bool:
        return not self.streaming() and self.played_ms >= self.audio_ms()

    def _started(self, event) -> None:
        self.played_ms = 0
        self.emit(PlaybackStarted())

    def _stopped(self, event) -> None:
        self.emit(PlaybackStopped())

    def _cut(self, event) -> None:
        self.emit(PlaybackCut(self.played_ms))
