"""Benchmarks: how fast the simulator, search, explorer, review and sweep are on this machine.

Every figure is the median of `--repeat` repetitions (default 5) with min and max, timed
with `time.perf_counter` (the only wall clock in vadlock; the model never reads one):
- `simulator_rtf`: simulated seconds per wall second on a 10-minute `field-report`
  session (audio synthesised at 24 kHz), hypothesis `energy`; `simulator_rtf_silero` the
  same with the `silero` detector engine (Silero runs on every frame the server receives);
- `search_first_counterexample_s`, `search_shrink_s`: `search` with capture faults, 50
  examples, seed = the repetition's index: the time to the first failing example, and the
  time Hypothesis then spends shrinking it;
- `explorer_states_per_s`: states per wall second of exploration (the BFS and its
  analysis; replay confirmation off) over every hypothesis set of the review, fault
  classes acoustic and capture; `explorer_states` their total, and one row per hypothesis.
  `explorer_peak_mib` is the largest tracemalloc peak over those explorations; tracemalloc
  slows Python about 4x and its peak is deterministic, so it is measured in its own pass,
  once (`--memory-repeat` to repeat it); `explorer_network_states_per_s` and
  `explorer_network_states` the same for the network fault class alone (the transport as
  a FIFO per direction, `properties.explore.NETWORK_FIFO_LEN` batches in flight at most),
  as the review explores it;
- `review_s`: the whole review (`properties.review.run_review`) into a temporary folder;
  it is repeated `--review-repeat` times (default 1), and `--skip-review` leaves it out;
- `sweep_speedup_2_workers`: the median wall time of a sweep with 1 worker over the
  median with 2 workers; the sweep is sized by wall time, not by a fixed session count:
  enough 1-minute sessions for about `SWEEP_S_PER_WORKER` (3) seconds per worker, from
  the time of one session measured first (`sweep_size`); each repetition runs 2 workers
  before 1 (forked workers would otherwise inherit the audio the 1-worker run just made);
- `yardstick` (`analysis/yardstick.py`): the cost of one `transitions` trigger and of a
  fixed numpy workload, measured before and after the other figures in the same run, and
  `normalised`: every duration and rate in yardstick units, so runs on different machines
  compare.
The simulator, search and explorer figures are for `--design` (default production).
`--quick` makes every run small and does each once (a smoke test, not a measurement).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
from typing import Any, Callable

from vadlock.analysis import yardstick
from vadlock.model.designs import get_design
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.simulator.progress import Progress

SWEEP_S_PER_WORKER = 3.0
SWEEP_MINUTES = 1.0

KEYS = ("simulator_rtf", "simulator_rtf_silero", "search_first_counterexample_s", "search_shrink_s",
        "explorer_states_per_s", "explorer_network_states_per_s", "explorer_peak_mib",
        "review_s", "sweep_speedup_2_workers")


def _stats(values: list[float | None]) -> dict[str, Any]:
    known = [v for v in values if v is not None]
    if not known:
        return {"median": None, "min": None, "max": None, "values": values}
    return {"median": statistics.median(known), "min": min(known), "max": max(known),
            "values": values}


def bench_simulator(design_name: str, repeat: int, minutes: float,
                    say: Callable[[str], None], server: str = "energy",
                    key: str = "simulator_rtf") -> dict:
    from vadlock.simulator.engine import simulate
    from vadlock.simulator.presets import preset

    design, hyp = get_design(design_name), ServerVadHypotheses.parse(server)
    scenario = preset("field-report", int(minutes * 60_000))
    values = []
    for i in range(repeat):
        say(f"simulator ({server}) {i + 1}/{repeat}")
        started = time.perf_counter()
        simulate(design, hyp, scenario, seed=i)  # a seed of its own: nothing synthesised is reused
        values.append(scenario.duration_ms / 1000 / (time.perf_counter() - started))
    return {key: _stats(values)}


def bench_search(design_name: str, repeat: int, examples: int,
                 say: Callable[[str], None]) -> dict:
    from vadlock.properties.search import search

    design, hyp = get_design(design_name), ServerVadHypotheses.parse("energy")
    first, shrink = [], []
    for i in range(repeat):
        say(f"search {i + 1}/{repeat}")
        result = search(design, hyp, max_examples=examples, seed=i, fault_classes=("capture",))
        first.append(result.first_counterexample_s)
        shrink.append(result.shrink_s)
    return {"search_first_counterexample_s": _stats(first), "search_shrink_s": _stats(shrink)}


def _explore(design_name: str, hypothesis: str, classes: tuple[str, ...]):
    from vadlock.properties.explore import explore

    return explore(get_design(design_name), ServerVadHypotheses.parse(hypothesis), classes,
                   confirm=False)


def bench_explorer(design_name: str, repeat: int, memory_repeat: int,
                   hypotheses: tuple[str, ...], classes: tuple[str, ...],
                   say: Callable[[str], None], prefix: str = "explorer") -> dict:
    rates, totals, per_hypothesis = [], [], []
    for i in range(repeat):
        states, seconds, rows = 0, 0.0, {}
        for h in hypotheses:
            say(f"{prefix} {i + 1}/{repeat}: {h}")
            started = time.perf_counter()
            result = _explore(design_name, h, classes)
            elapsed = time.perf_counter() - started
            states += result.states
            seconds += elapsed
            rows[h] = {"states": result.states, "edges": result.edges, "depth": result.depth,
                       "freeze_states": result.freeze_states, "seconds": elapsed}
        rates.append(states / seconds)
        totals.append(states)
        per_hypothesis.append(rows)
    peaks, peak_rows = [], []
    for i in range(memory_repeat):
        rows = {}
        for h in hypotheses:
            say(f"explorer memory {i + 1}/{memory_repeat}: {h} (tracemalloc)")
            tracemalloc.start()
            try:
                _explore(design_name, h, classes)
                rows[h] = tracemalloc.get_traced_memory()[1] / 2 ** 20
            finally:
                tracemalloc.stop()
        peaks.append(max(rows.values()))
        peak_rows.append(rows)
    out = {f"{prefix}_states_per_s": _stats(rates), f"{prefix}_states": _stats(totals),
           f"{prefix}_per_hypothesis": per_hypothesis,
           f"{prefix}_hypotheses": list(hypotheses), f"{prefix}_fault_classes": list(classes)}
    if memory_repeat:
        out.update({f"{prefix}_peak_mib": _stats(peaks),
                    f"{prefix}_peak_mib_per_hypothesis": peak_rows})
    return out


def bench_review(repeat: int, quick: bool, say: Callable[[str], None]) -> tuple[dict, str | None]:
    from vadlock.analysis.review import run_review

    small = {"designs": ["production"], "hypotheses": ["energy"], "variants": (),
             "fault_classes": ("capture",), "with_diagnosis": False} if quick else {}
    values = []
    for i in range(repeat):
        say(f"review {i + 1}/{repeat}")
        with tempfile.TemporaryDirectory(prefix="vadlock-bench-") as tmp:
            started = time.perf_counter()
            run_review(out_dir=tmp, progress=lambda text, i=i: say(
                f"review {i + 1}/{repeat}: {text}"), **small)
            values.append(time.perf_counter() - started)
    note = "review measured on a small subset (--quick)" if quick else None
    return {"review_s": _stats(values)}, note


def sweep_sessions_for(s_per_worker: float, workers: int, minutes: float, seed: int,
                       say: Callable[[str], None]) -> tuple[int, float]:
    """Sessions for about `s_per_worker` wall seconds per worker (at least 2 per worker),
    from the time of one session (of `seed`, one the timed sweeps do not use); returns
    (sessions, that time)."""
    from vadlock.analysis.sweep import sweep

    say("sweep: timing one session to size the sweep")
    started = time.perf_counter()
    sweep(["production"], "energy", 1, minutes, workers=1, seed=seed)
    one = time.perf_counter() - started
    return max(2 * workers, round(s_per_worker * workers / one)), one


def bench_sweep(repeat: int, s_per_worker: float, minutes: float,
                say: Callable[[str], None]) -> dict:
    from vadlock.analysis.sweep import sweep

    sessions, one = sweep_sessions_for(s_per_worker, 2, minutes, repeat, say)
    times: dict[int, list[float]] = {1: [], 2: []}
    for i in range(repeat):
        # 2 workers first: forked workers inherit what this process has made (a session's
        # audio), so the 1-worker run of the same seed must come after, not before
        for workers in (2, 1):
            say(f"sweep {i + 1}/{repeat}: {workers} worker(s), {sessions} sessions")
            started = time.perf_counter()
            sweep(["production"], "energy", sessions, minutes, workers=workers, seed=i)
            times[workers].append(time.perf_counter() - started)
    one_worker, two = statistics.median(times[1]), statistics.median(times[2])
    ratios = [a / b for a, b in zip(times[1], times[2])]
    return {"sweep_1_worker_s": _stats(times[1]), "sweep_2_workers_s": _stats(times[2]),
            "sweep_speedup_2_workers": {**_stats(ratios), "median": one_worker / two,
                                        "median_of_ratios": statistics.median(ratios)},
            "sweep_size": {"sessions": sessions, "minutes": minutes,
                           "target_s_per_worker": s_per_worker, "one_session_s": one}}


def bench_yardstick(repeat: int, say: Callable[[str], None], when: str) -> dict:
    say(f"yardstick ({when})")
    return yardstick.measure(repeat)


def run_bench(repeat: int = 5, quick: bool = False, review: bool = True,
              review_repeat: int = 1, memory_repeat: int = 1, design: str = "production",
              progress: Callable[[str], None] | None = None) -> dict:
    """Run every benchmark; returns the `--json` object (medians at top level, `runs`)."""
    from vadlock.analysis.review import REVIEW_HYPOTHESES, explorable

    for name, value in (("--repeat", repeat), ("--review-repeat", review_repeat),
                        ("--memory-repeat", memory_repeat)):
        if value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")
    say = progress or (lambda text: None)
    runs: dict[str, Any] = {}
    notes: list[str] = []
    before = bench_yardstick(max(repeat, 5), say, "before")
    runs.update(bench_simulator(design, repeat, 1.0 if quick else 10.0, say))
    from vadlock.simulator import detectors
    if detectors.available("silero"):
        runs.update(bench_simulator(design, repeat, 1.0 if quick else 10.0, say,
                                    server="silero", key="simulator_rtf_silero"))
    else:
        runs["simulator_rtf_silero"] = _stats([None])
        notes.append("silero engine not installed: no simulator_rtf_silero")
    runs.update(bench_search(design, repeat, 10 if quick else 50, say))
    explored = tuple(h for h in REVIEW_HYPOTHESES if explorable(h, design))
    runs.update(bench_explorer(design, repeat, memory_repeat,
                               ("energy",) if quick else explored,
                               ("capture",) if quick else ("acoustic", "capture"), say))
    runs.update(bench_explorer(design, repeat, 0,
                               ("energy",) if quick else explored,
                               ("network",), say, prefix="explorer_network"))
    if review:
        stats, note = bench_review(review_repeat, quick, say)
        runs.update(stats)
        notes += [note] if note else []
    else:
        runs["review_s"] = _stats([None])
        notes.append("review skipped (--skip-review)")
    runs.update(bench_sweep(repeat, 0.5 if quick else SWEEP_S_PER_WORKER,
                            0.2 if quick else SWEEP_MINUTES, say))
    measured = yardstick.combine(before, bench_yardstick(max(repeat, 5), say, "after"))
    if runs["search_first_counterexample_s"]["median"] is None:
        notes.append("search found no counterexample within its budget")
    if (os.cpu_count() or 1) < 2:
        notes.append("one CPU: the 2-worker speed-up cannot exceed 1")
    out: dict[str, Any] = {key: runs[key]["median"] for key in KEYS}
    out["explorer_states"] = runs["explorer_states"]["median"]
    out["explorer_network_states"] = runs["explorer_network_states"]["median"]
    out["yardstick"] = measured
    out["normalised"] = yardstick.normalise(
        {**out, "sweep_1_worker_s": runs["sweep_1_worker_s"]["median"],
         "sweep_2_workers_s": runs["sweep_2_workers_s"]["median"]}, measured)
    out.update({"design": design, "repeat": repeat,
                "review_repeat": review_repeat if review else 0,
                "memory_repeat": memory_repeat, "quick": quick, "cpu_count": os.cpu_count(),
                "python": platform.python_version(), "load_average": _load(),
                "notes": notes, "runs": runs})
    return out


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _line(label: str, stats: dict, unit: str, digits: int = 2) -> str:
    if stats["median"] is None:
        return f"  {label:36} -"
    return (f"  {label:36} {stats['median']:.{digits}f}{unit}  "
            f"[{stats['min']:.{digits}f} .. {stats['max']:.{digits}f}]")


def print_bench(result: dict) -> None:
    runs = result["runs"]
    print(f"vadlock bench ({result['design']}): median [min .. max] of {result['repeat']} "
          f"repetitions{' (quick)' if result['quick'] else ''}; {result['cpu_count']} CPUs, "
          f"load {result['load_average']}")
    print(_line("simulator real-time factor", runs["simulator_rtf"], "x", 1))
    print(_line("simulator real-time factor, silero", runs["simulator_rtf_silero"], "x", 1))
    print(_line("search: first counterexample", runs["search_first_counterexample_s"], " s"))
    print(_line("search: shrink", runs["search_shrink_s"], " s"))
    print(_line("explorer: states per second", runs["explorer_states_per_s"], "", 1)
          + f"  ({result['explorer_states']} states, "
          f"{len(runs['explorer_hypotheses'])} hypotheses)")
    print(_line("explorer: peak memory (tracemalloc)", runs["explorer_peak_mib"], " MiB", 1)
          + f"  ({result['memory_repeat']} run(s))")
    last = runs["explorer_per_hypothesis"][-1]
    peaks = runs["explorer_peak_mib_per_hypothesis"][-1]
    print(f"    {'hypotheses':28} {'states':>8} {'edges':>9} {'depth':>6} {'freeze':>7} "
          f"{'seconds':>8} {'MiB':>6}   (faults {'+'.join(runs['explorer_fault_classes'])})")
    for h, row in last.items():
        print(f"    {h:28} {row['states']:8d} {row['edges']:9d} {row['depth']:6d} "
              f"{row['freeze_states']:7d} {row['seconds']:8.2f} {peaks.get(h, 0):6.1f}")
    print(_line("explorer, network class: states per s", runs["explorer_network_states_per_s"],
                "", 1) + f"  ({result['explorer_network_states']} states, "
          f"{len(runs['explorer_network_hypotheses'])} hypotheses)")
    print(_line("review: wall time", runs["review_s"], " s", 1)
          + (f"  ({result['review_repeat']} run(s))" if result["review_repeat"] else ""))
    print(_line("sweep: speed-up of 2 workers", runs["sweep_speedup_2_workers"], "x")
          + f"  (1 worker {runs['sweep_1_worker_s']['median']:.1f} s, "
          f"2 workers {runs['sweep_2_workers_s']['median']:.1f} s)")
    _print_yardstick(result)
    for note in result["notes"]:
        print(f"  note: {note}")


def _print_yardstick(result: dict) -> None:
    stick = result["yardstick"]
    print(f"  yardstick: one transitions trigger {stick['trigger_us']:.2f} µs, numpy "
          f"workload {stick['numpy_workload_ms']:.2f} ms (after / before the run: "
          f"{stick['trigger_us_drift']:.2f}x, {stick['numpy_workload_ms_drift']:.2f}x); "
          f"share of a core {stick['cpu_share_before']:.2f} before, "
          f"{stick['cpu_share_after']:.2f} after")
    for key, value in result["normalised"].items():
        print(f"    {key:34} {value['per_trigger']:12.4g} per trigger, "
              f"{value['per_numpy_workload']:12.4g} per numpy workload")


def cmd_bench(args: argparse.Namespace) -> int:
    quick = args.quick
    repeat = args.repeat if args.repeat is not None else (1 if quick else 5)
    bar = Progress("vadlock bench", every_s=0.0)
    from vadlock.simulator.options import design_name

    result = run_bench(repeat, quick, review=not args.skip_review,
                       review_repeat=args.review_repeat, memory_repeat=args.memory_repeat,
                       design=design_name(args), progress=bar)
    bar.done()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_bench(result)
    sys.stdout.flush()
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    from vadlock.simulator.options import add_design_options, add_json_option, help_formatter

    p = subparsers.add_parser(
        "bench", formatter_class=help_formatter,
        help="measure the speed of the simulator, search, explorer, review and sweep",
        description="Measure on this machine, each as the median of --repeat runs with min "
        "and max:\nthe simulator's real-time factor, search time to a first "
        "counterexample and to\nshrink it, the explorer's states per second and peak "
        "memory, the whole review's\nwall time, and the speed-up of a sweep on 2 workers; "
        "with a yardstick measured in\nthe same run (one transitions trigger, a fixed numpy "
        "workload) and every figure\nnormalised by it, so runs on different machines "
        "compare. Progress goes to stderr.")
    add_design_options(p, what="design whose simulator, search and explorer to time")
    p.add_argument("--repeat", type=int, default=None, metavar="N",
                   help="repetitions of each timing (default 5; 1 with --quick)")
    p.add_argument("--review-repeat", type=int, default=1, metavar="N",
                   help="repetitions of the whole review (default 1: it takes minutes)")
    p.add_argument("--memory-repeat", type=int, default=1, metavar="N",
                   help="repetitions of the tracemalloc pass over the explorer (default 1)")
    p.add_argument("--skip-review", action="store_true", help="do not time the review")
    p.add_argument("--quick", action="store_true",
                   help="small runs, each once: a smoke test, not a measurement")
    add_json_option(p)
    p.set_defaults(run=cmd_bench)
    return p
