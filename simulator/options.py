"""Command-line options shared by the commands: one function per option block.

`--design NAME` picks a design, `--design-file FILE.toml` one of the user's own (see
`simulator.designfile`; with `many`, both add up); `--chunk-ms`, `--silence-duration-ms` and
`--gate-lag-chunks` are shorthand for its variant suffixes (`production+chunk20ms` ...), so
`--design production --chunk-ms 20` and `--design production+chunk20ms` are the same.
`--server` names the server VAD hypotheses; `--json`, `--workers`, `--scheduler` and the
output folders are spelled once here for every command that takes them.
"""

from __future__ import annotations

import argparse
import sys

from vadlock.model.designs import DESIGNS, FILE_DESIGNS, get_design, register_designs


def help_formatter(prog: str) -> argparse.HelpFormatter:
    """Every command's help layout: descriptions keep their line breaks, 100 columns."""
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32, width=100)


def add_design_options(parser: argparse.ArgumentParser, default: str = "production",
                       many: bool = False, what: str = "client design") -> None:
    names = ", ".join(DESIGNS)
    parser.add_argument(
        "--design", default=None, metavar="NAME[,NAME...]" if many else "NAME",
        help=f"{what}{'s, or all' if many else ''} (default {default}): {names}; "
        "a variant is NAME+chunk20ms, +silence200ms, +lag1, +threshold0.7")
    parser.add_argument(
        "--design-file", action="append", default=[], metavar="FILE.toml",
        help="a design of your own, as a TOML design file ('vadlock design show NAME' "
        "prints one to start from)" + ("; repeatable, added to --design" if many
                                       else "; instead of --design"))
    parser.set_defaults(design_default=default)
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


SERVER_METAVAR = "HYP[,HYP...]"


def add_server_option(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    """`--server HYP[,HYP...]` (default energy); the help, unless given, lists every
    hypothesis and detector engine."""
    if help is None:
        from vadlock.model.hypotheses import ENGINES, HYPOTHESES

        help = ("server VAD hypotheses, combinable (default energy): " + ", ".join(HYPOTHESES)
                + "; or a detector engine (" + ", ".join(e for e in ENGINES if e != "energy")
                + ", webrtc-vad:MODE) with zero-skip, deadband, clear-keeps-vad; "
                "grades: vadlock hypotheses")
    parser.add_argument("--server", default="energy", metavar=SERVER_METAVAR, help=help)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """What a command that runs one session model takes: a design and server hypotheses."""
    add_design_options(parser)
    add_server_option(parser)


def add_json_option(parser: argparse.ArgumentParser,
                    help: str = "print one JSON object") -> None:
    parser.add_argument("--json", action="store_true", help=help)


def add_workers_option(parser: argparse.ArgumentParser,
                       help: str = "processes (default: the number of cores)") -> None:
    parser.add_argument("--workers", type=int, default=None, metavar="K", help=help)


def add_scheduler_option(parser: argparse.ArgumentParser, what: str = "jobs") -> None:
    """`--scheduler ADDRESS`: run `what` on a Dask cluster instead of local processes."""
    parser.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help=f"run the {what} on the Dask cluster whose scheduler is at "
                        "ADDRESS (tcp://HOST:PORT; default: local processes); excludes "
                        "--workers")


def add_out_dir_option(parser: argparse.ArgumentParser, default: str, what: str) -> None:
    """`--out DIR` with a default folder; `what` says what the folder is for ("output
    folder", "where to save the shrunk scenario")."""
    parser.add_argument("--out", default=default, metavar="DIR",
                        help=f"{what} (default {default}/)")


def design_names(args: argparse.Namespace, one: bool = False) -> list[str]:
    """The designs named by `--design` (comma-separated, or 'all'), with the variant flags
    applied; unknown names and values out of range fail here, in one line. Design files
    (`--design-file`) are read, registered by name and added; what a design sets that the
    model does not honour is warned about on stderr, one line each."""
    files = file_designs(getattr(args, "design_file", None) or [])
    given = args.design if args.design is not None else (
        None if files else getattr(args, "design_default", "production"))
    names = [n.strip() for n in given.split(",") if n.strip()] if given is not None else []
    if names == ["all"]:
        names = list(DESIGNS)
    if not names and not files:
        raise ValueError("--design: no design given")
    names += [d.name for d in files if d.name not in names]
    out = []
    for name in names:
        suffix = "".join(
            f"+{key}{value}{unit}" for key, value, unit in (
                ("chunk", args.chunk_ms, "ms"), ("silence", args.silence_duration_ms, "ms"),
                ("lag", args.gate_lag_chunks, ""),
                ("threshold", None if getattr(args, "threshold", None) is None
                 else f"{args.threshold:g}", "")) if value is not None)
        out.append(get_design(name + suffix).name)
    if one and len(out) != 1:
        raise ValueError("--design / --design-file: give one design")
    for name in dict.fromkeys(out):
        warn_unhonoured(get_design(name))
    return out


def file_designs(paths) -> list:
    """The designs of these design files, registered so that `get_design` finds them."""
    from vadlock.simulator.designfile import load_design

    designs = [load_design(path) for path in paths]
    register_designs([d for d in designs if d.name not in DESIGNS])
    return designs


_WARNED: set[tuple[str, str]] = set()


def warn_unhonoured(design) -> None:
    """One stderr line per parameter of `design` the model does not honour (once each)."""
    for what in design.unhonoured():
        if (design.name, what) not in _WARNED:
            _WARNED.add((design.name, what))
            print(f"vadlock: warning: design {design.name}: {what}", file=sys.stderr)


def registered_file_designs() -> tuple:
    """The designs read from files so far (for a process pool's initializer)."""
    return tuple(FILE_DESIGNS.values())


def design_name(args: argparse.Namespace) -> str:
    return design_names(args, one=True)[0]
