"""`vadlock measure`: the explorer's tables of a detector engine, measured from the engine.

For every level scale of the designs asked for (default: every built-in design), every
symbol the server can receive (each level band x kind, and exact zeros) is rendered as
the replay renders a block (`properties.replay.block_segment`, through the simulator's
`environment_audio`), after each history of `properties.engine_table` (silence, speech,
zeros), in blocks of 100 ms and 20 ms, for three seeds; the real engine hears the whole
signal as the server would (`detectors.probabilities`: pcm16 at 24 kHz, its own
resampling), and the probabilities of the block's 10 ms frames are written, rounded to
1e-4, to `model/measured/<engine>.json` with the engine's package versions and the
recipe. Each signal: a good turn (3 s of room noise at -50 dBFS with a 1.8 s utterance at
-22 dBFS from 0.5 s), then the history's context for 1 s, then the block.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Callable

import numpy as np

from vadlock.properties import engine_table as et

SEEDS = (0, 1, 2)
CHUNKS_MS = (100, 20)
WARMUP_MS = 3_000
GOOD_TURN = (500, 1_800, -22.0)  # start, duration, level dBFS
ROOM_DBFS = -50.0
CONTEXT_MS = 1_000
FRAME_MS = 10


def render_signal(context: et.Render, block: et.Render, chunk_ms: int, seed: int
                  ) -> np.ndarray:
    """The audio the server receives: good turn, context, block (24 kHz float)."""
    from vadlock.simulator.engine import environment_audio
    from vadlock.simulator.scenario import Scenario, Segment, Utterance

    spm = 24
    t = WARMUP_MS
    end = t + CONTEXT_MS + chunk_ms
    segments = [Segment(0, WARMUP_MS, "noise", ROOM_DBFS)]
    if context != et.ZEROS and tuple(block) == tuple(context):  # the block continues it
        segments.append(Segment(t, CONTEXT_MS + chunk_ms, *context))
    else:
        if context != et.ZEROS:
            segments.append(Segment(t, CONTEXT_MS, *context))
        if block != et.ZEROS:
            segments.append(Segment(t + CONTEXT_MS, chunk_ms, *block))
    scenario = Scenario(name="measure", duration_ms=end, utterances=(Utterance(*GOOD_TURN),),
                        segments=tuple(segments), room_noise_dbfs=-120.0)
    x = np.array(environment_audio(scenario, seed)[:end * spm], np.float32)
    if context == et.ZEROS:
        x[t * spm:(t + CONTEXT_MS) * spm] = 0.0
    if block == et.ZEROS:
        x[(t + CONTEXT_MS) * spm:] = 0.0
    return x


def measure(label: str, designs, seeds=SEEDS,
            progress: Callable[[int, int], None] | None = None) -> dict:
    """The table of engine `label` (`silero`, `webrtc-vad[:MODE]`, `ten`) as a JSON-ready
    dict."""
    from vadlock.model.hypotheses import ServerVadHypotheses
    from vadlock.simulator import detectors

    hypotheses = ServerVadHypotheses.parse(label)
    if hypotheses.engine is None or hypotheses.flags:
        raise ValueError(f"--engine {label!r}: give one detector engine "
                         f"({', '.join(et.PACKAGES)}, webrtc-vad:MODE)")
    params = {} if hypotheses.engine_option is None else {"mode": hypotheses.engine_option}
    detectors.factory(hypotheses.engine, **params)  # DetectorUnavailable: one line
    keys = et.keys_for(designs, CHUNKS_MS)
    entries = []
    for i, (history, context, block, chunk_ms) in enumerate(keys):
        n = chunk_ms // FRAME_MS
        per_seed = []
        for seed in seeds:
            p = detectors.probabilities(hypotheses.engine,
                                        render_signal(context, block, chunk_ms, seed), **params)
            per_seed.append([round(float(v), 4) for v in p[-n:]])
        decision = [et.Detection.of(float(np.median(col)), 0.5).name.lower()
                    for col in zip(*per_seed)]
        entries.append({"history": history, "context": list(context), "block": list(block),
                        "chunk_ms": chunk_ms, "p": per_seed, "decision_at_0.5": decision})
        if progress is not None:
            progress(i + 1, len(keys))
    return {
        "format": et.FORMAT,
        "engine": hypotheses.engine_label,
        "packages": et.installed_versions(hypotheses.engine),
        "generated_by": f"vadlock measure --engine {hypotheses.engine_label}"
                        + ("" if _default_designs(designs) else
                           " --design " + ",".join(d.name for d in designs)),
        "designs": [d.name for d in designs],
        "threshold_of_decisions": 0.5,
        "seeds": list(seeds),
        "recipe": {
            "signal": f"{WARMUP_MS} ms of pink room noise at {ROOM_DBFS} dBFS with a good "
                      f"turn (synthetic speech at {GOOD_TURN[2]} dBFS from {GOOD_TURN[0]} ms "
                      f"for {GOOD_TURN[1]} ms), then the history's context for {CONTEXT_MS} ms, "
                      "then the block; rendered by simulator.engine.environment_audio from "
                      "Segments as properties.replay renders an explorer path (a block equal "
                      "to its context continues its segment; zeros are exact zeros)",
            "histories": {"silence": "the explorer's quiet-room symbol",
                          "speech": "the explorer's clear-speech symbol",
                          "zeros": "exact zeros"},
            "engine_input": "pcm16 at 24 kHz, one stream, a fresh engine per signal "
                            "(simulator.detectors.probabilities)",
            "p": "per seed, the speech probability of each 10 ms frame of the block",
            "lookup": "per frame, the median over seeds against the session's threshold",
        },
        "entries": entries,
    }


def _default_designs(designs) -> bool:
    from vadlock.model.designs import DESIGNS

    return [d.name for d in designs] == list(DESIGNS)


def hears(table: dict, chunk_ms: int = 100) -> dict[str, list[str]]:
    """Per history, the blocks most of whose frames the engine takes for speech at 0.5."""
    out: dict[str, list[str]] = {}
    for e in table["entries"]:
        if e["chunk_ms"] != chunk_ms:
            continue
        heard = sum(d == "speech" for d in e["decision_at_0.5"]) * 2 > len(e["decision_at_0.5"])
        label = et._show(tuple(e["block"]))
        out.setdefault(f"{e['history']} ({et._show(tuple(e['context']))})", [])
        if heard:
            out[f"{e['history']} ({et._show(tuple(e['context']))})"].append(label)
    return out


# -- the command --------------------------------------------------------------------------
def add_parser(subparsers) -> argparse.ArgumentParser:
    from vadlock.simulator.options import help_formatter

    p = subparsers.add_parser(
        "measure", formatter_class=help_formatter,
        help="measure a detector engine's table for the explorer (model/measured/)",
        description="Measure the explorer's abstraction of a detector engine from the engine "
        "itself: every\nsymbol a design's server can receive (level band x kind, exact zeros), "
        "rendered as the\nexplorer's replay renders it, after each history the explorer tells "
        "apart (silence,\nspeech, exact zeros), in 100 ms and 20 ms blocks, seeds 0-2, run "
        "through the real\nengine. Writes model/measured/<engine>.json: the probabilities of "
        "each 10 ms frame,\nthe engine's package versions and the recipe. `vadlock explore "
        "--server ENGINE` looks\ndecisions up in it. Exit 0; 1 with --check when the committed "
        "table differs; 2 for\nbad input or an engine that cannot run here.")
    p.add_argument("--engine", default="all", metavar="ENGINE",
                   help="silero, webrtc-vad, webrtc-vad:MODE, ten, or all (default: all "
                   "three, each where it runs)")
    p.add_argument("--design", default=None, metavar="NAME[,NAME...]",
                   help="the designs whose level scales to cover (default: every built-in "
                   "design)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="where to write the tables (default: the package's model/measured/)")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 when a committed table differs from a new "
                   "measurement")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from vadlock.model.designs import DESIGNS, get_design
    from vadlock.simulator import detectors
    from vadlock.simulator.progress import Progress

    designs = (list(DESIGNS.values()) if args.design is None
               else [get_design(n.strip()) for n in args.design.split(",") if n.strip()])
    if not designs:
        raise ValueError("--design: no design given")
    labels = ([e for e in et.PACKAGES if detectors.available(e)] if args.engine == "all"
              else [args.engine])
    report = []
    for label in labels:
        bar = Progress(f"vadlock measure {label}")
        started = time.perf_counter()
        table = measure(label, designs, progress=lambda i, n: bar(f"{i}/{n} entries"))
        bar.done()
        seconds = time.perf_counter() - started
        name = et.table_name(table["engine"])
        path = (Path(args.out) / f"{name}.json") if args.out else et.table_path(name)
        text = json.dumps(table, indent=1) + "\n"
        if args.check:
            same = path.is_file() and json.loads(path.read_text()) == table
            status = "same" if same else "differs"
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            status = "written"
        report.append({"engine": table["engine"], "path": str(path), "status": status,
                       "entries": len(table["entries"]), "packages": table["packages"],
                       "seconds": round(seconds, 1), "hears_100ms": hears(table)})
    if args.json:
        print(json.dumps({"tables": report}, indent=2))
    else:
        for r in report:
            print(f"vadlock measure: {r['engine']} ({', '.join(f'{k} {v}' for k, v in r['packages'].items())}): "
                  f"{r['entries']} entries, {r['seconds']} s, {r['status']}: {r['path']}")
            for history, heard in r["hears_100ms"].items():
                print(f"  after {history}, speech in a 100 ms block of: "
                      + (", ".join(heard) if heard else "nothing"))
    return 1 if any(r["status"] == "differs" for r in report) else 0
