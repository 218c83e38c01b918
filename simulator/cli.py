"""The `vadlock` command line.

Every sub-command validates its input and fails with one line and exit code 2; no
traceback reaches the user for bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

EXIT_OK, EXIT_VIOLATION, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input from the user: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def _common_model_args(p: argparse.ArgumentParser, multi_design: bool = False) -> None:
    from model.designs import DESIGNS
    from model.hypotheses import HYPOTHESES

    p.add_argument("--design", default="production", metavar="NAME",
                   help=f"client design (default production): {', '.join(DESIGNS)}")
    p.add_argument("--server", default="energy", metavar="HYP[,HYP...]",
                   help="server VAD hypotheses, combinable (default energy): "
                   + ", ".join(HYPOTHESES))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vadlock", formatter_class=_formatter,
        description="vadlock: a formal, executable model of a browser voice client talking to "
        "the OpenAI Realtime API,\nbuilt to find how a session freezes (socket open, audio "
        "flowing, no server event ever again)\nand to check which fixes remove the freeze.",
        epilog="Run 'vadlock COMMAND --help' for the options of each command.\n"
        "Exit codes: 0 ok / no violation, 1 a freeze or property violation was found, "
        "2 bad input.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    sim = sub.add_parser(
        "simulate", formatter_class=_formatter, help="run one session and print its timeline",
        description="Simulate one session: a design, a set of server hypotheses and a scenario\n"
        "(a preset or a scenario JSON file), deterministic from the seed.\nPrints a timeline "
        "of wire events and state changes and a summary (or one JSON object).")
    _common_model_args(sim)
    src = sim.add_mutually_exclusive_group()
    src.add_argument("--preset", metavar="NAME", help="a named scenario (default field-report): "
                     "conversation, field-report, typing-during-reply, app-switch")
    src.add_argument("--scenario", metavar="FILE", help="a scenario JSON file")
    sim.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sim.add_argument("--duration-s", type=float, metavar="S",
                     help="session length in seconds (default: the scenario's)")
    sim.add_argument("--tick-ms", type=int, default=10, help="engine tick (default 10 ms)")
    sim.add_argument("--out", metavar="FILE", help="write the wire trace as JSONL")
    sim.add_argument("--json", action="store_true", help="print one JSON summary object")
    sim.add_argument("--quiet", action="store_true", help="summary only, no timeline")
    sim.set_defaults(run=cmd_simulate)
    return parser


# -- simulate ------------------------------------------------------------------------
def load_scenario(args: argparse.Namespace):
    from simulator.presets import preset
    from simulator.scenario import Scenario

    duration_ms = None
    if args.duration_s is not None:
        if not (0 < args.duration_s <= 4 * 3600):
            raise UsageError(f"--duration-s must be in (0, 14400], got {args.duration_s}")
        duration_ms = int(round(args.duration_s * 1000))
    if args.scenario:
        scenario = Scenario.load(args.scenario)
        if duration_ms is not None:
            from dataclasses import replace
            scenario = replace(scenario, duration_ms=duration_ms)
        return scenario
    return preset(args.preset or "field-report", duration_ms)


def cmd_simulate(args: argparse.Namespace) -> int:
    from model.designs import get_design
    from model.hypotheses import ServerVadHypotheses
    from simulator.engine import simulate
    from simulator.timeline import print_timeline

    design = get_design(args.design)
    hypotheses = ServerVadHypotheses.parse(args.server)
    scenario = load_scenario(args)
    trace = simulate(design, hypotheses, scenario, args.seed, args.tick_ms)
    summary = trace.summary()
    if args.out:
        summary["out"] = str(trace.write_jsonl(args.out))
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        if not args.quiet:
            print_timeline(trace)
        print_summary(summary)
    return EXIT_OK


def print_summary(summary: dict[str, Any]) -> None:
    print("\nsummary")
    for key, value in summary.items():
        print(f"  {key:22} {value}")


# -- entry point -----------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.run(args)
    except (UsageError, ValueError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        print(f"vadlock {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("vadlock: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
