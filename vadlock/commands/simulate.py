"""`vadlock simulate`: one session, its timeline, its summary and every property checked."""

from __future__ import annotations

import argparse
import json
from typing import Any

from vadlock.commands.common import EXIT_OK, EXIT_VIOLATION, UsageError
from vadlock.simulator.options import (add_json_option, add_model_options, design_name,
                                       help_formatter)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "simulate", formatter_class=help_formatter, help="run one session and print its timeline",
        description="Simulate one session: a design, a set of server hypotheses and a scenario\n"
        "(a preset or a scenario JSON file), deterministic from the seed.\nPrints a timeline "
        "of wire events and state changes and a summary (or one JSON object).\n"
        "Exit 1 when a property is violated, 0 when all hold, 2 for bad input.")
    add_model_options(p)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--preset", metavar="NAME", help="a named scenario (default field-report): "
                     "conversation, field-report, typing-during-reply, app-switch")
    src.add_argument("--scenario", metavar="FILE", help="a scenario JSON file")
    p.add_argument("--seed", type=int, default=None,
                   help="random seed (default: the scenario's own, else 0)")
    p.add_argument("--duration-s", type=float, metavar="S",
                   help="session length in seconds (default: the scenario's)")
    p.add_argument("--tick-ms", type=int, default=10, help="engine tick (default 10 ms)")
    p.add_argument("--out", metavar="FILE", help="write the wire trace as JSONL")
    add_json_option(p, help="print one JSON summary object")
    p.add_argument("--quiet", action="store_true", help="summary only, no timeline")
    p.add_argument("--plot", metavar="PNG", help="also draw the timeline to this image")
    p.add_argument("--audio", metavar="FILE.wav",
                   help="a WAV recording as the microphone signal (any rate, mono or "
                   "stereo, integer or float): alone, or added to --scenario/--preset at "
                   "--audio-start-ms; its speech turns (WebRTC VAD) count as utterances")
    p.add_argument("--audio-start-ms", type=int, default=0, metavar="MS",
                   help="where the recording starts in the session (default 0)")
    p.add_argument("--audio-tail-ms", type=int, default=None, metavar="MS",
                   help="how long the session runs on after the recording ends (default: "
                   "long enough for a last turn to complete: silence_duration_ms + 300 ms "
                   "to the first response audio + the longest response + 1 s; 0: stop "
                   "with the recording)")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
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


def print_summary(summary: dict[str, Any]) -> None:
    print("\nsummary")
    for key, value in summary.items():
        if key != "violations":
            print(f"  {key:22} {value}")
    violations = summary.get("violations") or {}
    print(f"\nproperties: {'all hold' if not violations else 'violated:'}")
    for name, why in violations.items():
        print(f"  {name}: {why}")
