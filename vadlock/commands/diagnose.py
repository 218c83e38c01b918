"""`vadlock diagnose`: a ranked differential of the field report's freeze over every graded
cause, its sensitivity to the free parameters and the experiments that separate the
leading causes."""

from __future__ import annotations

import argparse
import json

from vadlock.commands.common import EXIT_OK, UsageError, positive
from vadlock.simulator.options import (add_design_options, add_json_option, add_workers_option,
                                       design_name, help_formatter)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "diagnose", formatter_class=help_formatter, help="which causes fit the field report",
        description="Run the field report's story under every candidate cause (server VAD "
        "hypotheses,\ncapture faults, combinations) with the production and development "
        "designs, and check\nthe report's observations O1-O10 on each: a ranked "
        "differential (observations failed,\nthen evidence grade; ties stay ties), how it "
        "moves over the free parameters, and\nthe experiments that tell the leading causes "
        "apart.")
    add_design_options(p, what="the build to diagnose, against development")
    add_workers_option(p)
    p.add_argument("--o6-peak-range", default="41,96", metavar="LO,HI",
                   help="raw int16 peaks O6 accepts while the user speaks loudly (default "
                   "41,96: the report's own numbers; any tolerance is yours to state)")
    p.add_argument("--no-sensitivity", action="store_true",
                   help="skip the sensitivity runs (one free parameter moved at a time)")
    add_json_option(p)
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from vadlock.analysis.diagnose import OBSERVATIONS, Params, conclusion, diagnose
    from vadlock.analysis.sensitivity import sensitivity_lines
    from vadlock.simulator.progress import Progress

    design = design_name(args)
    workers = positive(args.workers, "--workers") if args.workers is not None else None
    params = Params(o6_peak_range=_peak_range(args.o6_peak_range))
    bar = Progress("vadlock diagnose", enabled=not args.json)
    d = diagnose(workers=workers or _cores(), design=design, params=params,
                 with_sensitivity=not args.no_sensitivity,
                 progress=lambda n, total: bar(f"run {n}/{total}"))
    bar.done()
    if args.json:
        print(json.dumps({**d.to_dict(),
                          "consistent": [r.cause.name for r in d.causes if r.reproduces_all],
                          "conclusion": conclusion(d)}, indent=2))
        return EXIT_OK
    low, high = params.o6_peak_range
    print(f"vadlock diagnose: a ranked differential of the field report's freeze, {design} "
          f"against development\nO6 accepts raw int16 peaks {low}-{high} "
          f"(--o6-peak-range); a failed observation no cause fails is not counted\n")
    names = list(OBSERVATIONS)
    print(f"  {'rank':>4} {'grade':11} {'cause':40} " + " ".join(f"{o:>3}" for o in names)
          + "  all")
    for r in d.causes:
        marks = " ".join(f"{'yes' if r.observations[o] else ' - ':>3}" for o in names)
        print(f"  {r.rank:>4} {r.grade:11} {r.cause.name:40} {marks}  "
              f"{'YES' if r.reproduces_all else ' no'}")
    print()
    for line in conclusion(d):
        print(line)
    moved, steady = sensitivity_lines(d)
    if d.sensitivity:
        print("\nsensitivity (one parameter moved at a time):")
        for line in moved or ["no setting changes which causes explain everything"]:
            print(f"  {line}")
    if d.experiments:
        print("\nseparating experiments for the leading causes:")
        for e in d.experiments:
            print(f"  {e['measure']}")
            for cause, prediction in e["predictions"].items():
                print(f"    {cause}: {prediction}")
    print("\n" + "; ".join(f"{k}: {v}" for k, v in OBSERVATIONS.items()))
    return EXIT_OK


def _peak_range(text: str) -> tuple[int, int]:
    try:
        low, high = (int(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--o6-peak-range: expected LO,HI (two integers), got {text!r}") \
            from None
    if not 0 <= low <= high <= 32767:
        raise UsageError(f"--o6-peak-range: need 0 <= LO <= HI <= 32767, got {text!r}")
    return low, high


def _cores() -> int:
    import os
    return os.cpu_count() or 1
