"""The shared shape of every vadlock machine.

A machine is a plain object whose states and transitions are a table (`STATES`,
`TRANSITIONS`, h11/h2 style) handed to `transitions.Machine`. Side effects never perform
I/O: they append outputs to `outbox`, which the caller drains. `DATA` names the fields
that, with the state, make up the machine's snapshot (what the explorer hashes).
Fields in `TIMERS` are elapsed-time counters; the explorer abstracts them to
nondeterministic expiries and leaves them out of its snapshot.
"""

from __future__ import annotations

from typing import Any, ClassVar

from transitions import Machine


class MachineDeclarationError(Exception):
    """A machine table is malformed."""


class ProtocolMachine:
    """Base class: declare `NAME`, `STATES`, `INITIAL`, `TRANSITIONS`, `DATA`, `TIMERS`."""

    NAME: ClassVar[str] = "machine"
    STATES: ClassVar[tuple[str, ...]] = ()
    INITIAL: ClassVar[str] = ""
    TRANSITIONS: ClassVar[tuple[dict[str, Any], ...]] = ()
    DATA: ClassVar[tuple[str, ...]] = ()
    TIMERS: ClassVar[tuple[str, ...]] = ()

    state: str

    def __init__(self) -> None:
        self.outbox: list[Any] = []
        # (machine, trigger, source, dest); a session shares one list among its machines
        self.changes: list[tuple[str, str, str, str]] = []
        Machine(
            model=self,
            states=list(self.STATES),
            transitions=[dict(t) for t in self.TRANSITIONS],
            initial=self.INITIAL,
            auto_transitions=False,
            send_event=True,
            after_state_change="_record_change",
        )

    # -- outputs ---------------------------------------------------------------------
    def emit(self, output: Any) -> None:
        self.outbox.append(output)

    def drain(self) -> list[Any]:
        out, self.outbox = self.outbox, []
        return out

    def _record_change(self, event) -> None:
        source = event.transition.source
        dest = event.transition.dest if event.transition.dest is not None else source
        if source != dest:
            self.changes.append((self.NAME, event.event.name, source, dest))

    # -- snapshots (for the explorer and for tests) --------------------------------------
    def snapshot(self, exact_timers: bool = True) -> tuple:
        """State and data. Without exact timers, each timer is reduced to "running or not"."""
        values = (getattr(self, f) for f in self.DATA)
        if not exact_timers:
            values = (bool(v) if f in self.TIMERS else v
                      for f, v in zip(self.DATA, (getattr(self, f) for f in self.DATA)))
        return (self.state, *values)

    def load_snapshot(self, snap: tuple) -> None:
        """Inverse of `snapshot`; an abstract timer comes back as 1 ms (running) or 0."""
        self.state = snap[0]
        for name, value in zip(self.DATA, snap[1:]):
            setattr(self, name, int(value) if isinstance(value, bool) else value)
        self.outbox.clear()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.state}>"


def declared_machines() -> list[type[ProtocolMachine]]:
    """Every machine class of the model, client first (for diagrams and tests)."""
    from model.client import beliefs, capture, gate, health, liveness, playback, watchdog
    from model.server import audio_buffer, vad, response

    return [
        capture.Capture,
        gate.VadGate,
        playback.Playback,
        watchdog.StuckVadWatchdog,
        beliefs.ServerBeliefs,
        liveness.LivenessWatchdog,
        health.CaptureHealthWatchdog,
        audio_buffer.InputAudioBuffer,
        vad.ServerVad,
        response.ResponseLifecycle,
    ]
