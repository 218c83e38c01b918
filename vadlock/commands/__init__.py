"""The commands of `vadlock`, one module each: `add_parser(subparsers)` declares a
command's options, `run(args)` does it and returns the exit code.

The commands here compose the packages (model, simulator, properties, analysis); a command
that belongs to one package keeps its `add_parser` and `run` next to the code it runs
(`vadlock replay` in `simulator/logreplay.py`, `vadlock sweep` in `analysis/sweep.py`, ...).
`add_parsers` declares them all. Options that several commands take are spelled once, in
`vadlock.simulator.options`; exit codes, the usage error and the one-line parser are in
`vadlock.commands.common`. No package imports this one; `vadlock.cli` composes it.
"""

from __future__ import annotations


def add_parsers(subparsers) -> None:
    """Declare every command on `subparsers`, in the order `vadlock --help` lists them."""
    from vadlock.analysis import bench, calibrate, measure, sweep
    from vadlock.commands import (design, diagnose, diagrams, explore, hypotheses, plot,
                                  review, search, simulate)
    from vadlock.simulator import conformance, logreplay, recording
    from vadlock.simulator.serve import command as serve

    for command in (simulate, search, explore, diagnose, review, diagrams, plot, design,
                    hypotheses, logreplay, conformance, recording, measure, calibrate, sweep, bench,
                    serve):
        command.add_parser(subparsers)
