"""`vadlock hypotheses`: every server behaviour, hypothesis and detector engine with its
evidence grade and sources."""

from __future__ import annotations

import argparse
import json

from vadlock.commands.common import EXIT_OK
from vadlock.simulator.options import add_json_option, help_formatter


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "hypotheses", formatter_class=help_formatter,
        help="list server behaviours, hypotheses and detector engines with evidence grades",
        description="Every server behaviour the model implements, every server hypothesis "
        "(--server NAME) and\nevery detector engine (--server ENGINE), each with its "
        "evidence grade: documented,\nmeasured (a real detector does it here; the source "
        "names the test), reported,\nanalogy or speculative, a summary and its sources.")
    add_json_option(p, help="print a JSON list of {name, grade, summary, sources}")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from vadlock.model.evidence import SECTIONS, entries

    if args.json:
        print(json.dumps([e.as_dict() for e in entries()], indent=2))
        return EXIT_OK
    for title, section in SECTIONS:
        print(f"{title}:")
        for e in section:
            print(f"  {e.name:36} {e.grade:11} {e.summary}")
            for source in e.sources:
                print(f"  {'':36} {'':11} - {source}")
        print()
    return EXIT_OK
