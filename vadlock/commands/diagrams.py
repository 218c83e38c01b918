"""`vadlock diagrams`: Mermaid state diagrams and one image per machine, from the
declarations; `--check` fails when the committed ones are stale."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vadlock.commands.common import EXIT_OK, EXIT_VIOLATION
from vadlock.simulator.options import add_out_dir_option, help_formatter


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "diagrams", formatter_class=help_formatter, help="draw every machine from its declaration",
        description="Write machines.md (Mermaid state diagrams that render on GitHub) and one "
        "PNG per machine,\nboth generated from the machine declarations.")
    add_out_dir_option(p, "figures", "output folder")
    p.add_argument("--check", action="store_true",
                   help="do not write: exit 1 if the committed machines.md is out of date")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from vadlock.simulator.diagrams import diagrams_markdown, write_diagrams

    if args.check:
        committed = Path(args.out) / "machines.md"
        current = committed.read_text() if committed.exists() else ""
        if current != diagrams_markdown():
            print(f"vadlock diagrams: {committed} is out of date; run 'vadlock diagrams'",
                  file=sys.stderr)
            return EXIT_VIOLATION
        print(f"{committed} matches the machine declarations")
        return EXIT_OK
    for path in write_diagrams(args.out):
        print(path)
    return EXIT_OK
