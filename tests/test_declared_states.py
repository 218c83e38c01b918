"""States are named constants: a misspelt state is a NameError or AttributeError, not a
comparison that is silently False.

Each machine declares its states once, as the plain `str` attributes of a small class next
to it (`VadState.SPEECH`, ...); its `STATES`, `INITIAL`, `TRANSITIONS`, its timers' states
and every comparison with a state elsewhere in the package take them from there. The check
below reads the package's source with `ast` and names every place that spells a state as
a string literal instead.
"""

from __future__ import annotations

import ast
import inspect
import sys
from pathlib import Path

from vadlock.model.machine import declared_machines

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("model", "simulator", "properties", "analysis")
STATE_CALLS = {"state_at", "state_of", "through_capture"}  # calls that return a state
WILDCARD = "*"  # a TRANSITIONS row's "any state"


def _strings(node: ast.AST) -> list[str]:
    """The string literals `node` is or holds (a tuple, list or set display, a starred one);
    "" (a base class's placeholder) names no state."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value] if node.value else []
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [s for element in node.elts for s in _strings(element)]
    if isinstance(node, ast.Starred):
        return _strings(node.value)
    return []


def _is_state(node: ast.AST) -> bool:
    """`x.state`, a name `state` / `*_state`, or a call that returns a state."""
    if isinstance(node, ast.Attribute):
        return node.attr == "state" or node.attr.endswith("_state")
    if isinstance(node, ast.Name):
        return node.id == "state" or node.id.endswith("_state")
    if isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        return name in STATE_CALLS
    return False


def _target_names(node: ast.Assign | ast.AnnAssign) -> set[str]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return {t.id for t in targets if isinstance(t, ast.Name)}


def state_literals(source: str, filename: str = "<source>") -> list[str]:
    """Where `source` spells a machine state as a string literal: compared with a state
    (`_is_state`), or in a declaration — `STATES`, `INITIAL`, a `TRANSITIONS` row's
    source or dest, a `Timer`'s states. Each finding is "file:line: what"."""
    found: list[str] = []

    def report(node: ast.AST, what: str, strings: list[str]) -> None:
        found.append(f"{filename}:{node.lineno}: {what} {', '.join(map(repr, strings))}")

    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_is_state(o) for o in operands):
                strings = [s for o in operands for s in _strings(o)]
                if strings:
                    report(node, "state compared with", strings)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            names = _target_names(node)
            if names & {"STATES", "INITIAL"} and _strings(node.value):
                report(node, f"{'/'.join(sorted(names))} spelt", _strings(node.value))
            if "TRANSITIONS" in names:
                for row in ast.walk(node.value):
                    if not isinstance(row, ast.Dict):
                        continue
                    for key, value in zip(row.keys, row.values):
                        if isinstance(key, ast.Constant) and key.value in ("source", "dest"):
                            strings = [s for s in _strings(value) if s != WILDCARD]
                            if strings:
                                report(row, f"transition {key.value}", strings)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Timer":
            states = [k.value for k in node.keywords if k.arg == "states"]
            states += node.args[3:4]
            strings = [s for arg in states for s in _strings(arg)]
            if strings:
                report(node, "timer states", strings)
    return found


def test_the_check_catches_a_misspelt_state_planted_in_a_comparison():
    assert state_literals('if machine.state == "speach":\n    pass\n') == [
        "<source>:1: state compared with 'speach'"]
    assert state_literals('ok = self.vad.state != VadState.SPEECH\n') == []


def test_the_check_catches_literals_in_each_kind_of_declaration_and_comparison():
    planted = '''
class Planted(ProtocolMachine):
    STATES = ("quiet", Quiet.LOUD)
    INITIAL = "quiet"
    TRANSITIONS = (
        {"trigger": "go", "source": "*", "dest": "loud"},
        {"trigger": "stop", "source": [Quiet.LOUD, "quiet"], "dest": None},
    )
    TIMERS = (Timer("t", "ms", "limit_ms", ("loud",), "stop"),
              Timer("u", "ms", "limit_ms", states=(Quiet.LOUD,), trigger="stop"))

def f(trace, capture_state):
    return (trace.state_at("capture", 0) in ("live", "muted"), capture_state == "live",
            "armed" == watchdog.state, kind == "speech")
'''
    found = [line.split(": ", 1)[1] for line in state_literals(planted)]
    assert sorted(found) == sorted([
        "STATES spelt 'quiet'", "INITIAL spelt 'quiet'", "transition dest 'loud'",
        "transition source 'quiet'", "timer states 'loud'",
        "state compared with 'live', 'muted'", "state compared with 'live'",
        "state compared with 'armed'"])  # `kind == "speech"` is no state: not reported


def test_no_state_is_spelt_as_a_literal_in_the_package():
    found = [finding for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
             for finding in state_literals(path.read_text(), str(path.relative_to(ROOT)))]
    assert found == []


def test_every_machine_declares_its_states_as_the_constants_of_one_class():
    for machine in declared_machines():
        # the module of the class that declares the states (a subclass may inherit them)
        owner = next(cls for cls in machine.__mro__ if "STATES" in vars(cls))
        module = sys.modules[owner.__module__]
        constants = [
            {value for name, value in vars(cls).items()
             if name.isupper() and isinstance(value, str)}
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if cls.__module__ == module.__name__ and cls.__name__.endswith("State")]
        assert set(machine.STATES) in constants, machine.NAME
        assert machine.INITIAL in machine.STATES
