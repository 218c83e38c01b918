"""The design review: every design x server hypothesis x fault class, with evidence.

For the acoustic and capture fault classes a cell is decided by exhaustive exploration
(a freeze counts once the full simulator confirms it) and, where exploration finds none,
also by search; the network class (latency spikes, stalls) is decided by search alone.
Every freeze is saved as a scenario and drawn as a timeline; every "no freeze" carries the
explored state count and the number of scenarios searched. `review.md` and
`verdicts.png` are generated from these results only, together with the diagnosis.
"""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from model.designs import DESIGNS, FIX_DESIGNS, get_design
from model.hypotheses import HYPOTHESES, ServerVadHypotheses

REVIEW_HYPOTHESES = (*HYPOTHESES, "zero-skip,clear-keeps-vad")
FAULT_CLASSES = ("acoustic", "capture", "network")
SEARCH_EXAMPLES = 8


@dataclass
class Cell:
    design: str
    server: str
    fault_class: str
    verdict: str = "no-freeze"
    method: str = ""
    states: int | None = None
    edges: int | None = None
    freeze_states: int | None = None
    spurious: int = 0
    searched: int = 0
    counterexample: str | None = None
    timeline: str | None = None
    path: list[str] = field(default_factory=list)
    violation: str | None = None
    heard_after: bool | None = None  # in the counterexample, was the user heard again?

    @property
    def key(self) -> str:
        return f"{self.design}__{self.server.replace(',', '+')}__{self.fault_class}"


def run_cell(job: tuple[str, str, str, str, int, int]) -> Cell:
    from properties.explore import explore
    from properties.search import search

    design_name, server, fault_class, out_dir, seed, examples = job
    design, hypotheses = get_design(design_name), ServerVadHypotheses.parse(server)
    cell = Cell(design_name, server, fault_class)
    evidence = Path(out_dir) / "counterexamples"
    saved = None
    if fault_class != "network":
        explored = explore(design, hypotheses, (fault_class,), seed=seed, out_dir=evidence)
        cell.states, cell.edges = explored.states, explored.edges
        cell.freeze_states = explored.freeze_states
        cell.method = "explore"
        if explored.confirmed:
            cell.verdict, saved, cell.path = "freeze", explored.saved, explored.counterexample
        else:
            cell.spurious = explored.freeze_states
            if explored.saved is not None:
                explored.saved.unlink()
    if cell.verdict != "freeze":
        found = search(design, hypotheses, max_examples=examples, seed=seed,
                       fault_classes=(fault_class,), out_dir=evidence,
                       shrink=fault_class == "network")
        cell.searched = found.examples
        cell.method = f"{cell.method}+search" if cell.method else "search"
        if found.scenario is not None:
            cell.verdict, saved = "freeze", found.saved
            cell.violation = found.violations[0].explanation
            cell.method = "search"
    if saved is not None:
        target = evidence / f"{cell.key}.json"
        Path(saved).replace(target)
        cell.counterexample = str(target.relative_to(out_dir))
        cell.timeline, cell.violation, cell.heard_after = _draw(cell, design, hypotheses,
                                                                target, out_dir, seed)
    return cell


def _draw(cell: Cell, design, hypotheses, scenario_path: Path, out_dir: str, seed: int):
    from properties.checks import FREEZE_PROPERTY, check, heard
    from simulator.engine import simulate
    from simulator.scenario import Scenario

    scenario = Scenario.load(scenario_path)
    trace = simulate(design, hypotheses, scenario, seed=scenario.seed or seed)
    violations = check(trace, (FREEZE_PROPERTY,))
    explanation = violations[0].explanation if violations else cell.violation
    after = violations[0].start_ms if violations else trace.duration_ms
    heard_after = not any(v.start_ms >= after for v in heard(trace))
    image = Path(out_dir) / "timelines" / f"{cell.key}.png"
    try:
        from simulator.plot import plot_trace
    except ImportError:  # pragma: no cover - figures are optional for the verdicts
        return None, explanation, heard_after
    image.parent.mkdir(parents=True, exist_ok=True)
    plot_trace(trace, image, gate_rms=design.gate.threshold_rms,
               interrupt_rms=design.interrupt_rms,
               title=f"{design.name} / {hypotheses.label} / {cell.fault_class}")
    return str(image.relative_to(out_dir)), explanation, heard_after


def run_review(out_dir: str | Path = "figures", designs=None, hypotheses=None,
               fault_classes=FAULT_CLASSES, seed: int = 0, workers: int | None = None,
               examples: int = SEARCH_EXAMPLES, with_diagnosis: bool = True,
               progress: Callable[[str], None] | None = None) -> dict:
    out = Path(out_dir)
    for sub in ("counterexamples", "timelines"):
        shutil.rmtree(out / sub, ignore_errors=True)
        (out / sub).mkdir(parents=True, exist_ok=True)
    designs = list(designs or DESIGNS)
    hypotheses = list(hypotheses or REVIEW_HYPOTHESES)
    workers = workers or os.cpu_count() or 1
    jobs = [(d, h, f, str(out), seed, examples) for d in designs for h in hypotheses
            for f in fault_classes]
    cells: list[Cell] = []
    with ProcessPoolExecutor(workers) as pool:
        for i, cell in enumerate(pool.map(run_cell, jobs)):
            cells.append(cell)
            if progress:
                progress(f"cell {i + 1}/{len(jobs)}: {cell.design} / {cell.server} / "
                         f"{cell.fault_class} -> {cell.verdict}")
    diagnosis = []
    if with_diagnosis:
        from properties.diagnose import diagnose
        if progress:
            progress("diagnosis")
        diagnosis = diagnose(workers=workers)
    results = {"seed": seed, "search_examples": examples, "designs": designs,
               "hypotheses": hypotheses, "fault_classes": list(fault_classes),
               "cells": [asdict(c) for c in cells],
               "diagnosis": [r.to_dict() for r in diagnosis]}
    (out / "review.json").write_text(json.dumps(results, indent=1) + "\n")
    from properties.report import draw_matrix, write_report
    draw_matrix(cells, designs, hypotheses, list(fault_classes), out / "verdicts.png")
    write_report(results, cells, diagnosis, out / "review.md")
    return results


def fix_designs() -> tuple[str, ...]:
    return FIX_DESIGNS
