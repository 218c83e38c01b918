"""`vadlock search`: Hypothesis search over report-shaped scenarios for a violation,
shrunk to a minimal scenario saved as JSON."""

from __future__ import annotations

import argparse
import json

from vadlock.commands.common import (EXIT_OK, EXIT_VIOLATION, UsageError, fault_classes,
                                     positive, replay_command)
from vadlock.simulator.options import (add_json_option, add_model_options, add_out_dir_option,
                                       design_name, help_formatter)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "search", formatter_class=help_formatter, help="search random scenarios for a freeze",
        description="Search with Hypothesis: generate scenarios shaped like the field report "
        "(good turns,\nincidents, a fair tail), simulate, check the freeze property "
        "(recovery) and shrink\na failing scenario to a minimal one, saved as JSON.\n"
        "Exit 1 when a violation is found, 0 when none is within the budget.")
    add_model_options(p)
    p.add_argument("--max-examples", type=int, default=50, metavar="N",
                   help="scenarios to try before giving up (default 50)")
    p.add_argument("--seed", type=int, default=0, help="search and audio seed (default 0)")
    p.add_argument("--faults", default="acoustic,capture,network", metavar="CLASS[,CLASS...]",
                   help="fault classes the scenarios may contain (default "
                   "acoustic,capture,network): acoustic, capture, network, server (a stall, "
                   "a failed response or an expired session after a good turn)")
    p.add_argument("--property", default="recovery", metavar="NAME",
                   help="property to search against (default recovery, the freeze): "
                   "heard, answered, no-silent-freeze, recovery, protocol, beliefs-agree, "
                   "no-lost-audio")
    add_out_dir_option(p, "counterexamples", "where to save the shrunk scenario")
    add_json_option(p)
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from vadlock.model.designs import get_design
    from vadlock.model.hypotheses import ServerVadHypotheses
    from vadlock.properties.checks import PROPERTIES
    from vadlock.properties.describe import describe
    from vadlock.properties.search import search
    from vadlock.properties.strategies import FAULT_CLASSES
    from vadlock.simulator.progress import Progress

    design = get_design(design_name(args))
    hypotheses = ServerVadHypotheses.parse(args.server)
    classes = fault_classes(args.faults, FAULT_CLASSES)
    positive(args.max_examples, "--max-examples")
    if args.property not in PROPERTIES:
        raise UsageError(f"unknown property {args.property!r} (known: {', '.join(PROPERTIES)})")
    bar = Progress("vadlock search", enabled=not args.json)
    result = search(design, hypotheses, max_examples=args.max_examples, seed=args.seed,
                    fault_classes=classes, properties=(args.property,), out_dir=args.out,
                    progress=lambda n, total: bar(f"scenario {n} (budget {total})"))
    bar.done()
    replay = replay_command(design, hypotheses, result.saved)
    if args.json:
        print(json.dumps({
            "design": design.name, "server": hypotheses.label, "fault_classes": list(classes),
            "verdict": result.verdict,
            "property": args.property if result.scenario is not None else None,
            "counterexample": str(result.saved) if result.saved else None,
            "violations": [v.to_dict() for v in result.violations],
            "examples": result.examples, "seconds": round(result.total_s, 3),
            "first_counterexample_s": _round(result.first_counterexample_s),
            "shrink_s": _round(result.shrink_s), "replay": replay}, indent=2))
    else:
        print(f"vadlock search: design={design.name} server={hypotheses.label} "
              f"faults={','.join(classes)} seed={args.seed}")
        print(f"  ran {result.examples} scenarios in {result.total_s:.1f} s")
        if result.scenario is None:
            print(f"  no violation of {args.property} within the budget of "
                  f"{args.max_examples} scenarios")
        else:
            print(f"  first counterexample after {result.first_counterexample_s:.1f} s, "
                  f"shrinking took {result.shrink_s:.1f} s")
            print(f"\nVIOLATED {args.property}: {result.violations[0].explanation}")
            print("\nshrunk scenario:")
            for line in describe(result.scenario):
                print(f"  {line}")
            print(f"\nsaved: {result.saved}\nreplay: {replay}")
        print(f"\nverdict: {result.verdict}")
    return EXIT_VIOLATION if result.scenario is not None else EXIT_OK


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
