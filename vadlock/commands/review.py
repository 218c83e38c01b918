"""`vadlock review`: the design review, every design x server hypothesis x fault class, the
diagnosis and the report's answers, written to a folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from vadlock.commands.common import EXIT_OK, UsageError, positive
from vadlock.simulator.options import (add_out_dir_option, add_scheduler_option,
                                       add_workers_option, help_formatter)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "review", formatter_class=help_formatter, help="the design review (the main job)",
        description="Run exploration and search for every design x server hypothesis x "
        "fault class, the\ndiagnosis, and write review.md (verdict matrix with evidence, "
        "answers to the report's\nfour questions), review.json, verdicts.png, and every "
        "counterexample with its timeline.")
    add_out_dir_option(p, "figures", "output folder")
    p.add_argument("--designs", "--design", dest="designs", metavar="NAME[,NAME...]",
                   help="only these designs (variants too: production+chunk20ms)")
    p.add_argument("--design-file", action="append", default=[], metavar="FILE.toml",
                   help="a design of your own (TOML design file), reviewed next to the "
                   "built-in ones (or to --designs); repeatable")
    p.add_argument("--servers", metavar="HYP[;HYP...]",
                   help="only these hypothesis sets, separated by ';' (default: each "
                   "hypothesis, zero-skip,clear-keeps-vad, and each detector engine whose "
                   "library loads: silero, webrtc-vad, ten)")
    p.add_argument("--examples", type=int, default=8, metavar="N",
                   help="search budget per cell (default 8)")
    p.add_argument("--engine-examples", type=int, default=None, metavar="N",
                   help="search budget per cell of a detector engine (silero, webrtc-vad, "
                   "ten; default: --examples); review.md states it")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    add_workers_option(p)
    add_scheduler_option(p, "jobs")
    p.add_argument("--no-diagnosis", action="store_true", help="skip the diagnosis")
    p.add_argument("--no-sensitivity", action="store_true",
                   help="skip the diagnosis' sensitivity runs")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    import time

    from vadlock.analysis.review import run_review
    from vadlock.model.designs import DESIGNS, get_design
    from vadlock.model.hypotheses import ServerVadHypotheses
    from vadlock.simulator.options import file_designs, warn_unhonoured
    from vadlock.simulator.progress import Progress

    designs = None
    if args.designs:
        designs = [get_design(n.strip()).name for n in args.designs.split(",") if n.strip()]
        if not designs:
            raise UsageError("--designs: no design given")
    extra = [d.name for d in file_designs(args.design_file)]
    if extra:
        designs = list(dict.fromkeys([*(designs or DESIGNS), *extra]))
    for name in designs or DESIGNS:
        warn_unhonoured(get_design(name))
    servers = None
    if args.servers:
        servers = [ServerVadHypotheses.parse(h).label for h in args.servers.split(";")
                   if h.strip()]
    positive(args.examples, "--examples")
    if args.engine_examples is not None:
        positive(args.engine_examples, "--engine-examples")
    workers = positive(args.workers, "--workers") if args.workers is not None else None
    if args.scheduler is not None and workers is not None:
        raise UsageError("--workers and --scheduler exclude each other (the cluster has its "
                         "own workers)")
    bar = Progress("vadlock review", every_s=0.0)
    started = time.perf_counter()
    results = run_review(args.out, designs=designs, hypotheses=servers, seed=args.seed,
                         workers=workers, examples=args.examples,
                         engine_examples=args.engine_examples,
                         with_diagnosis=not args.no_diagnosis,
                         with_sensitivity=not args.no_sensitivity, progress=bar,
                         scheduler=args.scheduler)
    bar.done()
    freezes = sum(1 for c in results["cells"] if c["verdict"] == "freeze")
    print(f"vadlock review: {len(results['cells'])} cells, {freezes} freeze, in "
          f"{time.perf_counter() - started:.0f} s")
    print(f"  wrote {Path(args.out) / 'review.md'}, review.json, verdicts.png, "
          "counterexamples/, timelines/")
    return EXIT_OK
