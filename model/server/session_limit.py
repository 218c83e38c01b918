"""The session's maximum duration: 60 minutes, then `session_expired` and the end.

"Maximum session length is 60 minutes" (the realtime-conversations guide); third-party
captures show the `error` code `session_expired` with the message "Your session hit the
maximum duration of 60 minutes." (../shared/reference/realtime-protocol.md §1.2, §1.3, §7).

The `session_limit` timer counts the session's wall time from its start while it is
`open`; when it runs out the machine goes to `expired` and emits `SessionExpired`: the
session sends the error and then nothing more (it is closed: what the client sends is not
heard). That the server closes the socket after the error is assumed (the captures show
the error; what follows it is not documented). Without a limit (`limit_ms` None) the timer
never runs: the explorer's default, whose sessions are "shorter than 60 minutes"; with its
`server` fault class the limit runs and may fire at any point (a session can be any age).
"""

from dataclasses import dataclass

from vadlock.model.machine import ProtocolMachine, Timer

MAX_SESSION_MS = 3_600_000  # 60 minutes
SESSION_EXPIRED = "session_expired"
SESSION_EXPIRED_MESSAGE = "Your session hit the maximum duration of 60 minutes."


@dataclass(frozen=True)
class SessionExpired:
    """The session reached its maximum duration after `age_ms`."""

    age_ms: int


class SessionLimitState:
    """The states of `SessionLimit`."""

    OPEN = "open"
    EXPIRED = "expired"


class SessionLimit(ProtocolMachine):
    NAME = "session_limit"
    STATES = (SessionLimitState.OPEN, SessionLimitState.EXPIRED)
    INITIAL = SessionLimitState.OPEN
    TRANSITIONS = (
        {"trigger": "reach_limit", "source": SessionLimitState.OPEN,
         "dest": SessionLimitState.EXPIRED, "after": "_expired"},
        {"trigger": "reach_limit", "source": SessionLimitState.EXPIRED, "dest": None},
    )
    # the replay places a path's steps to end at the limit, then lets this much room noise
    # pass (the events of its last step delivered first, as the explorer delivers them)
    TIMERS = (Timer("session_limit", "age_ms", "limit", (SessionLimitState.OPEN,),
                    "reach_limit", runs_if="_limited", wait_ms=300),)
    # the session's age: no guard reads it (the explorer lets the limit run out at any point)
    ABSTRACTED = ("age_ms",)

    def __init__(self, limit_ms: int | None = MAX_SESSION_MS) -> None:
        self.limit_ms = limit_ms
        self.age_ms = 0
        super().__init__()

    def limit(self) -> int:
        return self.limit_ms or 0

    def _limited(self) -> bool:
        return self.limit_ms is not None

    def _expired(self, event) -> None:
        self.emit(SessionExpired(self.age_ms))
