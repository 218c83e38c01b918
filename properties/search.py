"""Search for property violations with Hypothesis: generate, simulate, check, shrink.

Scenarios are drawn as data (`@given`), not as a `RuleBasedStateMachine`: a deadlock in
the model is a failing property over the trace, never Hypothesis' "no progress" definition
error. `target()` steers toward long server silence. The shrunk scenario is saved as JSON
and replays with `vadlock simulate --scenario`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from hypothesis import HealthCheck, Phase, given, seed as hseed, settings, target

from vadlock.model.designs import Design
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.properties.checks import DEFAULT_BOUNDS, FREEZE_PROPERTY, Bounds, Violation, check
from vadlock.properties.strategies import FAULT_CLASSES, scenarios
from vadlock.simulator.engine import simulate
from vadlock.simulator.scenario import Scenario
from vadlock.simulator.trace import S2C, Trace


@dataclass
class SearchResult:
    design: str
    server: str
    fault_classes: tuple[str, ...]
    examples: int = 0
    scenario: Scenario | None = None
    violations: list[Violation] = field(default_factory=list)
    first_counterexample_s: float | None = None
    total_s: float = 0.0
    saved: Path | None = None
    # the failing example's trace: `scenario` simulated with the search's seed (a replay
    # gives the same trace; the review takes this one instead of simulating it again)
    trace: Trace | None = field(default=None, repr=False, compare=False)

    @property
    def verdict(self) -> str:
        return "freeze" if self.scenario is not None else "no-freeze"

    @property
    def shrink_s(self) -> float | None:
        if self.first_counterexample_s is None:
            return None
        return self.total_s - self.first_counterexample_s


def longest_server_silence_ms(trace: Trace) -> int:
    times = [0, *(r.t_ms for r in trace.wire if r.direction == S2C), trace.duration_ms]
    return max(b - a for a, b in zip(times, times[1:]))


def search(design: Design, hypotheses: ServerVadHypotheses, *, max_examples: int = 50,
           seed: int = 0, fault_classes: tuple[str, ...] = FAULT_CLASSES,
           properties: tuple[str, ...] = (FREEZE_PROPERTY,), bounds: Bounds = DEFAULT_BOUNDS,
           out_dir: str | Path | None = None, shrink: bool = True,
           progress: Callable[[int, int], None] | None = None) -> SearchResult:
    result = SearchResult(design.name, hypotheses.label, fault_classes)
    started = time.perf_counter()
    last_failure: dict = {}

    @hseed(seed)
    @settings(max_examples=max_examples, database=None, deadline=None, derandomize=False,
              phases=(Phase.generate, Phase.target, *((Phase.shrink,) if shrink else ())),
              print_blob=False,
              report_multiple_bugs=False,
              suppress_health_check=list(HealthCheck))
    @given(scenarios(fault_classes))
    def probe(scenario: Scenario) -> None:
        result.examples += 1
        if progress is not None:
            progress(result.examples, max_examples)
        if last_failure and last_failure["scenario"] == scenario:
            trace = last_failure["trace"]  # Hypothesis runs the failing example once more
        else:
            trace = simulate(design, hypotheses, scenario, seed=seed)
        target(longest_server_silence_ms(trace) / 1000.0, label="server silence (s)")
        violations = check(trace, properties, bounds)
        if violations:
            if result.first_counterexample_s is None:
                result.first_counterexample_s = time.perf_counter() - started
            last_failure["scenario"] = scenario
            last_failure["violations"] = violations
            last_failure["trace"] = trace
            raise AssertionError(violations[0].explanation)

    try:
        probe()
    except AssertionError:
        result.scenario = replace(last_failure["scenario"], seed=seed,
                                  description=f"found by vadlock search: design {design.name}, "
                                  f"server {hypotheses.label}, property {properties[0]}")
        result.violations = last_failure["violations"]
        result.trace = last_failure["trace"]
    result.total_s = time.perf_counter() - started
    if result.scenario is not None and out_dir is not None:
        name = f"{design.name}__{hypotheses.label.replace(',', '+')}__{'+'.join(fault_classes)}"
        result.saved = result.scenario.save(Path(out_dir) / f"{name}.json")
    return result
