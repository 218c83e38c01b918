"""`vadlock explore`: exhaustive BFS over the product of the machines for a freeze, the
shortest counterexample replayed in the full simulator."""

from __future__ import annotations

import argparse
import json

from vadlock.commands.common import (EXIT_OK, EXIT_VIOLATION, UsageError, fault_classes,
                                     positive, replay_command)
from vadlock.simulator.options import (add_json_option, add_model_options, add_out_dir_option,
                                       design_name, help_formatter)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "explore", formatter_class=help_formatter, help="explore every reachable state for a freeze",
        description="Exhaustive exploration (BFS with networkx) of the product of the same "
        "machines,\nwith frame symbols as inputs and timers as nondeterministic expiries. "
        "A freeze is a\nreachable state from which no progress is reachable while the "
        "environment plays fair.\nThe shortest counterexample is replayed in the full "
        "simulator: confirmed or spurious.\nExit 1 on a confirmed freeze, 0 otherwise.")
    add_model_options(p)
    p.add_argument("--faults", default="acoustic,capture", metavar="CLASS[,CLASS...]",
                   help="fault classes of the environment (default acoustic,capture; "
                   "network: the transport as a bounded FIFO per direction, a stall, a "
                   "dropped connection, WebRTC media loss; server: the 60-minute session "
                   "limit may run out at any point, the session being of any age; the other "
                   "server faults are for search)")
    p.add_argument("--fifo-len", type=int, default=None, metavar="N",
                   help="network class: batches in flight per direction, at most (default "
                   "1: a server reply may wait any number of blocks, an append at most "
                   "one)")
    p.add_argument("--max-states", type=int, default=None, metavar="N",
                   help="stop with an error beyond this many states (default 2000000, "
                   "properties.explore.MAX_STATES; about 0.9 GB of memory per million)")
    p.add_argument("--seed", type=int, default=0, help="audio seed of the replay (default 0)")
    add_out_dir_option(p, "counterexamples", "where to save the counterexample scenario")
    add_json_option(p)
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from vadlock.model.designs import get_design
    from vadlock.model.hypotheses import ServerVadHypotheses
    from vadlock.properties.explore import explore, refusal
    from vadlock.simulator.progress import Progress

    design = get_design(design_name(args))
    hypotheses = ServerVadHypotheses.parse(args.server)
    why_not = refusal(hypotheses, design)
    if why_not is not None:
        raise UsageError(f"explore works on symbols: {why_not}")
    classes = fault_classes(args.faults, ("acoustic", "capture", "network", "server"))
    from vadlock.properties.explore import MAX_STATES, NETWORK_FIFO_LEN
    max_states = MAX_STATES if args.max_states is None else args.max_states
    positive(max_states, "--max-states")
    fifo_len = NETWORK_FIFO_LEN if args.fifo_len is None else args.fifo_len
    positive(fifo_len, "--fifo-len")
    bar = Progress("vadlock explore", enabled=not args.json)
    result = explore(design, hypotheses, classes, max_states=max_states, seed=args.seed,
                     out_dir=args.out, fifo_len=fifo_len,
                     progress=lambda states, edges: bar(f"{states} states, {edges} edges"))
    bar.done()
    replay = replay_command(design, hypotheses, result.saved)
    if args.json:
        print(json.dumps({
            "design": design.name, "server": hypotheses.label, "fault_classes": list(classes),
            "verdict": result.verdict,
            "property": "recovery" if result.confirmed else None,
            "counterexample": str(result.saved) if result.confirmed else None,
            "states": result.states, "edges": result.edges, "depth": result.depth,
            "fifo_len": fifo_len if "network" in classes else None,
            "seconds": round(result.seconds, 3), "freeze_states": result.freeze_states,
            "traps": result.traps, "confirmed": result.confirmed,
            "replay_attempts": result.attempts,
            "engine_table": None if result.engine_table is None else str(result.engine_table),
            "replayed_with": hypotheses.engine_label or "energy",
            "path": result.counterexample, "replay": replay}, indent=2))
    else:
        print(f"vadlock explore: design={design.name} server={hypotheses.label} "
              f"faults={','.join(classes)}")
        print(f"  states {result.states}, edges {result.edges}, depth {result.depth}, "
              f"{result.seconds:.1f} s")
        if result.engine_table is not None:
            print(f"  engine {hypotheses.engine_label}: decisions looked up in its measured "
                  f"table {result.engine_table}; counterexamples replayed with the real engine")
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
