"""Command-line options shared by every command that runs a design.

`--design NAME` picks a design; `--chunk-ms`, `--silence-duration-ms` and
`--gate-lag-chunks` are shorthand for its variant suffixes (`production+chunk20ms` ...), so
`--design production --chunk-ms 20` and `--design production+chunk20ms` are the same.
"""

from __future__ import annotations

import argparse

from vadlock.model.designs import DESIGNS, get_design


def help_formatter(prog: str) -> argparse.HelpFormatter:
    """Every command's help layout: descriptions keep their line breaks, 100 columns."""
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32, width=100)


def add_design_options(parser: argparse.ArgumentParser, default: str = "production",
                       many: bool = False, what: str = "client design") -> None:
    names = ", ".join(DESIGNS)
    parser.add_argument(
        "--design", default=default, metavar="NAME[,NAME...]" if many else "NAME",
        help=f"{what}{'s, or all' if many else ''} (default {default}): {names}; "
        "a variant is NAME+chunk20ms, +silence200ms, +lag1, +threshold0.7")
    group = parser.add_argument_group("design variants (shorthand for the NAME+... suffixes)")
    group.add_argument("--chunk-ms", type=int, metavar="MS",
                       help="worklet chunk length (the designs use 100; clients send 20-100)")
    group.add_argument("--silence-duration-ms", type=int, metavar="MS",
                       help="server_vad silence_duration_ms (documented 500; 200 is seen in "
                       "real session.created events)")
    group.add_argument("--threshold", type=float, metavar="P",
                       help="server_vad threshold on the detector's speech probability "
                       "(documented default 0.5; 0.01-0.99)")
    group.add_argument("--gate-lag-chunks", type=int, metavar="0|1",
                       help="1: the gate decides on the previous chunk's energy (if "
                       "lastMicrophoneEnergy lags); 0: on the chunk's own")


def design_names(args: argparse.Namespace) -> list[str]:
    """The designs named by `--design` (comma-separated, or 'all'), with the variant flags
    applied; unknown names and values out of range fail here, in one line."""
    names = [n.strip() for n in args.design.split(",") if n.strip()]
    if names == ["all"]:
        names = list(DESIGNS)
    if not names:
        raise ValueError("--design: no design given")
    out = []
    for name in names:
        suffix = "".join(
            f"+{key}{value}{unit}" for key, value, unit in (
                ("chunk", args.chunk_ms, "ms"), ("silence", args.silence_duration_ms, "ms"),
                ("lag", args.gate_lag_chunks, ""),
                ("threshold", None if getattr(args, "threshold", None) is None
                 else f"{args.threshold:g}", "")) if value is not None)
        out.append(get_design(name + suffix).name)
    return out


def design_name(args: argparse.Namespace) -> str:
    names = design_names(args)
    if len(names) != 1:
        raise ValueError("--design: give one design")
    return names[0]
