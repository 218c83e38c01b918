"""The endpoint: asyncio + `websockets` around `ServedSession`, one per connection.

`ws://HOST:PORT/v1/realtime?model=...` takes any (or no) bearer token and any model name.
`GET /vadlock/faults` is the control endpoint: it lists the faults in force, and
`?set=SPEC&set=...`, `?add=SPEC`, `?remove=NAME` or `?clear=1` change them for every
session from its next step (see `faults`). With `--page`, the reference browser client is
served too (see `page`). Any other path answers 404.

The log (`--log FILE.jsonl`) holds, per session, every client event the server accepted
and every event it sent, as `vadlock simulate --out` writes them (`{"t_ms", "direction",
"event"}`, times on the session clock), one flushed line per event: a connection that
drops loses no line. Session 1 writes FILE.jsonl, session N > 1 FILE.N.jsonl. Frames
that are not client events are answered with `error` and not logged (the error is).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TextIO
from urllib.parse import parse_qs, urlsplit

import numpy as np
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request

from vadlock.model.designs import Design
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.simulator.serve.faults import FaultBoard, parse_fault
from vadlock.simulator.serve.page import page_response
from vadlock.simulator.serve.session import DEFAULT_MAX_SESSION_MS, ServedSession
from vadlock.simulator.serve.voice import Voice
from vadlock.simulator.trace import C2S, S2C

ENDPOINT_PATH = "/v1/realtime"
CONTROL_PATH = "/vadlock/faults"
MAX_FRAME_BYTES = 32 * 2**20  # above 15 MiB of base64 audio, so oversized audio gets `error`
TICK_S = 0.010  # the wall clock's step
CLOSE_WAIT_S = 5.0  # bounded waits when a session or the server ends


@dataclass
class ServeOptions:
    design: Design
    server: str = "energy"
    host: str = "127.0.0.1"
    port: int = 8765
    board: FaultBoard = field(default_factory=FaultBoard)
    log: Path | None = None
    seed: int = 0
    voice: str = "synthetic"
    clock: str = "wall"
    max_session_ms: int = DEFAULT_MAX_SESSION_MS
    page_dir: Path | None = None  # --page: the reference browser client's files


def log_path(base: Path, number: int) -> Path:
    return base if number == 1 else base.with_name(f"{base.stem}.{number}{base.suffix}")


class SessionLog:
    """One session's JSONL log, a flushed line per event."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._fh: TextIO | None = path.open("w", encoding="utf-8") if path else None
        self.lines = 0

    def write(self, t_ms: int, direction: str, event: dict[str, Any]) -> None:
        if self._fh is not None:
            self._fh.write(json.dumps({"t_ms": t_ms, "direction": direction, "event": event},
                                      separators=(",", ":")) + "\n")
            self._fh.flush()
        self.lines += 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class Endpoint:
    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        ServerVadHypotheses.parse(options.server)  # bad names fail before listening
        self.voice = Voice(options.voice, options.seed)
        self.started = 0
        self.finished: list[dict[str, Any]] = []  # one summary per ended session
        self.url = ""

    # -- HTTP: the control endpoint and the path check ---------------------------------
    def process_request(self, connection: ServerConnection, request: Request):
        url = urlsplit(request.path)
        if url.path == CONTROL_PATH:
            board = self.options.board
            query = parse_qs(url.query)
            try:
                if "clear" in query:
                    board.set([])
                if "set" in query:
                    board.set([parse_fault(spec) for spec in query["set"]])
                for spec in query.get("add", []):
                    board.add(parse_fault(spec))
                for name in query.get("remove", []):
                    board.remove(name)
            except ValueError as exc:
                return connection.respond(400, f"{exc}\n")
            return connection.respond(200, json.dumps({"faults": board.specs()}) + "\n")
        if url.path != ENDPOINT_PATH and self.options.page_dir is not None:
            response = page_response(self.options.page_dir, url.path)
            if response is not None:
                return response
        if url.path != ENDPOINT_PATH:
            return connection.respond(404, f"vadlock serve: the endpoint is {ENDPOINT_PATH}\n")
        return None

    # -- one connection ------------------------------------------------------------------
    async def handle(self, ws: ServerConnection) -> None:
        options, board = self.options, self.options.board
        self.started += 1
        number = self.started
        names = [options.server] + [h for h in board.hypotheses()
                                    if h not in options.server.split(",")]
        session = ServedSession(number, options.design,
                                ServerVadHypotheses.parse(",".join(names)), board, self.voice,
                                options.clock, options.max_session_ms)
        log = SessionLog(log_path(options.log, number) if options.log else None)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        rng = np.random.default_rng([options.seed, 20, number])
        outbox: asyncio.Queue = asyncio.Queue()
        ending = asyncio.Event()
        last_due = [0.0]
        counts = {"received": 0, "sent": 0}

        def now_ms() -> int:
            return int((loop.time() - t0) * 1000) if options.clock == "wall" \
                else session.clock_ms

        def enqueue(events: list[dict[str, Any]]) -> None:
            for event in events:
                latency, jitter = board.get("latency"), board.get("jitter")
                delay_s = ((latency.ms if latency else 0) +
                           (float(rng.uniform(0, jitter.ms)) if jitter else 0.0)) / 1000
                last_due[0] = max(last_due[0], loop.time() + delay_s)
                outbox.put_nowait((last_due[0], event))
            if session.ending:
                ending.set()

        async def send() -> None:
            while True:
                due, event = await outbox.get()
                wait_s = due - loop.time()
                if wait_s > 0:
                    await asyncio.sleep(wait_s)
                await ws.send(json.dumps(event, separators=(",", ":")))
                log.write(now_ms(), S2C, event)
                counts["sent"] += 1
                outbox.task_done()

        async def tick() -> None:
            while True:
                await asyncio.sleep(TICK_S)
                enqueue(session.advance_to(now_ms()))

        async def read() -> None:
            async for message in ws:
                if options.clock == "wall":
                    enqueue(session.advance_to(now_ms()))
                t_ms = now_ms()
                accepted, out = session.receive_text(message)
                if accepted is not None:
                    log.write(t_ms, C2S, accepted)
                    counts["received"] += 1
                enqueue(out)

        tasks = [asyncio.create_task(send()), asyncio.create_task(read())]
        if options.clock == "wall":
            tasks.append(asyncio.create_task(tick()))
        waiter = asyncio.create_task(ending.wait())
        try:
            enqueue(session.start())
            await asyncio.wait([tasks[1], waiter], return_when=asyncio.FIRST_COMPLETED)
            if session.ending == "drop":
                ws.transport.abort()  # no close frame: the connection is cut
            elif session.ending == "close":
                try:
                    await asyncio.wait_for(outbox.join(), CLOSE_WAIT_S)
                except asyncio.TimeoutError:
                    pass
                await ws.close(1000, "session_expired")
        except ConnectionClosed:
            pass
        finally:
            for task in (*tasks, waiter):
                task.cancel()
            await asyncio.gather(*tasks, waiter, return_exceptions=True)
            log.close()
            self.finished.append({"session": number, "log": str(log.path) if log.path else None,
                                  "log_lines": log.lines, **counts,
                                  "ended": session.ending or "client"})

    # -- the server ----------------------------------------------------------------------
    async def run(self, ready: Callable[[str], None], stop: asyncio.Future) -> None:
        """Listen, call `ready(url)`, and serve until `stop` resolves."""
        async with serve(self.handle, self.options.host, self.options.port,
                         process_request=self.process_request, max_size=MAX_FRAME_BYTES,
                         compression=None) as server:
            host, port = server.sockets[0].getsockname()[:2]
            self.url = f"ws://{host}:{port}{ENDPOINT_PATH}"
            ready(self.url)
            await stop
            server.close()
            try:
                await asyncio.wait_for(server.wait_closed(), CLOSE_WAIT_S)
            except asyncio.TimeoutError:
                pass


def run_forever(options: ServeOptions, stop_after_s: float | None = None) -> int:
    endpoint = Endpoint(options)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
        if stop_after_s is not None:
            loop.call_later(stop_after_s, lambda: stop.done() or stop.set_result(None))
        await endpoint.run(lambda url: print(f"listening on {url}", flush=True), stop)

    asyncio.run(main())
    print(f"vadlock serve: stopped after {endpoint.started} session(s)", file=sys.stderr)
    return 0
