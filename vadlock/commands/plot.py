"""`vadlock plot`: a trace's timeline drawn to an image."""

from __future__ import annotations

import argparse
from pathlib import Path

from vadlock.commands.common import EXIT_OK, UsageError
from vadlock.simulator.options import add_design_options, design_name, help_formatter


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "plot", formatter_class=help_formatter, help="draw a trace's timeline",
        description="Draw the timeline of a JSONL trace (vadlock simulate --out): audio sent, "
        "RMS against the\nthresholds, gate, capture, server VAD, playback, wire events.")
    p.add_argument("trace", metavar="TRACE.jsonl")
    p.add_argument("--out", metavar="PNG", help="image to write (default: TRACE.png)")
    add_design_options(p, what="design whose thresholds to draw")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from vadlock.model.designs import get_design
    from vadlock.simulator.plot import load_jsonl, plot_trace

    design = get_design(design_name(args))
    if not Path(args.trace).is_file():
        raise UsageError(f"{args.trace}: no such file")
    trace = load_jsonl(args.trace)
    out = args.out or str(Path(args.trace).with_suffix(".png"))
    print(plot_trace(trace, out, design.gate.threshold_rms, design.interrupt_rms))
    return EXIT_OK
