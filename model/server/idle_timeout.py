"""The server's idle timeout (`turn_detection.idle_timeout_ms`).

Armed when a response is done, with `idle_timeout_ms` plus that response's audio duration
(`playback_ms`: the assistant's audio plays out first; "the timer counts from the
response.done time plus the playback time of that response's audio", the realtime-vad
guide); the `idle_timeout` timer counts wall time while the user is silent and no
response is active (`user_quiet`, which the session supplies); `speech_started` disarms
it. When it runs out it emits `TimedOut` with the quiet segment that followed the
playback (`quiet_ms`, about `idle_timeout_ms`): the session sends
`input_audio_buffer.timeout_triggered` for that segment (its `audio_end_ms -
audio_start_ms` ~ the timeout, as the SDK documents) and commits what is buffered.
"""

from dataclasses import dataclass
from typing import Callable

from vadlock.model.machine import ProtocolMachine, Timer
from vadlock.model.server.response import ANSWER_PLAYED_WITHIN_MS


@dataclass(frozen=True)
class TimedOut:
    """The idle timeout ran out after `quiet_ms` of quiet following the last response's
    playback."""

    quiet_ms: int


class IdleState:
    """The states of `IdleTimeout`."""

    DISARMED = "disarmed"
    ARMED = "armed"


class IdleTimeout(ProtocolMachine):
    NAME = "idle_timeout"
    STATES = (IdleState.DISARMED, IdleState.ARMED)
    INITIAL = IdleState.DISARMED
    TRANSITIONS = (
        {"trigger": "arm", "source": "*", "dest": IdleState.ARMED, "after": "_restart"},
        {"trigger": "disarm", "source": "*", "dest": IdleState.DISARMED},
        {"trigger": "time_out", "source": IdleState.ARMED, "dest": IdleState.DISARMED,
         "after": "_timed_out"},
    )
    TIMERS = (Timer("idle_timeout", "idle_ms", "needed_ms", (IdleState.ARMED,), "time_out",
                    runs_if="user_quiet", wait_ms="_wait_ms"),)
    ABSTRACTED = ("idle_ms", "needed_ms", "playback_ms")
    TRIGGER_ARGS = {"arm": ("timeout_ms", "playback_ms")}

    def __init__(self, user_quiet: Callable[[], bool],
                 timeout_ms: Callable[[], int | None] = lambda: 0) -> None:
        self.user_quiet = user_quiet
        self.timeout_ms = timeout_ms  # the configured idle_timeout_ms (None: not set)
        self.idle_ms = 0
        self.needed_ms = 0
        self.playback_ms = 0  # the last response's audio, played before the quiet segment
        super().__init__()

    def _wait_ms(self) -> int:
        """What a real run takes to time out after an answer: that answer plays out, then
        the configured timeout passes."""
        return (self.timeout_ms() or 0) + ANSWER_PLAYED_WITHIN_MS

    def _restart(self, event) -> None:
        self.idle_ms = 0
        self.playback_ms = event.kwargs["playback_ms"]
        self.needed_ms = event.kwargs["timeout_ms"] + self.playback_ms

    def _timed_out(self, event) -> None:
        self.emit(TimedOut(max(0, self.idle_ms - self.playback_ms)))
