"""The server's input audio buffer.

`append` adds audio; `commit` needs at least 100 ms (else error
`input_audio_buffer_commit_empty`) and empties it; `clear` empties it and answers
`input_audio_buffer.cleared`. Only "at least 100 ms or not" matters to any guard, so
`buffered_ms` saturates at 100. Outputs: `Committed`, or wire events (`cleared`, errors).
"""

from dataclasses import dataclass

from vadlock.model import protocol
from vadlock.model.machine import ProtocolMachine
from vadlock.model.protocol import MIN_COMMIT_MS


@dataclass(frozen=True)
class Committed:
    """The buffer was committed: its audio becomes a user item."""


class BufferState:
    """The states of `InputAudioBuffer`."""

    EMPTY = "empty"
    HOLDING = "holding"


class InputAudioBuffer(ProtocolMachine):
    NAME = "input_audio_buffer"
    STATES = (BufferState.EMPTY, BufferState.HOLDING)
    INITIAL = BufferState.EMPTY
    TRANSITIONS = (
        {"trigger": "append", "source": "*", "dest": BufferState.HOLDING, "after": "_add"},
        {"trigger": "commit", "source": BufferState.HOLDING, "dest": BufferState.EMPTY,
         "conditions": "_long_enough", "after": "_committed"},
        {"trigger": "commit", "source": "*", "dest": None, "after": "_commit_empty"},
        {"trigger": "clear", "source": "*", "dest": BufferState.EMPTY, "after": "_cleared"},
    )
    DATA = ("buffered_ms",)
    TRIGGER_ARGS = {"append": ("duration_ms",)}

    def __init__(self) -> None:
        self.buffered_ms = 0
        super().__init__()

    def _add(self, event) -> None:
        self.buffered_ms = min(self.buffered_ms + event.kwargs["duration_ms"], MIN_COMMIT_MS)

    def _long_enough(self, event) -> bool:
        return self.buffered_ms >= MIN_COMMIT_MS

    def _committed(self, event) -> None:
        self.buffered_ms = 0
        self.emit(Committed())

    def _commit_empty(self, event) -> None:
        self.emit(protocol.error(
            protocol.COMMIT_EMPTY,
            "Error committing input audio buffer: buffer too small. Expected at least "
            f"100ms of audio, but buffer only has {float(self.buffered_ms):.2f}ms of audio.",
        ))

    def _cleared(self, event) -> None:
        self.buffered_ms = 0
        self.emit({"type": "input_audio_buffer.cleared"})
