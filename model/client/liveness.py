"""Liveness watchdog (a fix): keyed on server events, with an escalation ladder.

It counts the milliseconds of speech-level audio the client has sent since the server
last showed, on its own, that its turn detection is alive (`TURN_EVENTS`: speech started
or stopped, an idle timeout, a response created or done) — not while the server says the
user is speaking: a long turn is not a stall. Replies to the ladder's own requests
(`session.updated`, `input_audio_buffer.committed` or `.cleared`, errors) do not count:
they prove the socket is open, which a frozen session's socket is. Past `first_rung_ms`
of such unanswered audio it escalates, one rung per further `next_rung_ms`: `session.update` re-applying
`turn_detection` -> `input_audio_buffer.commit` (when >= 100 ms are buffered, else
`clear`) -> reconnect with conversation replay. A turn event returns it to `watching`.
Every rung is surfaced as a "recovering" notice.
"""

from vadlock.model import protocol
from vadlock.model.client.outputs import CommitOrClear, Notice, Reconnect
from vadlock.model.machine import ProtocolMachine, Timer, WaitInput


class LivenessState:
    """The states of `LivenessWatchdog`: watching, then the ladder's rungs."""

    WATCHING = "watching"
    RESYNCING = "resyncing"
    CLEARING = "clearing"
    RECONNECTING = "reconnecting"


RUNGS = (LivenessState.RESYNCING, LivenessState.CLEARING, LivenessState.RECONNECTING)
TURN_EVENTS = frozenset({
    "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
    "input_audio_buffer.timeout_triggered", "response.created", "response.done"})


class LivenessWatchdog(ProtocolMachine):
    NAME = "liveness_watchdog"
    STATES = (LivenessState.WATCHING, *RUNGS)
    INITIAL = LivenessState.WATCHING
    TRANSITIONS = (
        {"trigger": "turn_event", "source": "*", "dest": LivenessState.WATCHING,
         "after": "_reset"},
        {"trigger": "escalate", "source": LivenessState.WATCHING,
         "dest": LivenessState.RESYNCING, "after": "_resync"},
        {"trigger": "escalate", "source": LivenessState.RESYNCING,
         "dest": LivenessState.CLEARING, "after": "_clear"},
        {"trigger": "escalate", "source": LivenessState.CLEARING,
         "dest": LivenessState.RECONNECTING, "after": "_reconnect"},
        {"trigger": "escalate", "source": LivenessState.RECONNECTING, "dest": None,
         "after": "_reconnect"},
    )
    DATA = ("unanswered_ms",)
    # counted in speech-level audio sent, not wall time
    TIMERS = (Timer("liveness", "unanswered_ms", "_rung_ms", STATES, "escalate",
                    clock=False, zero_is_stopped=True, wait_ms="_longest_rung_ms",
                    wait_input=WaitInput.SPEECH),)

    def __init__(self, first_rung_ms: int, next_rung_ms: int, turn_detection: dict) -> None:
        self.first_rung_ms = first_rung_ms
        self.next_rung_ms = next_rung_ms
        self.turn_detection = turn_detection
        self.unanswered_ms = 0
        super().__init__()

    def server_event(self, kind: str) -> None:
        """A server event of type `kind` arrived."""
        if kind in TURN_EVENTS:
            self.turn_event()

    def audio_sent(self, duration_ms: int, speech_level: bool) -> None:
        if speech_level:
            self.unanswered_ms += duration_ms
            if self.unanswered_ms >= self._rung_ms():
                self.escalate()

    def _rung_ms(self) -> int:
        """Unanswered audio that takes the ladder one rung up from here."""
        return self.first_rung_ms if self.state == LivenessState.WATCHING else self.next_rung_ms

    def _longest_rung_ms(self) -> int:
        """Unanswered audio that takes the ladder one rung up from any state."""
        return max(self.first_rung_ms, self.next_rung_ms)

    def _reset(self, event) -> None:
        self.unanswered_ms = 0

    def _resync(self, event) -> None:
        self.unanswered_ms = 0
        self.emit(Notice("recovering: re-applying turn_detection"))
        self.emit(protocol.session_update(self.turn_detection))

    def _clear(self, event) -> None:
        self.unanswered_ms = 0
        self.emit(Notice("recovering: committing or clearing the input buffer"))
        self.emit(CommitOrClear())

    def _reconnect(self, event) -> None:
        self.unanswered_ms = 0
        self.emit(Notice("recovering: reconnecting with conversation replay"))
        self.emit(Reconnect())
