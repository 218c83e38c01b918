"""The design review: every design x server hypothesis x fault class, with evidence.

Four kinds of work, run together longest first, on local processes or a Dask cluster
(`analysis.executor`; the same results either way):
- *cells*: one per design x hypothesis set x fault class. The hypothesis sets are the
  symbolic hypotheses and the real detector engines (`silero`, `webrtc-vad`, `ten`, those
  whose library loads); each cell carries its set's evidence `grade`, the weakest of its
  members (`model/evidence.py`). For the acoustic, capture and network fault classes a
  cell is decided by exhaustive exploration where the explorer supports the set and the
  design (`properties.explore.supports`: an engine needs its measured table; a freeze
  counts once the full simulator, running the real engine, confirms it) and, where
  exploration finds none or cannot run, by search; the server class by search alone.
  Every freeze is saved as a scenario and drawn as a timeline; every "no freeze" carries
  the explored state count and the number of scenarios searched;
- *stories*: the field report's story under every cause, with every design
  (`properties.outcomes`): frozen or not, heard again or not, and how it recovered;
- *variants*: the production design with 20 ms chunks, a 200 ms silence duration and a
  lagging gate, explored under every hypothesis set the explorer supports (does a verdict
  hang on those values?);
- the *diagnosis* (`analysis.diagnose`: the ranked differential, its sensitivity runs and
  its separating experiments), and the calibration of the base server VAD
  against WebRTC VAD (`properties.calibrate`).
`review.md`, `review.json` and `verdicts.png` are generated from these results only.

What repeats is done once: a process makes a scenario's audio and its decodings once for
every design and hypothesis (`simulator.engine`; the jobs are grouped so that searches
drawing the same scenarios meet in one process), and a freeze's timeline and replay facts
come from the trace that found it (the explorer's confirming replay, or the search's
failing example) instead of a new simulation.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from vadlock.analysis.causes import server_grade
from vadlock.analysis.executor import run_jobs
from vadlock.model.designs import DESIGNS, get_design
from vadlock.model.hypotheses import ENGINES, HYPOTHESES, ServerVadHypotheses

REVIEW_ENGINES = tuple(e for e in ENGINES if e != "energy")  # `energy` is the symbolic base
SYMBOLIC_HYPOTHESES = (*HYPOTHESES, "zero-skip,clear-keeps-vad")
REVIEW_HYPOTHESES = (*SYMBOLIC_HYPOTHESES, *REVIEW_ENGINES)
FAULT_CLASSES = ("acoustic", "capture", "network", "server")
EXPLORED_CLASSES = ("acoustic", "capture", "network")
SEARCH_EXAMPLES = 8
VARIANTS = ("production+chunk20ms", "production+silence200ms", "production+lag1")


def explorable(server: str, design: str | None = None) -> bool:
    """Whether the explorer has an abstraction of this hypothesis set (for this design):
    an engine needs its measured table, covering the design (`explore.supports`)."""
    from vadlock.properties.explore import supports

    return supports(ServerVadHypotheses.parse(server),
                    get_design(design) if design is not None else None)


def available_hypotheses(hypotheses=REVIEW_HYPOTHESES) -> list[str]:
    """The sets whose detector engine loads here (an engine that does not is left out)."""
    from vadlock.simulator import detectors

    return [h for h in hypotheses if (engine := ServerVadHypotheses.parse(h).engine) is None
            or detectors.available(engine)]


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
    events_after: int | None = None  # server events after the freeze began (its replay)
    appends_after: int | None = None  # appends the client sent meanwhile
    grade: str | None = None  # the hypothesis set's evidence grade (None: a review before grades)

    @property
    def key(self) -> str:
        return f"{self.design}__{self.server.replace(',', '+')}__{self.fault_class}"


def run_cell(job: tuple[str, str, str, str, int, int, bool]) -> Cell:
    """One cell: explore (acoustic, capture, network, where the explorer supports the
    hypothesis set and the design), then search where no freeze was confirmed."""
    from vadlock.properties.explore import explore
    from vadlock.properties.search import search

    design_name, server, fault_class, out_dir, seed, examples, draw = job
    design, hypotheses = get_design(design_name), ServerVadHypotheses.parse(server)
    cell = Cell(design_name, server, fault_class, grade=server_grade(server))
    evidence = Path(out_dir) / "counterexamples"
    saved = trace = None
    with tempfile.TemporaryDirectory(prefix="vadlock-cell-") as scratch:
        if fault_class in EXPLORED_CLASSES and explorable(server, design_name):
            explored = explore(design, hypotheses, (fault_class,), seed=seed, out_dir=scratch)
            cell.states, cell.edges = explored.states, explored.edges
            cell.freeze_states = explored.freeze_states
            cell.method = "explore"
            if explored.confirmed:
                cell.verdict, saved, cell.path = ("freeze", explored.saved,
                                                  explored.counterexample)
                trace = explored.trace  # the replay that confirmed it
            else:
                cell.spurious = explored.freeze_states
        if cell.verdict != "freeze" and examples:
            found = search(design, hypotheses, max_examples=examples, seed=seed,
                           fault_classes=(fault_class,), out_dir=scratch,
                           shrink=fault_class not in EXPLORED_CLASSES)
            cell.searched = found.examples
            cell.method = f"{cell.method}+search" if cell.method else "search"
            if found.scenario is not None:
                cell.verdict, saved = "freeze", found.saved
                trace = found.trace  # the failing example's, the replay's trace
                cell.violation = found.violations[0].explanation
                cell.method = "search"
        if saved is not None:
            target = evidence / f"{cell.key}.json"
            shutil.move(str(saved), target)
            cell.counterexample = str(target.relative_to(out_dir))
    if cell.counterexample is not None:
        _replay(cell, design, hypotheses, Path(out_dir) / cell.counterexample, out_dir, seed,
                draw, trace)
    return cell


def _replay(cell: Cell, design, hypotheses, scenario_path: Path, out_dir: str, seed: int,
            draw: bool, trace=None) -> None:
    """Replay a counterexample into the cell (or take the `trace` of its replay): its
    violation, what the wire carried after the freeze began, and its timeline (when
    `draw`)."""
    from vadlock.properties.checks import FREEZE_PROPERTY, check
    from vadlock.analysis.diagnose import facts
    from vadlock.simulator.engine import simulate
    from vadlock.simulator.scenario import Scenario
    from vadlock.simulator.trace import C2S

    if trace is None:
        scenario = Scenario.load(scenario_path)
        trace = simulate(design, hypotheses, scenario, seed=scenario.seed or seed)
    violations = check(trace, (FREEZE_PROPERTY,))
    cell.violation = violations[0].explanation if violations else cell.violation
    freeze = facts(trace)
    if freeze.frozen:
        cell.events_after = freeze.events_after
        cell.appends_after = sum(1 for r in trace.events(C2S, "input_audio_buffer.append")
                                 if r.t_ms > freeze.freeze_ms)
    if draw:
        from vadlock.simulator.plot import plot_trace

        image = Path(out_dir) / "timelines" / f"{cell.key}.png"
        image.parent.mkdir(parents=True, exist_ok=True)
        plot_trace(trace, image, gate_rms=design.gate.threshold_rms,
                   interrupt_rms=design.interrupt_rms,
                   title=f"{design.name} / {hypotheses.label} / {cell.fault_class}")
        cell.timeline = str(image.relative_to(out_dir))


def _run(job: tuple):
    """A job of any kind: ("cell", ...), ("variant", ...), ("story", ...) or
    ("calibration",). A cell writes its evidence into a scratch folder of its own and
    returns it as `{path relative to the review's folder: bytes}`, so a worker needs no
    file system shared with the client (a Dask worker on another machine)."""
    kind, args = job[0], job[1:]
    if kind == "story":
        from vadlock.analysis.outcomes import run_story
        return kind, (args, *run_story(args))
    if kind == "calibration":
        return kind, _calibration()
    design, server, fault_class, seed, examples, draw = args
    with tempfile.TemporaryDirectory(prefix="vadlock-evidence-") as scratch:
        (Path(scratch) / "counterexamples").mkdir()
        cell = run_cell((design, server, fault_class, scratch, seed, examples, draw))
        files = {str(path.relative_to(scratch)): path.read_bytes()
                 for path in sorted(Path(scratch).rglob("*")) if path.is_file()}
    return kind, (cell, files)


def _order(job: tuple) -> tuple:
    """Cells and variants grouped by fault class and hypothesis (their searches draw the
    same scenarios, whose audio each process then makes once), the costliest first within a
    group; the short stories last, to keep every core busy to the end."""
    if job[0] in ("story", "calibration"):
        return (1, "", "", -_cost(job))
    return (0, job[3], job[2], -_cost(job))


def _cost(job: tuple) -> float:
    """A rough relative cost."""
    kind = job[0]
    if kind in ("story", "calibration"):
        return 1.0
    design, server, fault_class = job[1], job[2], job[3]
    searched_only = fault_class not in EXPLORED_CLASSES or not explorable(server, design)
    cost = 3.0 if searched_only else 2.0
    if ServerVadHypotheses.parse(server).engine == "ten":  # the slowest engine (measured)
        cost *= 2
    if design.startswith("recommended"):
        cost *= 3
    if kind == "variant" and "chunk20ms" in design:
        cost *= 2
    return cost


def run_review(out_dir: str | Path = "figures", designs=None, hypotheses=None,
               fault_classes=FAULT_CLASSES, seed: int = 0, workers: int | None = None,
               examples: int = SEARCH_EXAMPLES, engine_examples: int | None = None,
               with_diagnosis: bool = True,
               with_sensitivity: bool = True,
               variants=VARIANTS, progress: Callable[[str], None] | None = None,
               scheduler: str | None = None) -> dict:
    """Run the review into `out_dir`, on local processes (`workers`, default one per CPU)
    or on the Dask cluster whose scheduler is at `scheduler`; the same results either way.
    `engine_examples` is the search budget of the cells of a detector engine (default
    `examples`); review.json and review.md state it."""
    from vadlock.analysis.diagnose import assemble, diagnosis_all_jobs
    from vadlock.analysis.outcomes import story_jobs

    out = Path(out_dir)
    for sub in ("counterexamples", "timelines"):
        shutil.rmtree(out / sub, ignore_errors=True)
        (out / sub).mkdir(parents=True, exist_ok=True)
    designs = list(designs or DESIGNS)
    hypotheses = list(hypotheses or available_hypotheses())
    workers = workers or os.cpu_count() or 1
    engine_examples = examples if engine_examples is None else engine_examples
    budget = {h: engine_examples if ServerVadHypotheses.parse(h).engine else examples
              for h in hypotheses}
    jobs = [("cell", d, h, f, seed, budget[h], True) for d in designs
            for h in hypotheses for f in fault_classes]
    # the variants are explored only: the sets the explorer supports
    jobs += [("variant", v, h, f, seed, 0, False) for v in variants
             for h in hypotheses if explorable(h, v)
             for f in EXPLORED_CLASSES if f in fault_classes]
    # the report's story: every cause with every design, and the diagnosis' runs (one
    # simulation serves both where they meet)
    stories = story_jobs(designs) if with_diagnosis else []
    diagnosed = diagnosis_all_jobs(with_sensitivity=with_sensitivity) if with_diagnosis else []
    jobs += [("story", *job) for job in dict.fromkeys([*stories, *diagnosed])]
    jobs.append(("calibration",))
    jobs.sort(key=_order)
    cells, variant_cells, story_runs, calibration = [], [], {}, []
    for i, (_, (kind, result)) in enumerate(run_jobs(_run, jobs, workers, scheduler)):
        if kind == "story":
            job, freeze_facts, outcome = result
            story_runs[job] = (freeze_facts, outcome)
            what = f"story {outcome.cause} / {outcome.design} -> {outcome.label}"
        elif kind == "calibration":
            calibration = result
            what = "calibration of every detector engine"
        else:
            result, files = result
            for relative, data in files.items():
                (out / relative).parent.mkdir(parents=True, exist_ok=True)
                (out / relative).write_bytes(data)
            (cells if kind == "cell" else variant_cells).append(result)
            what = (f"{result.design} / {result.server} / {result.fault_class} -> "
                    f"{result.verdict}")
        if progress:
            progress(f"{i + 1}/{len(jobs)} {kind}: {what}")
    order = {d: i for i, d in enumerate([*designs, *variants])}
    for group in (cells, variant_cells):
        group.sort(key=lambda c: (order[c.design], hypotheses.index(c.server),
                                  fault_classes.index(c.fault_class)))
    outcomes = [story_runs[job][1] for job in stories]
    diagnosis = (assemble("production", {job: story_runs[job] for job in diagnosed},
                          with_sensitivity=with_sensitivity) if with_diagnosis else None)
    results = {"seed": seed, "search_examples": examples,
               "engine_search_examples": engine_examples, "designs": designs,
               "hypotheses": hypotheses,
               "grades": {h: server_grade(h) for h in hypotheses},
               "fault_classes": list(fault_classes),
               "variants": list(variants),
               "cells": [asdict(c) for c in cells],
               "variant_cells": [asdict(c) for c in variant_cells],
               "outcomes": [o.to_dict() for o in outcomes],
               "diagnosis": diagnosis.to_dict() if diagnosis else None,
               "calibration": [asdict(row) for row in calibration]}
    (out / "review.json").write_text(json.dumps(results, indent=1) + "\n")
    from vadlock.analysis.report import draw_matrix, draw_sensitivity, write_report
    draw_matrix(cells, designs, hypotheses, list(fault_classes), out / "verdicts.png",
                grades=results["grades"])
    if diagnosis is not None and diagnosis.sensitivity:
        draw_sensitivity(diagnosis, out / "diagnosis_sensitivity.png")
    write_report(results, cells, variant_cells, outcomes, diagnosis, out / "review.md")
    return results


def _calibration() -> list:
    """The base server VAD against WebRTC VAD (none when webrtcvad is not installed)."""
    from vadlock.analysis.calibrate import available, calibrate

    return calibrate() if available() else []
