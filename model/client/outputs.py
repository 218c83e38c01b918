"""What the client's machines emit besides wire events (which stay dicts)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Notice:
    """A message for the user interface."""

    text: str


@dataclass(frozen=True)
class Reacquire:
    """Re-acquire the microphone / resume the AudioContext."""


@dataclass(frozen=True)
class CommitOrClear:
    """Commit the input buffer if it holds >= 100 ms, else clear it."""


@dataclass(frozen=True)
class Reconnect:
    """A request to the engine: open a new session, replaying the conversation (or not: a
    design file's plain `reconnect`)."""

    replay: bool = True
