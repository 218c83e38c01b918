"""The shared shape of every vadlock machine.

A machine is a plain object whose states and transitions are a table (`STATES`,
`TRANSITIONS`, h11/h2 style) handed to `transitions.Machine`. Side effects never perform
I/O: they append outputs to `outbox`, which the caller drains. `DATA` names the fields
that, with the state, make up the machine's snapshot (what the explorer hashes).
Fields in `TIMERS` are elapsed-time counters; the explorer abstracts them to "running or
not" and lets them expire nondeterministically. Attributes in `ABSTRACTED` (ids, audio
positions) are left out of the explorer's snapshots altogether.
"""

from __future__ import annotations

from typing import Any, ClassVar

from transitions import Machine
from transitions.core import Event, EventData, MachineError


class MachineDeclarationError(Exception):
    """A machine table is malformed."""


class LeanEvent(Event):
    """transitions' `Event`, dispatched directly over the same `Transition` objects.

    The semantics are the stock `Event.trigger`'s for what vadlock's tables use: the first
    transition out of the current state whose conditions hold runs — the state changes
    (unless `dest` is None), then its `after` callbacks, then the machine's
    `after_state_change`; with none, the trigger returns False; from a state with no
    transition at all it raises `MachineError`. What it leaves out is generality vadlock
    does not use and that costs most of a trigger's time: the event queue, name
    resolution on every call and debug logging. Conditions and callbacks are resolved to
    the model's bound methods once, on first use, and a trigger that the table makes a
    no-op in the current state returns at once; a table that uses hooks the lean path
    does not run (`prepare`, `before`, state enter/exit, ...) is refused there.
    `tests/test_machines.py` checks it against the stock `Event` on every machine.
    """

    _plan: dict[str, tuple] | None = None
    _noop: frozenset[str] = frozenset()

    def trigger(self, model, *args, **kwargs):
        plan = self._plan
        if plan is None:
            self.compile(model)
            plan = self._plan
        state = model.state
        if state in self._noop:
            return True
        try:
            rows = plan[state]
        except KeyError:
            raise MachineError(f"{self.machine.name}Can't trigger event {self.name} from "
                               f"state {state}!") from None
        event_data = EventData(None, self, self.machine, model, args, kwargs)
        for transition, conditions, dest, after in rows:
            event_data.transition = transition
            for predicate, target in conditions:
                if predicate(event_data) != target:
                    break
            else:
                if dest is not None:
                    model.state = dest
                for callback in after:
                    callback(event_data)
                event_data.result = True
                return True
        return False

    def compile(self, model) -> None:
        """Resolve the table for `model` (its machine's only model); refuse what the lean
        dispatch does not run."""
        machine = self.machine
        unsupported = [name for name in ("prepare_event", "before_state_change",
                                         "finalize_event", "on_exception", "on_final")
                       if getattr(machine, name)]
        unsupported += [f"{s.name}.on_enter/exit" for s in machine.states.values()
                        if s.on_enter or s.on_exit]

        def bound(callback):
            return getattr(model, callback) if isinstance(callback, str) else callback

        plan = {}
        for source, transitions in self.transitions.items():
            rows = []
            for t in transitions:
                if t.prepare or t.before:
                    unsupported.append(f"{self.name}: prepare/before")
                rows.append((t, tuple((bound(c.func), c.target) for c in t.conditions),
                             t.dest, tuple(bound(cb) for cb in
                                           (*t.after, *machine.after_state_change))))
            plan[source] = tuple(rows)
        if unsupported:
            raise MachineDeclarationError(
                f"{machine.name or type(model).__name__}: the lean event dispatch does not "
                f"run {', '.join(sorted(set(unsupported)))}")
        # states where this trigger changes nothing: the table's first row from there is an
        # unconditional internal transition with no callbacks (the change recorder only
        # records changes of state, and there is none)
        self._noop = frozenset(
            source for source, transitions in self.transitions.items()
            if transitions and not transitions[0].conditions and transitions[0].dest is None
            and not transitions[0].after)
        self._plan = plan


class _LeanMachine(Machine):
    event_cls = LeanEvent


class ProtocolMachine:
    """Base class: declare `NAME`, `STATES`, `INITIAL`, `TRANSITIONS`, `DATA`, `TIMERS`."""

    NAME: ClassVar[str] = "machine"
    STATES: ClassVar[tuple[str, ...]] = ()
    INITIAL: ClassVar[str] = ""
    TRANSITIONS: ClassVar[tuple[dict[str, Any], ...]] = ()
    DATA: ClassVar[tuple[str, ...]] = ()
    TIMERS: ClassVar[tuple[str, ...]] = ()
    # attributes no guard reads (ids, positions on an audio timeline, lengths that only fill
    # in outputs): the explorer leaves them out of its abstract snapshots
    ABSTRACTED: ClassVar[tuple[str, ...]] = ()
    # stock `transitions.Machine` in the equivalence test; the lean dispatch everywhere else
    MACHINE_CLASS: ClassVar[type[Machine]] = _LeanMachine

    state: str

    def __init__(self) -> None:
        self.outbox: list[Any] = []
        # (machine, trigger, source, dest); a session shares one list among its machines
        self.changes: list[tuple[str, str, str, str]] = []
        self._initial = {name: getattr(self, name) for name in self.ABSTRACTED}
        machine = self.MACHINE_CLASS(
            model=self,
            states=list(self.STATES),
            transitions=[dict(t) for t in self.TRANSITIONS],
            initial=self.INITIAL,
            auto_transitions=False,
            send_event=True,
            after_state_change="_record_change",
        )
        for event in machine.events.values():  # a table the dispatch cannot run fails here
            if isinstance(event, LeanEvent):
                event.compile(self)

    # -- outputs ---------------------------------------------------------------------
    def emit(self, output: Any) -> None:
        self.outbox.append(output)

    def drain(self) -> list[Any]:
        """Take the outputs so far (in place: a session may share one outbox)."""
        out = self.outbox[:]
        self.outbox.clear()
        return out

    def _record_change(self, event) -> None:
        source = event.transition.source
        dest = event.transition.dest if event.transition.dest is not None else source
        if source != dest:
            self.changes.append((self.NAME, event.event.name, source, dest))

    # -- snapshots (for the explorer and for tests) --------------------------------------
    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        # the abstract snapshot's layout: (field, is a timer) for each field it keeps
        cls._ABSTRACT_FIELDS = tuple((f, f in cls.TIMERS) for f in cls.DATA
                                     if f not in cls.ABSTRACTED)

    def snapshot(self) -> tuple:
        """State and data, exactly (tests compare machines by it)."""
        return (self.state, *(getattr(self, f) for f in self.DATA))

    def abstract_snapshot(self) -> tuple:
        """What the explorer hashes: each timer reduced to "running or not", and what the
        abstraction leaves out (`ABSTRACTED`) left out."""
        values = self.__dict__
        return (self.state, *(bool(values[f]) if timer else values[f]
                              for f, timer in self._ABSTRACT_FIELDS))

    def load_abstract_snapshot(self, snap: tuple) -> None:
        """Inverse of `abstract_snapshot`: a running timer comes back as 1 ms, and what the
        abstraction left out takes its initial value — so that the same snapshot always
        behaves the same, whatever the object did before."""
        self.state = snap[0]
        values = self.__dict__
        for (name, _), value in zip(self._ABSTRACT_FIELDS, snap[1:]):
            values[name] = int(value) if value.__class__ is bool else value
        values.update(self._initial)
        self.outbox.clear()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.state}>"


def declared_machines() -> list[type[ProtocolMachine]]:
    """Every machine class of the model, client first (for diagrams and tests)."""
    from vadlock.model.client import beliefs, capture, gate, health, liveness, playback, watchdog
    from vadlock.model.server import audio_buffer, vad, response

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
