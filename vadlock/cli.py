"""The `vadlock` command line.

Every sub-command validates its input and fails with one line and exit code 2; no
traceback reaches the user for bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from vadlock.simulator.options import add_design_options, design_name, help_formatter

EXIT_OK, EXIT_VIOLATION, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input from the user: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _common_model_args(p: argparse.ArgumentParser) -> None:
    from vadlock.model.hypotheses import ENGINES, HYPOTHESES

    add_design_options(p)
    p.add_argument("--server", default="energy", metavar="HYP[,HYP...]",
                   help="server VAD hypotheses, combinable (default energy): "
                   + ", ".join(HYPOTHESES) + "; or a detector engine ("
                   + ", ".join(e for e in ENGINES if e != "energy")
                   + ", webrtc-vad:MODE) with zero-skip, deadband, clear-keeps-vad; "
                   "grades: vadlock hypotheses")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vadlock", formatter_class=help_formatter,
        description="vadlock: a formal, executable model of a browser voice client talking to "
        "the OpenAI Realtime API,\nbuilt to find how a session freezes (socket open, audio "
        "flowing, no server event ever again)\nand to check which fixes remove the freeze.",
        epilog="Run 'vadlock COMMAND --help' for the options of each command.\n"
        "Exit codes: 0 ok / no violation, 1 a freeze or property violation was found, "
        "2 bad input.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    sim = sub.add_parser(
        "simulate", formatter_class=help_formatter, help="run one session and print its timeline",
        description="Simulate one session: a design, a set of server hypotheses and a scenario\n"
        "(a preset or a scenario JSON file), deterministic from the seed.\nPrints a timeline "
        "of wire events and state changes and a summary (or one JSON object).\n"
        "Exit 1 when a property is violated, 0 when all hold, 2 for bad input.")
    _common_model_args(sim)
    src = sim.add_mutually_exclusive_group()
    src.add_argument("--preset", metavar="NAME", help="a named scenario (default field-report): "
                     "conversation, field-report, typing-during-reply, app-switch")
    src.add_argument("--scenario", metavar="FILE", help="a scenario JSON file")
    sim.add_argument("--seed", type=int, default=None,
                     help="random seed (default: the scenario's own, else 0)")
    sim.add_argument("--duration-s", type=float, metavar="S",
                     help="session length in seconds (default: the scenario's)")
    sim.add_argument("--tick-ms", type=int, default=10, help="engine tick (default 10 ms)")
    sim.add_argument("--out", metavar="FILE", help="write the wire trace as JSONL")
    sim.add_argument("--json", action="store_true", help="print one JSON summary object")
    sim.add_argument("--quiet", action="store_true", help="summary only, no timeline")
    sim.add_argument("--plot", metavar="PNG", help="also draw the timeline to this image")
    sim.add_argument("--audio", metavar="FILE.wav",
                     help="a WAV recording as the microphone signal (any rate, mono or "
                     "stereo, integer or float): alone, or added to --scenario/--preset at "
                     "--audio-start-ms; its speech turns (WebRTC VAD) count as utterances")
    sim.add_argument("--audio-start-ms", type=int, default=0, metavar="MS",
                     help="where the recording starts in the session (default 0)")
    sim.add_argument("--audio-tail-ms", type=int, default=None, metavar="MS",
                     help="how long the session runs on after the recording ends (default: "
                     "long enough for a last turn to complete: silence_duration_ms + 300 ms "
                     "to the first response audio + the longest response + 1 s; 0: stop "
                     "with the recording)")
    sim.set_defaults(run=cmd_simulate)

    se = sub.add_parser(
        "search", formatter_class=help_formatter, help="search random scenarios for a freeze",
        description="Search with Hypothesis: generate scenarios shaped like the field report "
        "(good turns,\nincidents, a fair tail), simulate, check the freeze property "
        "(recovery) and shrink\na failing scenario to a minimal one, saved as JSON.\n"
        "Exit 1 when a violation is found, 0 when none is within the budget.")
    _common_model_args(se)
    se.add_argument("--max-examples", type=int, default=50, metavar="N",
                    help="scenarios to try before giving up (default 50)")
    se.add_argument("--seed", type=int, default=0, help="search and audio seed (default 0)")
    se.add_argument("--faults", default="acoustic,capture,network", metavar="CLASS[,CLASS...]",
                    help="fault classes the scenarios may contain (default "
                    "acoustic,capture,network): acoustic, capture, network, server (a stall, "
                    "a failed response or an expired session after a good turn)")
    se.add_argument("--property", default="recovery", metavar="NAME",
                    help="property to search against (default recovery, the freeze): "
                    "heard, answered, no-silent-freeze, recovery, protocol, beliefs-agree, "
                    "no-lost-audio")
    se.add_argument("--out", default="counterexamples", metavar="DIR",
                    help="where to save the shrunk scenario (default counterexamples/)")
    se.add_argument("--json", action="store_true", help="print one JSON object")
    se.set_defaults(run=cmd_search)

    ex = sub.add_parser(
        "explore", formatter_class=help_formatter, help="explore every reachable state for a freeze",
        description="Exhaustive exploration (BFS with networkx) of the product of the same "
        "machines,\nwith frame symbols as inputs and timers as nondeterministic expiries. "
        "A freeze is a\nreachable state from which no progress is reachable while the "
        "environment plays fair.\nThe shortest counterexample is replayed in the full "
        "simulator: confirmed or spurious.\nExit 1 on a confirmed freeze, 0 otherwise.")
    _common_model_args(ex)
    ex.add_argument("--faults", default="acoustic,capture", metavar="CLASS[,CLASS...]",
                    help="fault classes of the environment (default acoustic,capture; "
                    "server: the 60-minute session limit may run out at any point, the "
                    "session being of any age; network faults and the other server faults "
                    "are for search)")
    ex.add_argument("--max-states", type=int, default=1_000_000, metavar="N",
                    help="stop with an error beyond this many states (default 1000000, "
                    "about 300 MB)")
    ex.add_argument("--seed", type=int, default=0, help="audio seed of the replay (default 0)")
    ex.add_argument("--out", default="counterexamples", metavar="DIR",
                    help="where to save the counterexample scenario (default counterexamples/)")
    ex.add_argument("--json", action="store_true", help="print one JSON object")
    ex.set_defaults(run=cmd_explore)

    dg = sub.add_parser(
        "diagnose", formatter_class=help_formatter, help="which causes fit the field report",
        description="Run the field report's story under every candidate cause (server VAD "
        "hypotheses,\ncapture faults, combinations) with the production and development "
        "designs, and check\nthe report's observations O1-O10 on each: a ranked "
        "differential (observations failed,\nthen evidence grade; ties stay ties), how it "
        "moves over the free parameters, and\nthe experiments that tell the leading causes "
        "apart.")
    add_design_options(dg, what="the build to diagnose, against development")
    dg.add_argument("--workers", type=int, default=None, metavar="K",
                    help="processes (default: the number of cores)")
    dg.add_argument("--o6-peak-range", default="41,96", metavar="LO,HI",
                    help="raw int16 peaks O6 accepts while the user speaks loudly (default "
                    "41,96: the report's own numbers; any tolerance is yours to state)")
    dg.add_argument("--no-sensitivity", action="store_true",
                    help="skip the sensitivity runs (one free parameter moved at a time)")
    dg.add_argument("--json", action="store_true", help="print one JSON object")
    dg.set_defaults(run=cmd_diagnose)

    rv = sub.add_parser(
        "review", formatter_class=help_formatter, help="the design review (the main job)",
        description="Run exploration and search for every design x server hypothesis x "
        "fault class, the\ndiagnosis, and write review.md (verdict matrix with evidence, "
        "answers to the report's\nfour questions), review.json, verdicts.png, and every "
        "counterexample with its timeline.")
    rv.add_argument("--out", default="figures", metavar="DIR",
                    help="output folder (default figures/)")
    rv.add_argument("--designs", "--design", dest="designs", metavar="NAME[,NAME...]",
                    help="only these designs (variants too: production+chunk20ms)")
    rv.add_argument("--design-file", action="append", default=[], metavar="FILE.toml",
                    help="a design of your own (TOML design file), reviewed next to the "
                    "built-in ones (or to --designs); repeatable")
    rv.add_argument("--servers", metavar="HYP[;HYP...]",
                    help="only these hypothesis sets, separated by ';' (default: each "
                    "hypothesis and zero-skip,clear-keeps-vad)")
    rv.add_argument("--examples", type=int, default=8, metavar="N",
                    help="search budget per cell (default 8)")
    rv.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    rv.add_argument("--workers", type=int, default=None, metavar="K",
                    help="processes (default: the number of cores)")
    rv.add_argument("--scheduler", metavar="ADDRESS", default=None,
                    help="run the jobs on the Dask cluster whose scheduler is at ADDRESS "
                    "(tcp://HOST:PORT; default: local processes); excludes --workers")
    rv.add_argument("--no-diagnosis", action="store_true", help="skip the diagnosis")
    rv.add_argument("--no-sensitivity", action="store_true",
                    help="skip the diagnosis' sensitivity runs")
    rv.set_defaults(run=cmd_review)

    di = sub.add_parser(
        "diagrams", formatter_class=help_formatter, help="draw every machine from its declaration",
        description="Write machines.md (Mermaid state diagrams that render on GitHub) and one "
        "PNG per machine,\nboth generated from the machine declarations.")
    di.add_argument("--out", default="figures", metavar="DIR",
                    help="output folder (default figures/)")
    di.add_argument("--check", action="store_true",
                    help="do not write: exit 1 if the committed machines.md is out of date")
    di.set_defaults(run=cmd_diagrams)

    pl = sub.add_parser(
        "plot", formatter_class=help_formatter, help="draw a trace's timeline",
        description="Draw the timeline of a JSONL trace (vadlock simulate --out): audio sent, "
        "RMS against the\nthresholds, gate, capture, server VAD, playback, wire events.")
    pl.add_argument("trace", metavar="TRACE.jsonl")
    pl.add_argument("--out", metavar="PNG", help="image to write (default: TRACE.png)")
    add_design_options(pl, what="design whose thresholds to draw")
    pl.set_defaults(run=cmd_plot)

    de = sub.add_parser(
        "design", formatter_class=help_formatter, help="design files: show a design, check a file",
        description="A design as a TOML design file, for --design-file (simulate, search, "
        "explore, review,\nsweep, diagnose, replay, recording, plot).\n"
        "  vadlock design show NAME   prints a built-in design as a valid file to start from\n"
        "  vadlock design check FILE  validates a file: exit 0, or 2 with one line naming "
        "the key;\n                             parameters the model does not honour are "
        "listed")
    de_sub = de.add_subparsers(dest="design_command", metavar="show|check",
                               parser_class=_Parser)
    de.set_defaults(run=lambda args: (de.print_help(sys.stderr), EXIT_USAGE)[1])
    show = de_sub.add_parser("show", formatter_class=help_formatter,
                             help="print a built-in design as a design file")
    show.add_argument("name", metavar="NAME")
    show.set_defaults(run=cmd_design_show)
    chk = de_sub.add_parser("check", formatter_class=help_formatter,
                            help="validate a design file")
    chk.add_argument("file", metavar="FILE.toml")
    chk.add_argument("--json", action="store_true", help="print one JSON object")
    chk.set_defaults(run=cmd_design_check)

    hy = sub.add_parser(
        "hypotheses", formatter_class=help_formatter,
        help="list server behaviours, hypotheses and detector engines with evidence grades",
        description="Every server behaviour the model implements, every server hypothesis "
        "(--server NAME) and\nevery detector engine (--server ENGINE), each with its "
        "evidence grade: documented,\nmeasured (a real detector does it here; the source "
        "names the test), reported,\nanalogy or speculative, a summary and its sources.")
    hy.add_argument("--json", action="store_true",
                    help="print a JSON list of {name, grade, summary, sources}")
    hy.set_defaults(run=cmd_hypotheses)

    from vadlock.analysis import bench, calibrate, sweep
    from vadlock.simulator import conformance, logreplay, recording
    logreplay.add_parser(sub)
    conformance.add_parser(sub)
    recording.add_parser(sub)
    calibrate.add_parser(sub)
    sweep.add_parser(sub)
    bench.add_parser(sub)
    from vadlock.simulator.serve import command as serve_command
    serve_command.add_parser(sub)
    return parser


def _fault_classes(text: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    bad = [n for n in names if n not in allowed]
    if bad or not names:
        raise UsageError(f"unknown fault class {bad[0] if bad else text!r} "
                         f"(known: {', '.join(allowed)})")
    return names


def _positive(value: int, flag: str) -> int:
    if value <= 0:
        raise UsageError(f"{flag} must be positive, got {value}")
    return value


# -- design files --------------------------------------------------------------------
def cmd_design_show(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from vadlock.model.designs import get_design
    from vadlock.simulator.designfile import design_toml

    design = get_design(args.name)
    print(design_toml(replace(design, name=design.name.replace("+", "-"))), end="")
    return EXIT_OK


def cmd_design_check(args: argparse.Namespace) -> int:
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

# -- hypotheses ----------------------------------------------------------------------
def cmd_hypotheses(args: argparse.Namespace) -> int:
    from vadlock.model.evidence import SECTIONS, entries

    if args.json:
        print(json.dumps([e.as_dict() for e in entries()], indent=2))
        return 0
    for title, section in SECTIONS:
        print(f"{title}:")
        for e in section:
            print(f"  {e.name:36} {e.grade:11} {e.summary}")
            for source in e.sources:
                print(f"  {'':36} {'':11} - {source}")
        print()
    return 0


# -- search --------------------------------------------------------------------------
def cmd_search(args: argparse.Namespace) -> int:
    from vadlock.model.designs import get_design
    from vadlock.model.hypotheses import ServerVadHypotheses
    from vadlock.properties.checks import PROPERTIES
    from vadlock.properties.describe import describe
    from vadlock.properties.search import search
    from vadlock.properties.strategies import FAULT_CLASSES
    from vadlock.simulator.progress import Progress

    design = get_design(design_name(args))
    hypotheses = ServerVadHypotheses.parse(args.server)
    classes = _fault_classes(args.faults, FAULT_CLASSES)
    _positive(args.max_examples, "--max-examples")
    if args.property not in PROPERTIES:
        raise UsageError(f"unknown property {args.property!r} (known: {', '.join(PROPERTIES)})")
    bar = Progress("vadlock search", enabled=not args.json)
    result = search(design, hypotheses, max_examples=args.max_examples, seed=args.seed,
                    fault_classes=classes, properties=(args.property,), out_dir=args.out,
                    progress=lambda n, total: bar(f"scenario {n} (budget {total})"))
    bar.done()
    replay = (f"vadlock simulate --design {design.name} --server {hypotheses.label} "
              f"--scenario {result.saved}" if result.saved else None)
    if args.json:
        print(json.dumps({
            "design": design.name, "server": hypotheses.label, "fault_classes": list(classes),
            "verdict": result.verdict,
            "property": args.property if result.scenario is not None else None,
            "counterexample": str(result.saved) if result.saved else None,
            "violations": [v.to_dict() for v in result.violations],
            "examples": result.examples, "seconds": round(result.total_s, 3),
            "first_counterexample_s": _round(result.first_counterexample_s),
            "shrink_s": _round(result.shrink_s), "replay": replay}, indent=2))
    else:
        print(f"vadlock search: design={design.name} server={hypotheses.label} "
              f"faults={','.join(classes)} seed={args.seed}")
        print(f"  ran {result.examples} scenarios in {result.total_s:.1f} s")
        if result.scenario is None:
            print(f"  no violation of {args.property} within the budget of "
                  f"{args.max_examples} scenarios")
        else:
            print(f"  first counterexample after {result.first_counterexample_s:.1f} s, "
                  f"shrinking took {result.shrink_s:.1f} s")
            print(f"\nVIOLATED {args.property}: {result.violations[0].explanation}")
            print("\nshrunk scenario:")
            for line in describe(result.scenario):
                print(f"  {line}")
            print(f"\nsaved: {result.saved}\nreplay: {replay}")
        print(f"\nverdict: {result.verdict}")
    return EXIT_VIOLATION if result.scenario is not None else EXIT_OK


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


# -- explore -------------------------------------------------------------------------
def cmd_explore(args: argparse.Namespace) -> int:
    from vadlock.model.designs import get_design
    from vadlock.model.hypotheses import ServerVadHypotheses
    from vadlock.properties.explore import explore
    from vadlock.simulator.progress import Progress

    design = get_design(design_name(args))
    hypotheses = ServerVadHypotheses.parse(args.server)
    level_free = {"zero-skip", "clear-keeps-vad"}  # modifiers that read no level
    if hypotheses.engine is not None or (design.vad_threshold != 0.5
                                         and not {str(f) for f in hypotheses.flags} <= level_free):
        raise UsageError(f"explore works on symbols: it has no measured abstraction of engine "
                         f"{hypotheses.engine or 'energy'} yet (at a threshold other than 0.5, "
                         "only the energy base, with zero-skip or clear-keeps-vad, shifts its "
                         "speech edge); use search or simulate, which run the engine on the "
                         "audio")
    if design.noise_reduction is not None:
        raise UsageError(f"explore works on symbols: it has no measured abstraction of "
                         f"noise_reduction {design.noise_reduction} (a stateful suppressor); "
                         "use search or simulate, which run it on the audio")
    classes = _fault_classes(args.faults, ("acoustic", "capture", "server"))
    _positive(args.max_states, "--max-states")
    bar = Progress("vadlock explore", enabled=not args.json)
    result = explore(design, hypotheses, classes, max_states=args.max_states, seed=args.seed,
                     out_dir=args.out,
                     progress=lambda states, edges: bar(f"{states} states, {edges} edges"))
    bar.done()
    replay = (f"vadlock simulate --design {design.name} --server {hypotheses.label} "
              f"--scenario {result.saved}" if result.saved else None)
    if args.json:
        print(json.dumps({
            "design": design.name, "server": hypotheses.label, "fault_classes": list(classes),
            "verdict": result.verdict,
            "property": "recovery" if result.confirmed else None,
            "counterexample": str(result.saved) if result.confirmed else None,
            "states": result.states, "edges": result.edges, "depth": result.depth,
            "seconds": round(result.seconds, 3), "freeze_states": result.freeze_states,
            "traps": result.traps, "confirmed": result.confirmed,
            "replay_attempts": result.attempts,
            "path": result.counterexample, "replay": replay}, indent=2))
    else:
        print(f"vadlock explore: design={design.name} server={hypotheses.label} "
              f"faults={','.join(classes)}")
        print(f"  states {result.states}, edges {result.edges}, depth {result.depth}, "
              f"{result.seconds:.1f} s")
        print(f"  freeze states: {result.freeze_states}"
              + (f" in {result.traps} closed region(s) no fair step leaves" if result.traps
                 else ""))
        if result.freeze_states:
            blocks = sum(1 for step in result.path if step.kind == "block")
            print(f"\n{'confirmed' if result.confirmed else 'last tried'} counterexample "
                  f"(shortest: {len(result.path)} steps, {blocks} blocks of {design.chunk_ms} ms "
                  "of audio; then the user speaks clearly):")
            for line in result.counterexample:
                print(f"  {line}")
            status = ("CONFIRMED: the full simulator violates recovery" if result.confirmed
                      else f"SPURIOUS: {result.attempts} shortest paths did not freeze the full "
                      "simulator (the abstraction over-approximates)")
            print(f"\nreplayed: {status}\nsaved: {result.saved}\nreplay: {replay}")
        print(f"\nverdict: {result.verdict}")
    return EXIT_VIOLATION if result.confirmed else EXIT_OK


# -- simulate ------------------------------------------------------------------------
def load_scenario(args: argparse.Namespace):
    from vadlock.simulator.presets import preset
    from vadlock.simulator.scenario import Scenario

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
    from vadlock.model.designs import get_design
    from vadlock.model.hypotheses import ServerVadHypotheses
    from vadlock.simulator.engine import simulate
    from vadlock.simulator.timeline import print_timeline

    design = get_design(design_name(args))
    hypotheses = ServerVadHypotheses.parse(args.server)
    scenario = load_scenario(args)
    recording, turns = None, ()
    if args.audio:
        from vadlock.simulator.recording import audio_scenario
        scenario, recording, turns = audio_scenario(
            args.audio, scenario if (args.scenario or args.preset) else None,
            scenario.duration_ms if args.duration_s is not None else None,
            start_ms=args.audio_start_ms, tail_ms=args.audio_tail_ms,
            silence_duration_ms=design.silence_duration_ms)
    elif args.audio_start_ms or args.audio_tail_ms is not None:
        raise UsageError("--audio-start-ms and --audio-tail-ms need --audio")
    seed = args.seed if args.seed is not None else (scenario.seed or 0)
    trace = simulate(design, hypotheses, scenario, seed, args.tick_ms, recording=recording,
                     recording_turns=turns)
    summary = trace.summary()
    from vadlock.properties.checks import check
    violations: dict[str, str] = {}
    for v in check(trace):
        violations.setdefault(v.property, v.explanation)
    summary["violations"] = violations
    if args.out:
        summary["out"] = str(trace.write_jsonl(args.out))
    if args.plot:
        from vadlock.simulator.plot import plot_trace
        summary["plot"] = str(plot_trace(trace, args.plot, design.gate.threshold_rms,
                                         design.interrupt_rms))
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        if not args.quiet:
            print_timeline(trace)
        print_summary(summary)
    return EXIT_VIOLATION if violations else EXIT_OK


def print_summary(summary: dict[str, Any]) -> None:
    print("\nsummary")
    for key, value in summary.items():
        if key != "violations":
            print(f"  {key:22} {value}")
    violations = summary.get("violations") or {}
    print(f"\nproperties: {'all hold' if not violations else 'violated:'}")
    for name, why in violations.items():
        print(f"  {name}: {why}")


# -- diagnose, review, diagrams, plot -------------------------------------------------------
def cmd_diagnose(args: argparse.Namespace) -> int:
    from vadlock.analysis.diagnose import OBSERVATIONS, Params, conclusion, diagnose
    from vadlock.analysis.sensitivity import sensitivity_lines
    from vadlock.simulator.progress import Progress

    design = design_name(args)
    workers = _positive(args.workers, "--workers") if args.workers is not None else None
    params = Params(o6_peak_range=_peak_range(args.o6_peak_range))
    bar = Progress("vadlock diagnose", enabled=not args.json)
    d = diagnose(workers=workers or _cores(), design=design, params=params,
                 with_sensitivity=not args.no_sensitivity,
                 progress=lambda n, total: bar(f"run {n}/{total}"))
    bar.done()
    if args.json:
        print(json.dumps({**d.to_dict(),
                          "consistent": [r.cause.name for r in d.causes if r.reproduces_all],
                          "conclusion": conclusion(d)}, indent=2))
        return EXIT_OK
    low, high = params.o6_peak_range
    print(f"vadlock diagnose: a ranked differential of the field report's freeze, {design} "
          f"against development\nO6 accepts raw int16 peaks {low}-{high} "
          f"(--o6-peak-range); a failed observation no cause fails is not counted\n")
    names = list(OBSERVATIONS)
    print(f"  {'rank':>4} {'grade':11} {'cause':40} " + " ".join(f"{o:>3}" for o in names)
          + "  all")
    for r in d.causes:
        marks = " ".join(f"{'yes' if r.observations[o] else ' - ':>3}" for o in names)
        print(f"  {r.rank:>4} {r.grade:11} {r.cause.name:40} {marks}  "
              f"{'YES' if r.reproduces_all else ' no'}")
    print()
    for line in conclusion(d):
        print(line)
    moved, steady = sensitivity_lines(d)
    if d.sensitivity:
        print("\nsensitivity (one parameter moved at a time):")
        for line in moved or ["no setting changes which causes explain everything"]:
            print(f"  {line}")
    if d.experiments:
        print("\nseparating experiments for the leading causes:")
        for e in d.experiments:
            print(f"  {e['measure']}")
            for cause, prediction in e["predictions"].items():
                print(f"    {cause}: {prediction}")
    print("\n" + "; ".join(f"{k}: {v}" for k, v in OBSERVATIONS.items()))
    return EXIT_OK


def _peak_range(text: str) -> tuple[int, int]:
    try:
        low, high = (int(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--o6-peak-range: expected LO,HI (two integers), got {text!r}") \
            from None
    if not 0 <= low <= high <= 32767:
        raise UsageError(f"--o6-peak-range: need 0 <= LO <= HI <= 32767, got {text!r}")
    return low, high


def _cores() -> int:
    import os
    return os.cpu_count() or 1


def cmd_review(args: argparse.Namespace) -> int:
    import time

    from vadlock.model.designs import get_design
    from vadlock.model.hypotheses import ServerVadHypotheses
    from vadlock.analysis.review import run_review
    from vadlock.simulator.progress import Progress

    from vadlock.model.designs import DESIGNS
    from vadlock.simulator.options import file_designs, warn_unhonoured

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
    _positive(args.examples, "--examples")
    workers = _positive(args.workers, "--workers") if args.workers is not None else None
    if args.scheduler is not None and workers is not None:
        raise UsageError("--workers and --scheduler exclude each other (the cluster has its "
                         "own workers)")
    bar = Progress("vadlock review", every_s=0.0)
    started = time.perf_counter()
    results = run_review(args.out, designs=designs, hypotheses=servers, seed=args.seed,
                         workers=workers, examples=args.examples,
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


def cmd_diagrams(args: argparse.Namespace) -> int:
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


def cmd_plot(args: argparse.Namespace) -> int:
    from vadlock.model.designs import get_design
    from vadlock.simulator.plot import load_jsonl, plot_trace

    design = get_design(design_name(args))
    if not Path(args.trace).is_file():
        raise UsageError(f"{args.trace}: no such file")
    trace = load_jsonl(args.trace)
    out = args.out or str(Path(args.trace).with_suffix(".png"))
    print(plot_trace(trace, out, design.gate.threshold_rms, design.interrupt_rms))
    return EXIT_OK


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
