"""Exhaustive exploration: BFS over the product of the same machines, with networkx.

The abstraction (stated, as the README does):
- time advances in blocks of the design's chunk (100 ms); in each block the environment
  picks one acoustic symbol (level band x kind), optionally a capture-fault event, and any
  one of the running *long* timers expires (stuck-VAD watchdog, response generation,
  playback drain, idle timeout, the adaptive floor's 2 s climb, the gate's hangover, the
  liveness and capture-health watchdogs): timers are nondeterministic expiries, as in P and
  Stateright. The VAD's silence run is kept exactly, in block units;
- the transport is an ordered FIFO delivered within the block (latency under one block);
  a block's events are exchanged until both sides are quiet; over WebRTC, quiet chunks
  reach the server as DTX comfort noise (media loss is not explored);
- ids, the audio timeline and audio contents are abstracted away (no guard reads them).
Timers that may fire early and a uniform symbol per block make the graph an
over-approximation: every freeze it finds is replayed in the full simulator and reported
as confirmed or spurious.

A *freeze* is a reachable state from which no progress (the client receiving
`speech_started` or `response.done`) is reachable using only fair blocks: no fault event,
the user speaking clearly or the room quiet. A capture fault in force stays in force — only
the client's own recovery ends it.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import networkx as nx

from model.client.capture import FAULTS
from model.client.session import ClientSession, client_snapshot, load_client_snapshot
from model.designs import Design
from model.hypotheses import ServerVadHypotheses
from model.server.session import ServerSession, load_server_snapshot, server_snapshot
from model.symbols import FrameSymbol, Kind
from simulator import audio
from simulator.engine import ATTENUATION_GAIN, DTX_COMFORT_DBFS, DTX_RMS

PROGRESS = ("input_audio_buffer.speech_started", "response.done")
CLEAR_SPEECH_RMS = 0.08  # -22 dBFS
LOUD_SPEECH_RMS = 0.3
ROOM_NOISE_RMS = 0.003  # -50 dBFS
MUTED_RMS = 0.0005
MAX_ROUNDS = 12


@dataclass(frozen=True, order=True)
class Choice:
    """What the environment does in one block."""

    symbol: FrameSymbol
    fault: str = ""  # "", "start:<kind>" or "end"
    expire: tuple[str, ...] = ()

    def describe(self, design: Design) -> str:
        scale = design.level_scale
        rms = scale.representative_rms(self.symbol.level)
        parts = [f"{self.symbol.kind.name.lower()} at {audio.rms_to_dbfs(rms):.0f} dBFS"]
        if self.fault:
            parts.append("capture fault ends" if self.fault == "end"
                         else f"capture becomes {self.fault.split(':')[1]}")
        parts += [f"{timer} timer fires" for timer in self.expire]
        return "; ".join(parts)


@dataclass
class Exploration:
    design: str
    server: str
    fault_classes: tuple[str, ...]
    states: int = 0
    edges: int = 0
    depth: int = 0
    seconds: float = 0.0
    freeze_states: int = 0
    counterexample: list[str] = field(default_factory=list)
    path: list[Choice] = field(default_factory=list)
    confirmed: bool | None = None
    attempts: int = 0
    saved: Path | None = None
    graph: nx.MultiDiGraph | None = None

    @property
    def verdict(self) -> str:
        return "freeze" if self.confirmed else "no-freeze"


class ProductModel:
    """The client and server sessions, stepped one block at a time from snapshots."""

    def __init__(self, design: Design, hypotheses: ServerVadHypotheses,
                 fault_classes: tuple[str, ...], max_faults: int = 1) -> None:
        self.design, self.hypotheses = design, hypotheses
        self.scale = design.level_scale
        self.block_ms = design.chunk_ms
        self.fault_classes = fault_classes
        self.max_faults = max_faults if "capture" in fault_classes else 0
        self.client = ClientSession(design)
        self.webrtc = design.transport == "webrtc"
        self.server = self._fresh_server()
        self.fair_symbols = (
            FrameSymbol(self.scale.level_of(CLEAR_SPEECH_RMS, False), Kind.SPEECH),
            FrameSymbol(self.scale.level_of(LOUD_SPEECH_RMS, False), Kind.SPEECH),
            FrameSymbol(self.scale.level_of(ROOM_NOISE_RMS, False), Kind.STATIONARY),
        )
        self.alphabet = self._alphabet()
        self._client_edges = tuple(self.scale.threshold_level(name)
                                   for name in ("near_silent", "gate", "interrupt"))
        self._canon: dict[tuple, FrameSymbol] = {}

    def _fresh_server(self) -> ServerSession:
        return ServerSession(self.hypotheses, self.scale, dict(self.client.turn_detection),
                             owns_output_buffer=self.webrtc)

    def _alphabet(self) -> tuple[FrameSymbol, ...]:
        if "acoustic" not in self.fault_classes:
            return self.fair_symbols
        symbols = set(self.fair_symbols)
        for level in range(1, self.scale.count):
            symbols.add(FrameSymbol(level, Kind.STATIONARY))
            if level >= 2:
                symbols.add(FrameSymbol(level, Kind.SPEECH))
            if level >= self.scale.threshold_level("near_silent"):
                symbols.add(FrameSymbol(level, Kind.TRANSIENT))
        return tuple(sorted(symbols))

    # -- state -------------------------------------------------------------------------
    def initial(self) -> tuple:
        """The state after one good turn: the report's sessions start with good turns, and
        the replay of a counterexample starts with them too."""
        self._exchange(self.client.start(), self.server.start())
        state = self._snapshot(faults_used=0)
        speech, _, room = self.fair_symbols
        turn = [Choice(speech)] * 15 + [Choice(room)] * 8
        for choice in turn:
            state, _ = self.step(state, choice)
        for timer in ("response", "playback", "server_playback"):
            self._load(state)
            if timer in self.running_timers():
                state, _ = self.step(state, Choice(room, expire=(timer,)))
        for _ in range(self.design.gate.preroll_chunks + 1):
            state, _ = self.step(state, Choice(room))
        return state

    def _snapshot(self, faults_used: int) -> tuple:
        return (client_snapshot(self.client), server_snapshot(self.server), faults_used)

    def _load(self, state: tuple) -> None:
        load_client_snapshot(self.client, state[0])
        load_server_snapshot(self.server, state[1])

    # -- choices -----------------------------------------------------------------------
    def running_timers(self) -> list[str]:
        c, s = self.client, self.server
        timers = []
        if c.watchdog is not None and c.watchdog.state == "armed":
            timers.append("watchdog")
        if s.response.state == "in_progress":
            timers.append("response")
        if c.playback.state == "playing":
            timers.append("playback")
        if s.idle_armed and s.vad.state == "silence" and s.response.state == "idle":
            timers.append("idle_timeout")
        if c.gate.state == "hangover":
            timers.append("hangover")
        if s.out_playing:
            timers.append("server_playback")
        if s.vad.floor_target > s.vad.floor_band:
            timers.append("floor_climb")
        if c.liveness is not None and c.liveness.unanswered_ms:
            timers.append("liveness")
        if c.health is not None and c.health.silent_ms:
            timers.append("capture_health")
        return timers

    def choices(self, state: tuple) -> list[Choice]:
        self._load(state)
        timers = self.running_timers()
        expiries = [(), *((timer,) for timer in timers)]  # at most one timer per block
        faults = [""]
        if state[2] < self.max_faults and self.client.capture.state == "live":
            faults += [f"start:{kind}" for kind in FAULTS]
        if self.client.capture.state != "live" and self.max_faults:
            faults.append("end")
        return [Choice(sym, fault, exp) for sym in self.alphabet for fault in faults
                for exp in expiries]

    def grouped_choices(self, state: tuple) -> list[tuple[Choice, bool]]:
        """One choice per distinct effect, with whether any choice of that effect is fair.

        Two acoustic symbols that the capture turns into the same captured symbol (every
        symbol, while the microphone is muted; every quiet one behind the gate is *not*
        merged, as the client still sees its level) lead to the same successor.
        """
        groups: dict[tuple, tuple[Choice, bool]] = {}
        capture = self.client.capture.state
        for choice in self.choices(state):
            after = capture
            if choice.fault == "end":
                after = "live"
            elif choice.fault:
                after = choice.fault.split(":")[1]
            key = (self._effect(after, choice.symbol), choice.fault, choice.expire)
            fair = self.is_fair(choice)
            if key not in groups or (fair and not groups[key][1]):
                groups[key] = (choice, fair or (key in groups and groups[key][1]))
        return list(groups.values())

    def _canonical(self, captured: FrameSymbol | None) -> FrameSymbol | None:
        """The first symbol every guard sees exactly as it sees `captured`."""
        if captured is None:
            return None
        key = self._view(captured)
        return self._canon.setdefault(key, captured)

    def _view(self, captured: FrameSymbol) -> tuple:
        level = captured.level
        client_view = tuple(level >= edge for edge in self._client_edges) + (level == 0,)
        return (client_view, self.hypotheses.server_band(captured, self.scale),
                self.hypotheses.kind_class(captured.kind))

    def _effect(self, capture_state: str, symbol: FrameSymbol):
        """What of a symbol any guard can see: the client's threshold classes of the
        captured level, and the server's band and kind of what may reach it."""
        captured = self._captured_in(capture_state, symbol)
        if captured is None:
            return None
        if self.client.preroll_chunks:
            return self._view(captured)  # it may be sent later, whatever the gate does now
        level = captured.level
        client_view = tuple(level >= edge for edge in self._client_edges) + (level == 0,)
        gate = self.client.gate
        if gate.mode != "off" and gate.state == "zeroing" and not gate.lag_chunks \
                and level < gate.threshold_level:
            return client_view, "gated"
        band = self.hypotheses.server_band(captured, self.scale)
        return client_view, band, self.hypotheses.kind_class(captured.kind)

    def is_fair(self, choice: Choice) -> bool:
        return not choice.fault and choice.symbol in self.fair_symbols

    # -- one block ---------------------------------------------------------------------
    def step(self, state: tuple, choice: Choice) -> tuple[tuple, bool]:
        self._load(state)
        c, s = self.client, self.server
        faults_used = state[2]
        if choice.fault == "end":
            c.capture.restore()
        elif choice.fault:
            c.capture.start_fault(choice.fault.split(":")[1])
            faults_used += 1
        to_server, to_client = [], []
        for timer in choice.expire:
            if timer == "watchdog":
                c.watchdog.expire()
                to_server += c._collect()
            elif timer == "response":
                s.response.total_ms = max(s.response.total_ms, 2)
                s.response.generate(10 ** 9)
                to_client += s._collect()
            elif timer == "playback":
                c.playback.advance(c.playback.queued_ms)
            elif timer == "hangover":
                c.gate.expire_hangover()
            elif timer == "server_playback":
                to_client += s.stop_output()
            elif timer == "floor_climb":
                s.vad.climb_floor()
            elif timer == "idle_timeout":
                to_client += s._idle_timeout()
            elif timer == "liveness":
                c.liveness.escalate()
                to_server += c._collect()
            elif timer == "capture_health":
                c.health.silent_ms = c.health.timeout_ms
                c.health.chunk(None, 0)
                to_server += c._collect()
        captured = self._canonical(self._captured(choice.symbol))
        mode, events = c.on_chunk(None if captured is None else captured.level, self.block_ms,
                                  tag=captured)
        for event in events:
            if event["type"] == "input_audio_buffer.append":
                sent = event["audio"]
                event = dict(event)
                event["audio"] = self._server_symbol(sent.tag, sent.mode)
            to_server.append(event)
        progress = self._exchange(to_server, to_client)
        return self._snapshot(faults_used), progress

    def _captured(self, symbol: FrameSymbol) -> FrameSymbol | None:
        return self._captured_in(self.client.capture.state, symbol)

    def _captured_in(self, state: str, symbol: FrameSymbol) -> FrameSymbol | None:
        if state == "live":
            return symbol
        if state == "suspended":
            return None
        if state == "disabled":
            return FrameSymbol(0, Kind.STATIONARY)
        if state == "muted":
            return FrameSymbol(self.scale.level_of(MUTED_RMS, False), Kind.STATIONARY)
        rms = self.scale.representative_rms(symbol.level) * ATTENUATION_GAIN
        return FrameSymbol(self.scale.level_of(rms, False), symbol.kind)

    def _server_symbol(self, captured: FrameSymbol, mode: str) -> FrameSymbol:
        if self.webrtc and (captured.level == 0 or self.scale.representative_rms(
                captured.level) < DTX_RMS):
            return FrameSymbol(self.scale.level_of(audio.dbfs_to_rms(DTX_COMFORT_DBFS), False),
                               Kind.STATIONARY)
        if mode == "zeros":
            return FrameSymbol(0, Kind.STATIONARY)
        if mode == "comfort_noise":
            rms = audio.dbfs_to_rms(self.design.gate.comfort_noise_dbfs)
            return FrameSymbol(self.scale.level_of(rms, False), Kind.STATIONARY)
        return captured

    def _exchange(self, to_server: list, to_client: list) -> bool:
        progress = False
        for _ in range(MAX_ROUNDS):
            if not to_server and not to_client:
                break
            for event in to_server:
                frames = ([(event["audio"], self.block_ms)]
                          if event["type"] == "input_audio_buffer.append" else ())
                to_client += self.server.receive(event, frames)
            to_server = []
            for event in to_client:
                progress |= event["type"] in PROGRESS
                to_server += self.client.receive(event)
            to_client = []
            if self.client.requests:
                self.client.requests.clear()  # reconnect: a fresh server session
                load_server_snapshot(self.server, server_snapshot(self._fresh_server()))
                to_client += self.server.start()
                to_server += self.client.reconnected()
        return progress


def explore(design: Design, hypotheses: ServerVadHypotheses,
            fault_classes: tuple[str, ...] = ("acoustic", "capture"), *,
            max_states: int = 200_000, confirm: bool = True, attempts: int = 8,
            out_dir: str | Path | None = None, seed: int = 0,
            progress: Callable[[int, int], None] | None = None,
            keep_graph: bool = False) -> Exploration:
    started = time.perf_counter()
    model = ProductModel(design, hypotheses, fault_classes)
    result = Exploration(design.name, hypotheses.label, fault_classes)
    graph = nx.MultiDiGraph()
    initial = model.initial()
    index = {initial: 0}
    states = [initial]
    depth = {0: 0}
    parent: dict[int, tuple[int, Choice]] = {}
    fair_progress_sources: set[int] = set()
    fair_edges: list[tuple[int, int]] = []
    graph.add_node(0)
    queue = deque([0])
    while queue:
        i = queue.popleft()
        state = states[i]
        for choice, fair in model.grouped_choices(state):
            nxt, made_progress = model.step(state, choice)
            j = index.get(nxt)
            if j is None:
                if len(states) >= max_states:
                    raise ExplorationTooLarge(
                        f"more than {max_states} states; raise --max-states or narrow the "
                        "fault classes")
                j = index[nxt] = len(states)
                states.append(nxt)
                depth[j] = depth[i] + 1
                parent[j] = (i, choice)
                graph.add_node(j)
                queue.append(j)
            graph.add_edge(i, j, fair=fair, progress=made_progress)
            if fair:
                fair_edges.append((i, j))
                if made_progress:
                    fair_progress_sources.add(i)
        if progress is not None and i % 500 == 0:
            progress(len(states), graph.number_of_edges())
    fair_graph = nx.DiGraph()
    fair_graph.add_nodes_from(range(len(states)))
    fair_graph.add_edges_from(fair_edges)
    can_progress = _reaching(fair_graph, fair_progress_sources)
    freeze = sorted((n for n in range(len(states)) if n not in can_progress),
                    key=lambda n: depth[n])
    result.states, result.edges = len(states), graph.number_of_edges()
    result.depth = max(depth.values())
    result.freeze_states = len(freeze)
    if keep_graph:
        result.graph = graph
    if freeze:
        from properties.replay import confirm_path

        tried = set()
        for node in freeze:
            path = _path_to(node, parent)
            key = tuple(path)
            if key in tried:
                continue
            tried.add(key)
            result.path = path
            result.counterexample = [f"block {k + 1} ({(k + 1) * model.block_ms / 1000:.1f} s): "
                                     f"{c.describe(design)}" for k, c in enumerate(path)]
            if not confirm:
                break
            result.attempts += 1
            confirmed, saved = confirm_path(design, hypotheses, path, model, seed, out_dir)
            result.confirmed, result.saved = confirmed, saved
            if confirmed or result.attempts >= attempts:
                break
    result.seconds = time.perf_counter() - started
    return result


def _reaching(graph: nx.DiGraph, targets: set[int]) -> set[int]:
    """Every node with a path in `graph` to one of `targets` (targets included)."""
    seen = set(targets)
    queue = deque(targets)
    while queue:
        node = queue.popleft()
        for pred in graph.predecessors(node):
            if pred not in seen:
                seen.add(pred)
                queue.append(pred)
    return seen


class ExplorationTooLarge(ValueError):
    pass


def _path_to(node: int, parent: dict[int, tuple[int, Choice]]) -> list[Choice]:
    path = []
    while node in parent:
        node, choice = parent[node]
        path.append(choice)
    return path[::-1]
