"""The shared shape of every vadlock machine.

A machine is a plain object whose states and transitions are a table (`STATES`,
`TRANSITIONS`, h11/h2 style) handed to `transitions.Machine`. Side effects never perform
I/O: they append outputs to `outbox`, which the caller drains. States are named
constants, the plain `str` attributes of a small class beside each machine (`VadState.SPEECH`):
tables and comparisons take them from there, so a misspelt state is an error, and a state
stays the string that snapshots and traces carry. `DATA` names the fields
that, with the state, make up the machine's snapshot (what the explorer hashes).

Timers are declared too (`TIMERS`, a tuple of `Timer`, the Stateright discipline): the
counter field, what it counts to, the states in which it runs and the table trigger that
fires when it runs out. From them alone come `advance(ms)` (clock timers),
`ms_until_next_deadline()` (the engine's fast-forward), `running_timers()`,
`expire_timer(name)` (the explorer's expiry steps) and `real_wait(timer)` (what its replay
supplies for the timer to run out). A timer's counter, like the fields named in
`COUNTERS`, is abstracted to "running or not" in the explorer's snapshots; attributes in
`ABSTRACTED` (ids, audio positions) are left out of them altogether.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    _takes: tuple[str, ...] = ()
    _takes_set: frozenset[str] = frozenset()

    def trigger(self, model, *args, **kwargs):
        plan = self._plan
        if plan is None:
            self.compile(model)
            plan = self._plan
        if args or kwargs.keys() != self._takes_set:  # what the trigger takes, by name
            kwargs = self._arguments(args, kwargs)
            args = ()
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

    def _arguments(self, args: tuple, kwargs: dict) -> dict:
        takes = self._takes
        named = dict(zip(takes, args), **kwargs)
        if len(args) > len(takes) or set(named) != set(takes):
            raise TypeError(f"trigger {self.name} takes {', '.join(takes) or 'nothing'}; "
                            f"got {len(args)} positional and {sorted(kwargs)}")
        return named

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
        self._takes = tuple(getattr(model, "TRIGGER_ARGS", {}).get(self.name, ()))
        self._takes_set = frozenset(self._takes)
        self._noop = frozenset(
            source for source, transitions in self.transitions.items()
            if transitions and not transitions[0].conditions and transitions[0].dest is None
            and not transitions[0].after)
        self._plan = plan


class _LeanMachine(Machine):
    event_cls = LeanEvent


class WaitInput:
    """What must reach a machine while one of its timers counts, for it to run out in a real
    run (the explorer's replay plays it): a quiet room, speech-level audio, or near-silent
    captured input."""

    QUIET = "quiet"
    SPEECH = "speech"
    NEAR_SILENCE = "near_silence"


@dataclass(frozen=True)
class Timer:
    """One declared timer of a machine.

    `field` counts elapsed milliseconds up to `limit` (an attribute or a method without
    arguments; with `counts_down`, `field` holds the milliseconds left and runs out at 0).
    It runs in `states` (and, with `runs_if`, while that method says so; with
    `zero_is_stopped`, only once it has counted something). When it runs out, `trigger`
    fires — a trigger of the machine's table. `clock` timers count wall time (`advance`);
    the others count what the machine's own inputs carry (chunks, appended audio), and run
    out there. `due` (a method) replaces "counted to the limit" where more than the
    counter decides; `saturates` stops the counter at its limit. `wait_ms` and `wait_input`
    say what a real run takes to let it run out once it runs (`ProtocolMachine.real_wait`).
    """

    name: str  # how the explorer's steps and the diagrams name it
    field: str
    limit: str
    states: tuple[str, ...]
    trigger: str
    clock: bool | str = True  # or an attribute saying whether it counts wall time
    counts_down: bool = False
    zero_is_stopped: bool = False
    runs_if: str = ""
    due: str = ""
    saturates: bool = False
    # part of delivering the assistant's answer: the explorer's start lets these run out
    # after its good turn
    answer: bool = False
    # how long a real run lets pass, once it runs, for it to run out: ms, or an attribute or
    # method of the machine (as `limit`); "" is the limit itself
    wait_ms: int | str = ""
    # what reaches the machine meanwhile (a `WaitInput`)
    wait_input: str = WaitInput.QUIET


class ProtocolMachine:
    """Base class: declare `NAME`, `STATES`, `INITIAL`, `TRANSITIONS`, `DATA`, `TIMERS`."""

    NAME: ClassVar[str] = "machine"
    STATES: ClassVar[tuple[str, ...]] = ()
    INITIAL: ClassVar[str] = ""
    TRANSITIONS: ClassVar[tuple[dict[str, Any], ...]] = ()
    DATA: ClassVar[tuple[str, ...]] = ()
    TIMERS: ClassVar[tuple[Timer, ...]] = ()
    # further DATA fields that the explorer abstracts to "zero or not" (like a timer's)
    COUNTERS: ClassVar[tuple[str, ...]] = ()
    # attributes no guard reads (ids, positions on an audio timeline, lengths that only fill
    # in outputs): the explorer leaves them out of its abstract snapshots
    ABSTRACTED: ClassVar[tuple[str, ...]] = ()
    # what each trigger takes, by keyword (a trigger not named here takes nothing)
    TRIGGER_ARGS: ClassVar[dict[str, tuple[str, ...]]] = {}
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
        counters = {t.field for t in cls.TIMERS} | set(cls.COUNTERS)
        cls._ABSTRACT_FIELDS = tuple((f, f in counters) for f in cls.DATA
                                     if f not in cls.ABSTRACTED)
        cls._TIMER_BY_NAME = {t.name: t for t in cls.TIMERS}
        for timer in cls.TIMERS:
            unknown = [s for s in timer.states if s not in cls.STATES]
            triggers = {row["trigger"] for row in cls.TRANSITIONS}
            if unknown or timer.trigger not in triggers:
                raise MachineDeclarationError(
                    f"{cls.NAME}: timer {timer.name} names unknown states {unknown} or "
                    f"trigger {timer.trigger!r}")

    # -- timers (derived from `TIMERS`) --------------------------------------------------
    def _value(self, name: str) -> Any:
        value = getattr(self, name)
        return value() if callable(value) else value

    def _is_running(self, timer: Timer) -> bool:
        if self.state not in timer.states:
            return False
        if timer.zero_is_stopped and not getattr(self, timer.field):
            return False
        return not timer.runs_if or self._value(timer.runs_if)

    def _counts_wall_time(self, timer: Timer) -> bool:
        return timer.clock if isinstance(timer.clock, bool) else bool(getattr(self, timer.clock))

    def _ms_left(self, timer: Timer) -> int:
        if timer.counts_down:
            return getattr(self, timer.field)
        return self._value(timer.limit) - getattr(self, timer.field)

    def _is_due(self, timer: Timer) -> bool:
        return self._value(timer.due) if timer.due else self._ms_left(timer) <= 0

    def running_timers(self, answer_only: bool = False) -> tuple[str, ...]:
        """The names of the timers running now, in declaration order (with `answer_only`,
        of those that deliver the assistant's answer)."""
        return tuple(t.name for t in self.TIMERS
                     if (t.answer or not answer_only) and self._is_running(t))

    def ms_until_next_deadline(self) -> int | None:
        """Wall time until the next clock timer runs out (None: no clock timer runs)."""
        left = [self._ms_left(t) for t in self.TIMERS
                if self._counts_wall_time(t) and self._is_running(t)]
        return min(left) if left else None

    def advance(self, elapsed_ms: int) -> None:
        """Let `elapsed_ms` of wall time pass: every running clock timer counts it, and
        fires its trigger when it runs out (again while it stays due)."""
        for timer in self.TIMERS:
            if not (self._counts_wall_time(timer) and self._is_running(timer)):
                continue
            value = getattr(self, timer.field)
            if timer.counts_down:
                used = min(elapsed_ms, value)
                setattr(self, timer.field, value - used)
                self._elapsed(timer, used)
            elif timer.saturates:
                setattr(self, timer.field, min(self._value(timer.limit), value + elapsed_ms))
            else:
                setattr(self, timer.field, value + elapsed_ms)
            while self._is_running(timer) and self._is_due(timer):
                before = self.snapshot()
                getattr(self, timer.trigger)()
                if self.snapshot() == before:
                    break  # the trigger changed nothing: it stays due until more time passes

    def _elapsed(self, timer: Timer, used_ms: int) -> None:
        """Hook: a count-down timer used `used_ms` of its time."""

    def real_wait(self, timer: Timer) -> tuple[str, int]:
        """What a real run must supply, once `timer` runs, for it to run out: (a `WaitInput`,
        ms) from its declaration (the explorer's replay turns an expiry step into this)."""
        wait = timer.wait_ms if timer.wait_ms != "" else timer.limit
        return timer.wait_input, wait if isinstance(wait, int) else self._value(wait)

    def expire_timer(self, name: str) -> None:
        """The timer `name` runs out now (the explorer's expiry step): its counter is set to
        its limit and its trigger fires."""
        timer = self._TIMER_BY_NAME[name]
        if timer.counts_down:
            self._elapsed(timer, getattr(self, timer.field))
            setattr(self, timer.field, 0)
        else:
            setattr(self, timer.field, self._value(timer.limit))
        getattr(self, timer.trigger)()

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

    @classmethod
    def states_emitting(cls, *callbacks: str) -> dict[str, str]:
        """{source: dest} of the table's rows that run any of `callbacks`: the states in
        which the machine can emit what they emit, and where it goes (one legality source
        for the model and for judging a logged server, h11 style)."""
        out: dict[str, str] = {}
        for row in cls.TRANSITIONS:
            after = row.get("after") or ()
            after = (after,) if isinstance(after, str) else tuple(after)
            if not set(after) & set(callbacks):
                continue
            source = row["source"]
            sources = cls.STATES if source == "*" else (
                (source,) if isinstance(source, str) else tuple(source))
            for state in sources:
                out.setdefault(state, row["dest"] if row["dest"] is not None else state)
        return out


def declared_machines() -> list[type[ProtocolMachine]]:
    """Every machine class of the model, client first (for diagrams and tests)."""
    from vadlock.model.client import (beliefs, capture, gate, health, liveness, playback, rules,
                                      watchdog)
    from vadlock.model.server import (audio_buffer, floor, idle_timeout, output_buffer,
                                      response, semantic_vad, session_limit, vad)

    return [
        capture.Capture,
        gate.VadGate,
        playback.Playback,
        watchdog.StuckVadWatchdog,
        beliefs.ServerBeliefs,
        liveness.LivenessWatchdog,
        health.CaptureHealthWatchdog,
        rules.WatchdogRule,
        audio_buffer.InputAudioBuffer,
        vad.ServerVad,
        semantic_vad.SemanticVad,
        floor.AdaptiveFloor,
        response.ResponseLifecycle,
        output_buffer.OutputAudioBuffer,
        idle_timeout.IdleTimeout,
        session_limit.SessionLimit,
    ]


class MachineSession:
    """Base class of the client and server sessions: a tuple of machines (`machines`, in
    the order in which the explorer lists their timers) whose declared timers the session
    exposes as its own, and `_collect()`, which turns what the machines emitted into the
    wire events the session sends."""

    machines: tuple[ProtocolMachine, ...] = ()

    def _collect(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def ms_until_next_deadline(self) -> int | None:
        """Wall time until the first clock timer of the machines runs out (None: none runs)."""
        left = [ms for ms in (m.ms_until_next_deadline() for m in self.machines)
                if ms is not None]
        return min(left) if left else None

    def running_timers(self, answer_only: bool = False) -> tuple[str, ...]:
        """The names of the machines' running timers, in their order."""
        return tuple(name for m in self.machines for name in m.running_timers(answer_only))

    def expire_timer(self, name: str) -> list[dict[str, Any]]:
        """The explorer's expiry step: the timer `name`, of whichever machine declares it,
        runs out now; returns the events that sets off."""
        for machine in self.machines:
            if any(t.name == name for t in machine.TIMERS):
                machine.expire_timer(name)
                return self._collect()
        raise KeyError(f"no machine declares a timer {name!r}")
