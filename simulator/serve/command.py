"""`vadlock serve`: the command line of the endpoint (and of its load run)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vadlock.simulator.serve.faults import FaultBoard, parse_fault
from vadlock.simulator.serve import CLOCKS


def add_parser(subparsers) -> argparse.ArgumentParser:
    from vadlock.model.hypotheses import HYPOTHESES
    from vadlock.simulator.options import (add_design_options, add_json_option,
                                           add_server_option, help_formatter)

    p = subparsers.add_parser(
        "serve", formatter_class=help_formatter,
        help="the model's server as a Realtime-compatible WebSocket endpoint",
        description="Serve the model's server machines at ws://HOST:PORT/v1/realtime?model=... "
        "(GA Realtime\nprotocol; any bearer token). Real clients, the official SDK included, "
        "connect to it:\nAsyncOpenAI(base_url='http://HOST:PORT/v1', api_key='any')."
        "realtime.connect(model=...).\nThe first stdout line is 'listening on "
        "ws://HOST:PORT/v1/realtime' (the real port with\n--port 0). Turn detection runs on "
        "the audio received; response generation, idle_timeout_ms\nand the session limit on "
        "the session clock (--clock). Faults are injected on demand\n(--fault, or while "
        "running: GET /vadlock/faults?add=SPEC | set=SPEC | remove=NAME | clear=1).\n"
        "Ctrl-C stops it cleanly.\n\n"
        "Fault specs (a turn is a response.done sent; after=N lets N turns pass):\n"
        "  stall[:after=N]                  nothing more is sent; the socket stays open\n"
        "  fail-response[:after=N,count=K]  K responses (0: all) end with status failed\n"
        "  incomplete-response[:after=N,count=K,reason=R]\n"
        "                                   K responses are cut after their first audio:\n"
        "                                   status incomplete, reason max_output_tokens\n"
        "                                   (default) or content_filter\n"
        "  expire[:after=N,at_s=S]          error session_expired, then the socket closes\n"
        "  latency:ms=M  jitter:ms=J        server events leave M + uniform[0,J] ms later\n"
        "  drop[:after=N]                   the connection is cut (no close frame)\n"
        "  a server hypothesis name         added to --server for sessions that start later\n\n"
        "With --load N it instead runs N concurrent sessions against itself on 127.0.0.1 "
        "and\nreplays every log (see --load-audio-s).")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default "
                   "127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any free "
                   "port, printed)")
    add_server_option(p, help="server VAD hypotheses (default energy): "
                      + ", ".join(HYPOTHESES))
    add_design_options(p, what="design whose session.update settings the server starts "
                       "with (and whose level scale it decodes audio with)")
    p.add_argument("--fault", action="append", default=[], metavar="SPEC",
                   help="inject a fault (repeatable); see above")
    p.add_argument("--log", metavar="FILE.jsonl", help="log every event both ways, per "
                   "session (session N > 1: FILE.N.jsonl)")
    p.add_argument("--seed", type=int, default=0, help="seed of the voice and the jitter "
                   "(default 0)")
    p.add_argument("--voice", default="synthetic", choices=("synthetic", "espeak"),
                   help="assistant audio: the simulator's speech-like signal (default) or "
                   "espeak-ng")
    p.add_argument("--clock", default="wall", choices=CLOCKS,
                   help="session clock of the server's timers: wall (default) or audio "
                   "(ms of audio received: answers only as audio arrives; deterministic)")
    p.add_argument("--max-session-s", type=float, default=3600.0, metavar="S",
                   help="session_expired after this long on the session clock (default "
                   "3600, the documented limit)")
    p.add_argument("--stop-after-s", type=float, metavar="S",
                   help="stop by itself after S seconds (for CI)")
    p.add_argument("--page", nargs="?", const="", metavar="DIR",
                   help="also serve the reference browser client (DIR, default the "
                   "repository's web/) at http://HOST:PORT/?design=NAME")
    p.add_argument("--load", type=int, metavar="N", help="run N concurrent sessions "
                   "against an in-process server and print figures")
    p.add_argument("--load-audio-s", type=float, default=30.0, metavar="S",
                   help="audio per load session (default 30)")
    add_json_option(p, help="--load: print one JSON object")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from vadlock.model.designs import get_design
    from vadlock.simulator.options import design_name
    from vadlock.simulator.serve.server import ServeOptions, run_forever

    design = get_design(design_name(args))
    board = FaultBoard()
    for spec in args.fault:
        board.add(parse_fault(spec))
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be 0..65535, got {args.port}")
    if args.max_session_s <= 0:
        raise ValueError(f"--max-session-s must be positive, got {args.max_session_s}")
    if args.stop_after_s is not None and args.stop_after_s <= 0:
        raise ValueError(f"--stop-after-s must be positive, got {args.stop_after_s}")
    page_dir = None
    if args.page is not None:
        from vadlock.simulator.serve.page import DEFAULT_PAGE_DIR

        page_dir = Path(args.page) if args.page else DEFAULT_PAGE_DIR
        if not (page_dir / "index.html").is_file():
            raise ValueError(f"--page: {page_dir} has no index.html")
    options = ServeOptions(design, args.server, args.host, args.port, board,
                           Path(args.log) if args.log else None, args.seed, args.voice,
                           args.clock, int(args.max_session_s * 1000), page_dir)
    if args.load is not None:
        from vadlock.simulator.serve.load import print_load, run_load

        if args.load <= 0 or args.load_audio_s <= 0:
            raise ValueError("--load and --load-audio-s must be positive")
        result = run_load(options, args.load, int(args.load_audio_s * 1000))
        print_load(result, args.json)
        return 0 if result["divergences"] == 0 and result["incomplete_logs"] == 0 else 1
    return run_forever(options, args.stop_after_s)
