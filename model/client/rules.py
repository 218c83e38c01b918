"""Watchdogs as clients in the field write them: "after N ms of CONDITION do ACTIONS".

One `WatchdogRule` machine per rule of a design (`designs.WatchdogSpec`). The session tells
it when its condition begins and ends; while the condition holds, simulated time counts
(`elapsed_ms`, its timer); when `after_ms` have passed it performs its actions and starts
counting again (a condition that persists fires again every `after_ms`).

Conditions (`CONDITIONS`):
- `no_server_event_while_sending`: audio is being appended and no server event of any
  kind has arrived since (begins at an append, ends at any server event);
- `speech_not_stopped`: `speech_started` with no `speech_stopped` (nor a clear) since;
- `near_silent_input`: the raw captured input is near-silent (int16 peaks under ~50) or
  no chunk arrives at all.

Actions (`ACTIONS`), in the order listed by the rule: `session_update` (re-apply
`turn_detection`), `clear`, `commit`, `commit_or_clear` (commit when >= 100 ms are
buffered, else clear), `reconnect` (a new session, no history), `reconnect_with_replay`
(a new session with the conversation replayed), `reacquire_microphone`, `notify` (a
notice to the UI).
"""

from __future__ import annotations

from vadlock.model import protocol
from vadlock.model.client.outputs import CommitOrClear, Notice, Reacquire, Reconnect
from vadlock.model.machine import ProtocolMachine, Timer, WaitInput

CONDITIONS = ("no_server_event_while_sending", "speech_not_stopped", "near_silent_input")
ACTIONS = ("session_update", "clear", "commit", "commit_or_clear", "reconnect",
           "reconnect_with_replay", "reacquire_microphone", "notify")


class RuleState:
    """The states of `WatchdogRule`."""

    QUIET = "quiet"
    COUNTING = "counting"


class WatchdogRule(ProtocolMachine):
    NAME = "watchdog_rule"
    STATES = (RuleState.QUIET, RuleState.COUNTING)
    INITIAL = RuleState.QUIET
    TRANSITIONS = (
        {"trigger": "condition_began", "source": RuleState.QUIET, "dest": RuleState.COUNTING,
         "after": "_restart"},
        {"trigger": "condition_began", "source": RuleState.COUNTING, "dest": None},
        {"trigger": "condition_ended", "source": "*", "dest": RuleState.QUIET,
         "after": "_restart"},
        {"trigger": "expire", "source": RuleState.COUNTING, "dest": None, "after": "_act"},
    )
    DATA = ("elapsed_ms",)
    TIMERS = (Timer("watchdog_rule", "elapsed_ms", "after_ms", (RuleState.COUNTING,),
                    "expire"),)

    def __init__(self, condition: str, after_ms: int, actions: tuple[str, ...],
                 turn_detection: dict) -> None:
        if condition not in CONDITIONS:
            raise ValueError(f"unknown watchdog condition {condition!r}")
        unknown = [a for a in actions if a not in ACTIONS]
        if unknown or not actions:
            raise ValueError(f"unknown watchdog action {unknown[0] if unknown else None!r}")
        if after_ms <= 0:
            raise ValueError(f"watchdog after_ms must be positive, got {after_ms}")
        self.condition = condition
        self.after_ms = after_ms
        self.actions = actions
        self.turn_detection = turn_detection
        self.elapsed_ms = 0
        super().__init__()

    @classmethod
    def numbered(cls, number: int) -> type["WatchdogRule"]:
        """The rule machine of a design's `number`-th rule: its own name in traces and its
        own timer name in the explorer's expiry steps."""
        return type(f"WatchdogRule{number}", (cls,), {
            "NAME": f"watchdog_rule_{number}",
            "TIMERS": (Timer(f"watchdog_rule_{number}", "elapsed_ms", "after_ms",
                             (RuleState.COUNTING,), "expire"),)})

    def real_wait(self, timer: Timer) -> tuple[str, int]:
        """A near-silent input rule counts while near-silent input keeps coming."""
        wait_input, wait_ms = super().real_wait(timer)
        if self.condition == "near_silent_input":
            wait_input = WaitInput.NEAR_SILENCE
        return wait_input, wait_ms

    def _restart(self, event) -> None:
        self.elapsed_ms = 0

    def _act(self, event) -> None:
        self.elapsed_ms = 0
        for action in self.actions:
            if action == "session_update":
                self.emit(protocol.session_update(self.turn_detection))
            elif action == "clear":
                self.emit(protocol.clear())
            elif action == "commit":
                self.emit(protocol.commit())
            elif action == "commit_or_clear":
                self.emit(CommitOrClear())
            elif action == "reconnect":
                self.emit(Reconnect(replay=False))
            elif action == "reconnect_with_replay":
                self.emit(Reconnect(replay=True))
            elif action == "reacquire_microphone":
                self.emit(Reacquire())
            else:
                self.emit(Notice(f"watchdog: {self.after_ms} ms of "
                                 f"{self.condition.replace('_', ' ')}"))
