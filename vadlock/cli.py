"""The `vadlock` command line: the composition root.

`build_parser` gathers every command (`vadlock.commands`, one module a command); `main`
parses, runs the command and turns bad input into one line and exit code 2, so no
traceback reaches the user for bad input.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from vadlock.commands import add_parsers
from vadlock.commands.common import EXIT_OK, EXIT_USAGE, OneLineErrorParser, UsageError
from vadlock.simulator.options import help_formatter


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="vadlock", formatter_class=help_formatter,
        description="vadlock: a formal, executable model of a browser voice client talking to "
        "the OpenAI Realtime API,\nbuilt to find how a session freezes (socket open, audio "
        "flowing, no server event ever again)\nand to check which fixes remove the freeze.",
        epilog="Run 'vadlock COMMAND --help' for the options of each command.\n"
        "Exit codes: 0 ok / no violation, 1 a freeze or property violation was found, "
        "2 bad input.")
    add_parsers(parser.add_subparsers(dest="command", metavar="COMMAND",
                                      parser_class=OneLineErrorParser))
    return parser


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
    except OSError as exc:  # a path that cannot be read or written
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"vadlock {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("vadlock: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
