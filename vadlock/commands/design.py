"""`vadlock design show NAME` / `check FILE`: a built-in design as a TOML design file, and a
design file validated."""

from __future__ import annotations

import argparse
import json
import sys

from vadlock.commands.common import EXIT_OK, EXIT_USAGE, OneLineErrorParser
from vadlock.simulator.options import add_json_option, help_formatter


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "design", formatter_class=help_formatter, help="design files: show a design, check a file",
        description="A design as a TOML design file, for --design-file (simulate, search, "
        "explore, review,\nsweep, diagnose, replay, recording, plot).\n"
        "  vadlock design show NAME   prints a built-in design as a valid file to start from\n"
        "  vadlock design check FILE  validates a file: exit 0, or 2 with one line naming "
        "the key;\n                             parameters the model does not honour are "
        "listed")
    sub = p.add_subparsers(dest="design_command", metavar="show|check",
                           parser_class=OneLineErrorParser)

    def usage(args: argparse.Namespace) -> int:
        """`vadlock design` alone: its help on stderr, exit 2."""
        p.print_help(sys.stderr)
        return EXIT_USAGE

    p.set_defaults(run=usage)
    show = sub.add_parser("show", formatter_class=help_formatter,
                          help="print a built-in design as a design file")
    show.add_argument("name", metavar="NAME")
    show.set_defaults(run=run_show)
    check = sub.add_parser("check", formatter_class=help_formatter,
                           help="validate a design file")
    check.add_argument("file", metavar="FILE.toml")
    add_json_option(check)
    check.set_defaults(run=run_check)
    return p


def run_show(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from vadlock.model.designs import get_design
    from vadlock.simulator.designfile import design_toml

    design = get_design(args.name)
    print(design_toml(replace(design, name=design.name.replace("+", "-"))), end="")
    return EXIT_OK


def run_check(args: argparse.Namespace) -> int:
    from vadlock.simulator.designfile import load_design

    design = load_design(args.file)
    unhonoured = design.unhonoured()
    if args.json:
        print(json.dumps({"file": args.file, "design": design.name, "valid": True,
                          "unhonoured": unhonoured}, indent=2))
    else:
        print(f"{args.file}: valid design {design.name!r} (chunk {design.chunk_ms} ms, gate "
              f"{design.gate.mode}, {len(design.watchdog_rules)} generic watchdog(s))")
        for line in unhonoured:
            print(f"  not modelled: {line}")
    return EXIT_OK
