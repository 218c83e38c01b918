"""Exhaustive exploration: BFS over the product of the same machines, with networkx.

The abstraction (stated, as the README does):
- the environment moves in *steps*, as P and Stateright model timeouts: a *block* is one
  chunk of audio (the design's `chunk_ms`, 100 ms unless a variant says otherwise) with
  one acoustic symbol (level band x kind); a
  *fault* step starts or ends a capture fault; an *expiry* step lets one running timer
  run out — every timer a machine declares (`model.machine.Timer`: the stuck-VAD
  watchdog, response generation, playback, the idle timeout, the adaptive floor's climb,
  the gate's hangover, ...), found with the sessions' `running_timers()` and fired with
  their `expire_timer()`; the explorer names none of them. The 60-minute session limit
  runs only with the `server` fault class (sessions are otherwise shorter than it), and
  then may run out at any point. Timers are "running or not",
  and a running one may fire at any point; the VAD's silence run is kept exactly, in
  block units;
- the transport, without the network class, is an ordered FIFO delivered within the
  step (latency under one block): a step's events are exchanged until both sides are
  quiet; over WebRTC, quiet chunks reach the server as DTX comfort noise;
- with the network class, the transport is a FIFO per direction (client->server,
  server->client) of *batches* (the events one side sends in one step), holding at most
  `fifo_len` batches (`NETWORK_FIFO_LEN` = 1 unless said otherwise): events stay in flight
  across blocks, and delivering the oldest batch of a direction is an environment step,
  fair. A batch that finds its FIFO full pushes the oldest one out first, so no event
  waits longer than `fifo_len` batches of its direction: with 1, a server reply may wait
  any number of blocks, an append at most one. The network faults, unfair, at most
  `max_faults` on a path: a *stall* (nothing is delivered; a fair `resume` ends it, and a
  stall can last only until a FIFO is full — longer, it must resume or drop); a *drop*
  (the connection dies without a close frame: what is in flight is lost, and so is what
  is sent afterwards; the client is not told — a WebSocket stays OPEN until TCP gives
  up — and only its own reconnect opens a new connection); over WebRTC, the *loss* of a
  block's audio on the media track (it reaches the server as the comfort noise that
  conceals it). A WebSocket never loses a single event (TCP), so nothing else is lost.
  Over WebRTC the media track and the data channel are one FIFO here (their reordering
  against each other is not explored);
- ids, the audio timeline and audio contents are abstracted away (no guard reads them:
  `ABSTRACTED` in each machine), and symbols no guard can tell apart are merged (the
  server's `decisions` of a symbol; of a chunk waiting in the pre-roll line, the gate's
  edge and the server's decisions).
Timers that may fire early and a uniform symbol per block make the graph an
over-approximation (the FIFO bound, an under-approximation of latency): every freeze it finds is replayed in the full simulator and reported
as confirmed or spurious.

A *freeze* is a reachable state from which no progress (the client receiving
`speech_started` or `response.done`) is reachable using only fair steps: blocks in which
the user speaks clearly or the room is quiet, and timer expiries (no fault event). A
capture fault in force stays in force — only the client's own recovery ends it.

How it runs fast without a second model: a product state is three small integers — the
client's and the server's abstract snapshots, each interned once, and the number of
faults used (with the network class, also the two FIFOs of event ids and the connection). Every component transition (a client taking a block, a server receiving an
event, ...) is computed once by the real sessions on the real machines, and remembered;
the BFS then composes remembered transitions.
"""

from __future__ import annotations

import json
import time
from array import array
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import networkx as nx

from vadlock.model.client.capture import FAULTS, CaptureState, through_capture
from vadlock.model.client.outputs import Reconnect
from vadlock.model.client.session import ClientSession, client_snapshot, load_client_snapshot
from vadlock.model.designs import Design
from vadlock.model.protocol import PROGRESS_TYPES
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.model.server.session import ServerSession, load_server_snapshot, server_snapshot
from vadlock.model.server.session_limit import MAX_SESSION_MS
from vadlock.model.symbols import FrameSymbol, Kind, LevelScale
from vadlock.properties import engine_table
from vadlock.simulator import audio
from vadlock.simulator.engine import ATTENUATION_GAIN, DTX_COMFORT_DBFS, DTX_RMS

CLEAR_SPEECH_RMS = 0.08  # -22 dBFS
LOUD_SPEECH_RMS = 0.3
ROOM_NOISE_RMS = 0.003  # -50 dBFS
MUTED_RMS = 0.0005
MAX_ROUNDS = 12
GOOD_TURN_SPEECH_MS = 1_500  # the good turn the exploration starts after
GOOD_TURN_PAUSE_MS = 800  # longer than any silence_duration_ms explored

# the default bound on states: the README's 20 ms example (1.28 million states, 1.1 GB
# resident) fits under it
MAX_STATES = 2_000_000
NETWORK_FIFO_LEN = 1  # batches in flight per direction, at most (the network class)
UP, STALLED, DROPPED = 0, 1, 2  # the connection, under the network class

# (client snapshot id, server snapshot id, faults used); under the network class also
# (uplink batches, downlink batches, connection): each batch a tuple of event ids
State = tuple
FRAME_MS = 10  # the server's frame: an engine table gives one verdict per frame


def fair_symbols(scale: LevelScale) -> tuple[FrameSymbol, FrameSymbol, FrameSymbol]:
    """The symbols of a fair environment: clear speech, loud speech, a quiet room."""
    return (FrameSymbol(scale.level_of(CLEAR_SPEECH_RMS, False), Kind.SPEECH),
            FrameSymbol(scale.level_of(LOUD_SPEECH_RMS, False), Kind.SPEECH),
            FrameSymbol(scale.level_of(ROOM_NOISE_RMS, False), Kind.STATIONARY))


def refusal(hypotheses: ServerVadHypotheses, design: Design | None = None) -> str | None:
    """Why the explorer cannot explore this cell, or None when it can: a detector engine
    needs its measured table (`vadlock measure`), current and covering the design's level
    scale. The symbolic hypotheses explore at any threshold (their edges move with it,
    `hypotheses.server_vad_edges`); noise reduction (a stateful suppressor) has no
    symbolic abstraction."""
    if design is not None and design.noise_reduction is not None:
        return (f"it has no measured abstraction of noise_reduction {design.noise_reduction} "
                "(a stateful suppressor); use search or simulate, which run it on the audio")
    if hypotheses.engine is not None:
        try:
            table = engine_table.EngineTable.load(hypotheses.engine_label)
        except engine_table.EngineTableError as error:
            return str(error)
        if design is not None:
            missing = [k for k in engine_table.keys_for([design], (design.chunk_ms,))
                       if k not in table.entries]
            if missing:
                return (f"engine table {table.path.name} does not cover design {design.name} "
                        f"({len(missing)} entries missing); "
                        f"{engine_table.regenerate_hint(table.label)} --design {design.name}")
    return None


def supports(hypotheses: ServerVadHypotheses, design: Design | None = None) -> bool:
    """Whether `explore` can explore this cell (the review asks before it explores)."""
    return refusal(hypotheses, design) is None


@dataclass(frozen=True, order=True)
class Step:
    """One move of the environment: a block of audio, a capture-fault event or a timer
    expiring."""

    kind: str  # "block" | "fault" | "expire" | "deliver" | "network"
    symbol: FrameSymbol | None = None
    fault: str = ""  # "start:<kind>" or "end"
    timer: str = ""
    net: str = ""  # deliver: "up" | "down"; network: "stall" | "resume" | "drop"; block: "lost"

    def describe(self, design: Design) -> str:
        if self.kind == "deliver":
            return ("the oldest client events in flight reach the server" if self.net == "up"
                    else "the oldest server events in flight reach the client")
        if self.kind == "network":
            return {"stall": "the connection stalls (delivers nothing)",
                    "resume": "the stalled connection resumes",
                    "drop": "the connection drops (no close frame; the client is not told)"
                    }[self.net]
        if self.kind == "fault":
            return ("capture fault ends" if self.fault == "end"
                    else f"capture becomes {self.fault.split(':')[1]}")
        if self.kind == "expire":
            return f"{self.timer} timer fires"
        rms = design.level_scale.representative_rms(self.symbol.level)
        return (f"{design.chunk_ms} ms of {self.symbol.kind.name.lower()} at "
                f"{audio.rms_to_dbfs(rms):.0f} dBFS"
                + (", lost on the media track" if self.net == "lost" else ""))


@dataclass
class Exploration:
    design: str
    server: str
    fault_classes: tuple[str, ...]
    states: int = 0
    edges: int = 0  # labelled transitions explored (state, step) -> state
    depth: int = 0
    seconds: float = 0.0
    freeze_states: int = 0
    counterexample: list[str] = field(default_factory=list)
    path: list[Step] = field(default_factory=list)
    confirmed: bool | None = None
    attempts: int = 0
    saved: Path | None = None
    graph: nx.DiGraph | None = None
    component_transitions: int = 0  # distinct client/server transitions computed
    engine_table: Path | None = None  # the measured table a detector engine was looked up in
    traps: int = 0  # closed regions of freeze states (terminal strongly connected components)
    trace: object = None  # the full simulator's trace of the last replayed counterexample

    @property
    def verdict(self) -> str:
        return "freeze" if self.confirmed else "no-freeze"


class _Interned:
    """Values <-> small integer ids, in order of first appearance."""

    def __init__(self) -> None:
        self.ids: dict[Any, int] = {}
        self.values: list[Any] = []

    def __call__(self, value: Any) -> int:
        i = self.ids.get(value)
        if i is None:
            i = self.ids[value] = len(self.values)
            self.values.append(value)
        return i


def _event_key(event: dict[str, Any]) -> tuple:
    """What a receiver can read of an event under the abstraction: its type, the frame
    symbol of an append, the configuration of a session.update (ids, audio lengths and
    positions are abstracted away)."""
    kind = event["type"]
    if kind == "input_audio_buffer.append":
        return (kind, event["audio"])
    if kind == "session.update":
        return (kind, json.dumps(event["session"], sort_keys=True))
    return (kind,)


class ProductModel:
    """The client and server sessions, composed from remembered component transitions."""

    def __init__(self, design: Design, hypotheses: ServerVadHypotheses,
                 fault_classes: tuple[str, ...], max_faults: int = 1,
                 fresh_sessions: bool = False, fifo_len: int = NETWORK_FIFO_LEN) -> None:
        if design.noise_reduction is not None:
            raise ValueError(f"explore: noise_reduction {design.noise_reduction} has no "
                             "symbolic abstraction (simulate or search run it on the audio)")
        self.design, self.hypotheses = design, hypotheses
        # True: every component transition runs on newly built sessions (a test's check
        # that a snapshot alone decides what happens next)
        self.fresh_sessions = fresh_sessions
        self.scale = design.level_scale
        self.block_ms = design.chunk_ms
        self.fault_classes = fault_classes
        self.max_faults = max_faults if "capture" in fault_classes else 0
        # the network class: the transport as a bounded FIFO per direction (see `NetworkModel`)
        self.network = "network" in fault_classes
        self.max_network_faults = max_faults if self.network else 0
        self.fifo_len = fifo_len
        self.client = ClientSession(design)
        self.webrtc = design.transport == "webrtc"
        self.server = self._fresh_server()
        self.fair_symbols = fair_symbols(self.scale)
        # a detector engine: its measured table decides each frame of a block, after the
        # engine's own history (`engine_table`), kept beside the server's snapshot
        self.table: engine_table.EngineTable | None = None
        if hypotheses.engine is not None:
            self.table = engine_table.EngineTable.load(hypotheses.engine_label)
            self._contexts = engine_table.history_contexts(
                self.scale, self.fair_symbols[0], self.fair_symbols[2])
            self._threshold = float(self.client.turn_detection.get("threshold", 0.5))
        self._history = "silence"
        self._decisions: dict[FrameSymbol, tuple] = {}
        self._heard_cache: dict[tuple, tuple] = {}
        self.alphabet = self._alphabet()
        self._client_edges = tuple(self.scale.threshold_level(name)
                                   for name in ("near_silent", "gate", "interrupt"))
        self.clients, self.servers, self.events = _Interned(), _Interned(), _Interned()
        self._event_dicts: list[dict[str, Any]] = []  # a representative per event id
        self._canon: dict[tuple, FrameSymbol] = {}
        self._memo: dict[tuple, Any] = {}  # component transitions
        self._batches: dict[tuple, Any] = {}  # a batch of events received, composed of them
        self._cache: dict[tuple, Any] = {}  # moves, blocks and timers per snapshot
        self.progress_ids: set[int] = set()
        self.fresh_server = self.servers((server_snapshot(self.server), "silence"))
        self.server_start = self._intern_events(self.server.start())

    def _fresh_server(self) -> ServerSession:
        # the 60-minute session limit runs only with the `server` fault class: then it may
        # run out at any point (a session can be of any age); without it, sessions are
        # shorter than the limit
        return ServerSession(self.hypotheses, self.scale, dict(self.client.turn_detection),
                             owns_output_buffer=self.webrtc,
                             session_limit_ms=(MAX_SESSION_MS if "server" in self.fault_classes
                                               else None))

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

    @property
    def component_transitions(self) -> int:
        return len(self._memo)

    # -- events ------------------------------------------------------------------------
    def _intern_events(self, events: list[dict[str, Any]]) -> tuple[int, ...]:
        ids = []
        for event in events:
            i = self.events(_event_key(event))
            if i == len(self._event_dicts):
                self._event_dicts.append(event)
                if event["type"] in PROGRESS_TYPES:
                    self.progress_ids.add(i)
            ids.append(i)
        return tuple(ids)

    # -- component transitions, each computed once on the real sessions ------------------
    def _load_client(self, cid: int) -> ClientSession:
        if self.fresh_sessions:
            self.client = ClientSession(self.design)
        load_client_snapshot(self.client, self.clients.values[cid])
        return self.client

    def _load_server(self, sid: int) -> ServerSession:
        if self.fresh_sessions:
            self.server = self._fresh_server()
        snap, self._history = self.servers.values[sid]
        load_server_snapshot(self.server, snap)
        return self.server

    def _client_result(self, events: list[dict[str, Any]]) -> tuple[int, tuple[int, ...], bool]:
        c = self.client
        reconnect = any(isinstance(r, Reconnect) for r in c.requests)
        out = []
        for event in events:
            if event["type"] == "input_audio_buffer.append":
                sent = event["audio"]
                event = {**event, "audio": self._server_symbol(sent.tag, sent.mode)}
            out.append(event)
        snap = client_snapshot(c)
        if snap[3]:
            snap = (*snap[:3], self._waiting_line(snap[3]))
        return self.clients(snap), self._intern_events(out), reconnect

    def _waiting_line(self, line: tuple) -> tuple:
        """A pre-roll line with each waiting chunk replaced by the first one seen that the
        client and the server cannot tell from it: of a chunk in the line the gate reads
        only whether its level reaches the gate's edge, and the server what it hears of
        it once sent (`_server_view`); its other client edges were read when it came in."""
        gate_level = self._client_edges[1]
        return tuple(self._canon.setdefault(
            ("waiting", level >= gate_level, self._server_view(tag), ms), (level, tag, ms))
            for level, tag, ms in line)

    def _server_result(self, events: list[dict[str, Any]]) -> tuple[int, tuple[int, ...]]:
        return (self.servers((server_snapshot(self.server), self._history)),
                self._intern_events(events))

    def client_block(self, cid: int, captured: FrameSymbol | None):
        key = ("block", cid, captured)
        if key not in self._memo:
            c = self._load_client(cid)
            _, events = c.on_chunk(None if captured is None else captured.level,
                                   self.block_ms, tag=captured)
            self._memo[key] = self._client_result(events)
        return self._memo[key]

    def client_fault(self, cid: int, fault: str):
        key = ("fault", cid, fault)
        if key not in self._memo:
            c = self._load_client(cid)
            events = c.capture_fault(None if fault == "end" else fault.split(":")[1])
            self._memo[key] = self._client_result(events)
        return self._memo[key]

    def client_expire(self, cid: int, timer: str):
        key = ("expire", cid, timer)
        if key not in self._memo:
            c = self._load_client(cid)
            self._memo[key] = self._client_result(c.expire_timer(timer))
        return self._memo[key]

    def client_receive(self, cid: int, eid: int):
        key = ("receive", cid, eid)
        if key not in self._memo:
            c = self._load_client(cid)
            self._memo[key] = self._client_result(c.receive(self._event_dicts[eid]))
        return self._memo[key]

    def client_reconnected(self, cid: int):
        key = ("reconnected", cid)
        if key not in self._memo:
            c = self._load_client(cid)
            self._memo[key] = self._client_result(c.reconnected())
        return self._memo[key]

    def server_expire(self, sid: int, timer: str):
        key = ("server-expire", sid, timer)
        if key not in self._memo:
            s = self._load_server(sid)
            self._memo[key] = self._server_result(s.expire_timer(timer))
        return self._memo[key]

    def server_receive(self, sid: int, eid: int):
        key = ("server", sid, eid)
        if key not in self._memo:
            s = self._load_server(sid)
            event = self._event_dicts[eid]
            frames: tuple = ()
            if event["type"] == "input_audio_buffer.append":
                if self.table is None:
                    frames = ((event["audio"], self.block_ms),)
                else:
                    frames, self._history = self._heard(self._history, event["audio"])
            self._memo[key] = self._server_result(s.receive(event, frames))
        return self._memo[key]

    # -- what a block sounds like to each side --------------------------------------------
    def _heard(self, history: str, symbol: FrameSymbol) -> tuple[tuple, str]:
        """A block of `symbol` to the engine after `history`, as its measured table says:
        the frames the server's VAD classifies (each carrying the engine's verdict), and
        the history the next block follows."""
        key = (history, symbol)
        hit = self._heard_cache.get(key)
        if hit is None:
            block = engine_table.render(symbol, self.scale)
            verdicts = self.table.detections(history, self._contexts[history], block,
                                             self.block_ms, self._threshold)
            frames: list[tuple[FrameSymbol, int]] = []
            for verdict in verdicts:
                heard = FrameSymbol(symbol.level, symbol.kind, verdict)
                if frames and frames[-1][0] == heard:
                    frames[-1] = (heard, frames[-1][1] + FRAME_MS)
                else:
                    frames.append((heard, FRAME_MS))
            hit = self._heard_cache[key] = (tuple(frames),
                                            engine_table.next_history(verdicts, block))
        return hit

    def _server_view(self, symbol: FrameSymbol) -> tuple:
        """What the server can tell of a symbol: its band and how its VAD classifies it in
        every state (`ServerVadHypotheses.decisions`), or under an engine whether it is
        exact zeros and how the engine hears it after each history."""
        if self.table is None:
            view = self._decisions.get(symbol)
            if view is None:
                view = self._decisions[symbol] = self.hypotheses.decisions(symbol, self.scale)
            return view
        heard = (self._heard(h, symbol) for h in engine_table.HISTORIES)
        return (symbol.level == 0,
                tuple((tuple((f.detection, ms) for f, ms in frames), nxt)
                      for frames, nxt in heard))

    def _captured_in(self, state: str, symbol: FrameSymbol) -> FrameSymbol | None:
        state = through_capture(state, self.design.audio_context)
        if state == CaptureState.LIVE:
            return symbol
        if state == CaptureState.SUSPENDED:
            return None
        if state == CaptureState.DISABLED:
            return FrameSymbol(0, Kind.STATIONARY)
        if state == CaptureState.MUTED:
            return FrameSymbol(self.scale.level_of(MUTED_RMS, False), Kind.STATIONARY)
        rms = self.scale.representative_rms(symbol.level) * ATTENUATION_GAIN
        return FrameSymbol(self.scale.level_of(rms, False), symbol.kind)

    def _canonical(self, captured: FrameSymbol | None) -> FrameSymbol | None:
        """The first symbol every guard sees exactly as it sees `captured`."""
        if captured is None:
            return None
        return self._canon.setdefault(("captured", self._view(captured)), captured)

    def _view(self, captured: FrameSymbol) -> tuple:
        level = captured.level
        client_view = tuple(level >= edge for edge in self._client_edges) + (level == 0,)
        return (client_view, self._server_view(captured))

    def _server_symbol(self, captured: FrameSymbol, mode: str) -> FrameSymbol:
        if self.webrtc and (captured.level == 0 or self.scale.representative_rms(
                captured.level) < DTX_RMS):
            symbol = FrameSymbol(self.scale.level_of(audio.dbfs_to_rms(DTX_COMFORT_DBFS), False),
                                 Kind.STATIONARY)
        elif mode == "zeros":
            symbol = FrameSymbol(0, Kind.STATIONARY)
        elif mode == "comfort_noise":
            rms = audio.dbfs_to_rms(self.design.gate.comfort_noise_dbfs)
            symbol = FrameSymbol(self.scale.level_of(rms, False), Kind.STATIONARY)
        else:
            symbol = captured
        return self._canon.setdefault(("server", self._server_view(symbol)), symbol)

    # -- the environment's moves ----------------------------------------------------------
    def _blocks(self, cid: int) -> tuple[tuple[Step, FrameSymbol | None, bool], ...]:
        """One block step per distinct effect on this client: (step, captured symbol, fair);
        the step's symbol is a fair one whenever any symbol of that effect is fair."""
        key = ("blocks", cid)
        if key not in self._cache:
            c = self._load_client(cid)
            groups: dict[Any, list] = {}
            for symbol in self.alphabet:
                captured = self._canonical(self._captured_in(c.capture.state, symbol))
                fair = symbol in self.fair_symbols
                group = groups.get(captured)
                if group is None:
                    groups[captured] = [symbol, fair]
                elif fair and not group[1]:
                    groups[captured] = [symbol, True]
            self._cache[key] = tuple((Step("block", symbol), captured, fair)
                                     for captured, (symbol, fair) in groups.items())
        return self._cache[key]

    def _client_timers(self, cid: int) -> tuple[tuple[str, ...], str]:
        """The client's running timers (as its machines declare them), and its capture
        state."""
        key = ("timers", cid)
        if key not in self._cache:
            c = self._load_client(cid)
            self._cache[key] = (c.running_timers(), c.capture.state)
        return self._cache[key]

    def _server_timers(self, sid: int) -> tuple[str, ...]:
        key = ("timers", "server", sid)
        if key not in self._cache:
            self._cache[key] = self._load_server(sid).running_timers()
        return self._cache[key]

    def moves(self, state: State) -> list[tuple[Step, bool, tuple]]:
        """Every step the environment can take here: (step, fair, how to apply it)."""
        if len(state) == 6:  # the network class (the initial good turn is exchanged at once)
            return self._network_moves(state)
        return self._local_moves(state)

    def _local_moves(self, state: State) -> list[tuple[Step, bool, tuple]]:
        cid, sid, faults_used = state
        key = ("local-moves", cid, sid, faults_used < self.max_faults)
        moves = self._cache.get(key)
        if moves is None:
            moves = self._cache[key] = (self._client_moves(cid, faults_used < self.max_faults)
                                        + self._server_moves(sid))
        return moves

    def _client_moves(self, cid: int, may_fault: bool) -> list[tuple[Step, bool, tuple]]:
        key = ("moves", cid, may_fault)
        out = self._cache.get(key)
        if out is None:
            timers, capture = self._client_timers(cid)
            out = [(step, fair, ("block", captured))
                   for step, captured, fair in self._blocks(cid)]
            out += [_expiry("client", timer) for timer in timers]
            if capture == CaptureState.LIVE and may_fault:
                out += _FAULT_STARTS
            elif capture != CaptureState.LIVE and self.max_faults:
                out.append(_FAULT_END)
            self._cache[key] = out
        return out

    def _server_moves(self, sid: int) -> list[tuple[Step, bool, tuple]]:
        key = ("moves", "server", sid)
        out = self._cache.get(key)
        if out is None:
            out = self._cache[key] = [_expiry("server", timer)
                                      for timer in self._server_timers(sid)]
        return out

    def successor(self, state: State, step: Step) -> tuple[State, bool]:
        """The state after `step`, and whether the client saw progress on the way."""
        for candidate, _, move in self.moves(state):
            if candidate == step:
                result = self.apply(state, move)
                if result is not None:
                    return result
        raise ValueError(f"{step} cannot be taken here")

    def apply(self, state: State, move: tuple) -> tuple[State, bool] | None:
        """The state after `move`, and whether the client saw progress on the way (None: the
        move cannot be taken here — under the network class, a stalled FIFO is full)."""
        if len(state) == 6:
            return self._network_apply(state, move)
        return self._local_apply(state, move)

    def _local_apply(self, state: State, move: tuple) -> tuple[State, bool]:
        cid, sid, faults_used = state
        to_client: tuple[int, ...] = ()
        kind, what = move
        if kind == "block":
            cid, to_server, reconnect = (self._memo.get(("block", cid, what))
                                         or self.client_block(cid, what))
        elif kind == "fault":
            cid, to_server, reconnect = self.client_fault(cid, what)
            faults_used += what != "end"
        elif kind == "server":
            sid, to_client = self.server_expire(sid, what)
            to_server, reconnect = (), False
        else:  # "client": a client timer
            cid, to_server, reconnect = self.client_expire(cid, what)
        cid, sid, progress = self.exchange(cid, sid, to_server, to_client, reconnect)
        return (cid, sid, faults_used), progress

    def exchange(self, cid: int, sid: int, to_server, to_client, reconnect: bool
                 ) -> tuple[int, int, bool]:
        """Deliver events both ways until both sides are quiet (or MAX_ROUNDS)."""
        progress = False
        memo, progress_ids = self._memo, self.progress_ids
        for _ in range(MAX_ROUNDS):
            if not (to_server or to_client or reconnect):
                break
            replies: list[int] = list(to_client)
            for eid in to_server:
                sid, out = memo.get(("server", sid, eid)) or self.server_receive(sid, eid)
                replies += out
            to_server = []
            for eid in replies:
                progress = progress or eid in progress_ids
                cid, out, again = (memo.get(("receive", cid, eid))
                                   or self.client_receive(cid, eid))
                to_server += out
                reconnect = reconnect or again
            to_client = ()
            if reconnect:  # a fresh server session; the client re-configures it
                reconnect = False
                sid, to_client = self.fresh_server, self.server_start
                cid, out, _ = self.client_reconnected(cid)
                to_server += out
        return cid, sid, progress

    # -- the start ---------------------------------------------------------------------
    def initial(self) -> State:
        """The state after one good turn: the report's sessions start with good turns, and
        the replay of a counterexample starts with them too."""
        if getattr(self, "_initial", None) is None:
            self._initial = self._good_turn()
        return self._initial

    def _good_turn(self) -> State:
        cid = self.clients(client_snapshot(self.client))
        cid, sid, _ = self.exchange(cid, self.fresh_server, self._intern_events(
            self.client.start()), self.server_start, False)
        state: State = (cid, sid, 0)
        speech, _, room = (Step("block", s) for s in self.fair_symbols)
        turn = [speech] * (GOOD_TURN_SPEECH_MS // self.block_ms) + \
            [room] * (GOOD_TURN_PAUSE_MS // self.block_ms)
        for step in turn:
            state, _ = self.successor(state, step)
        for _ in range(MAX_ROUNDS):  # the answer is delivered: its timers run out
            running = (self._load_server(state[1]).running_timers(answer_only=True)
                       + self._load_client(state[0]).running_timers(answer_only=True))
            if not running:
                break
            state, _ = self.successor(state, Step("expire", timer=running[0]))
        for _ in range(self.design.gate.preroll_chunks + 1):
            state, _ = self.successor(state, room)
        if self.network:  # nothing in flight, the connection up
            state = (*state, (), (), UP)
        return state

    # -- the network class ---------------------------------------------------------------
    def _network_moves(self, state: State) -> list[tuple[Step, bool, tuple]]:
        """Every step with the transport as a bounded FIFO per direction: the client's and
        the server's steps, a delivery of the oldest batch in flight either way (fair), and
        the network faults (unfair): a stall, which a fair `resume` ends, a drop, and over
        WebRTC the loss of a block's audio on the media track."""
        cid, sid, used, up, down, link = state
        may_fault = used < self.max_network_faults
        key = ("net-moves", cid, sid, used < self.max_faults, may_fault, not up, not down, link)
        moves = self._cache.get(key)
        if moves is not None:
            return moves
        moves = self._client_moves(cid, used < self.max_faults) + self._server_moves(sid)
        if link == UP:
            if up:
                moves.append(_DELIVER_UP)
            if down:
                moves.append(_DELIVER_DOWN)
            if may_fault:
                moves += _STALL_OR_DROP
                if self.webrtc:
                    moves += [(Step("block", step.symbol, net="lost"), False, ("lost", what[1]))
                              for step, _, what in moves if what[0] == "block"
                              and what[1] is not None]
        elif link == STALLED:
            moves += _RESUME_OR_DROP
        self._cache[key] = moves
        return moves

    def _server_batch(self, sid: int, batch: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
        """The server receives `batch` in order: its snapshot after, and its replies."""
        key = ("server-batch", sid, batch)
        hit = self._batches.get(key)
        if hit is None:
            replies: list[int] = []
            after = sid
            for eid in batch:
                after, out = self.server_receive(after, eid)
                replies += out
            hit = self._batches[key] = (after, tuple(replies))
        return hit

    def _client_batch(self, cid: int, batch: tuple[int, ...]
                      ) -> tuple[int, tuple[int, ...], bool, bool]:
        """The client receives `batch` in order: its snapshot after, what it sends, whether
        it reconnects and whether the batch was progress."""
        key = ("client-batch", cid, batch)
        hit = self._batches.get(key)
        if hit is None:
            sent: list[int] = []
            after, reconnect = cid, False
            for eid in batch:
                after, out, again = self.client_receive(after, eid)
                sent += out
                reconnect = reconnect or again
            progress = any(eid in self.progress_ids for eid in batch)
            hit = self._batches[key] = (after, tuple(sent), reconnect, progress)
        return hit

    def _lost(self, events: tuple[int, ...]) -> tuple[int, ...]:
        """The events of a block whose audio the media track lost: its append carries the
        comfort noise the receiver conceals the loss with."""
        out = []
        for eid in events:
            event = self._event_dicts[eid]
            if event["type"] == "input_audio_buffer.append":
                dtx = FrameSymbol(self.scale.level_of(audio.dbfs_to_rms(DTX_COMFORT_DBFS),
                                                      False), Kind.STATIONARY)
                eid = self._intern_events([{**event, "audio": self._canon.setdefault(
                    ("server", self._server_view(dtx)), dtx)}])[0]
            out.append(eid)
        return tuple(out)

    def _network_apply(self, state: State, move: tuple) -> tuple[State, bool] | None:
        """`_network_step`'s result, reached without `_Wire` in the common cases: one side's
        step, or a delivery, whose batch fits in the FIFO it goes to (the same result:
        `tests/test_explore_scale.py` checks them against each other on whole graphs)."""
        cid, sid, used, up, down, link = state
        kind, what = move
        memo = self._memo
        if kind == "block" or kind == "client":
            cid, out, reconnect = (memo.get((kind, cid, what)) if kind == "block"
                                   else memo.get(("expire", cid, what))) or (
                self.client_block(cid, what) if kind == "block"
                else self.client_expire(cid, what))
            if not reconnect:
                if not out or link == DROPPED:
                    return (cid, sid, used, up, down, link), False
                if len(up) < self.fifo_len:
                    return (cid, sid, used, up + (out,), down, link), False
                if link == UP:  # the oldest batch up is pushed out to the server
                    sid, replies = (self._batches.get(("server-batch", sid, up[0]))
                                    or self._server_batch(sid, up[0]))
                    if not replies:
                        return (cid, sid, used, up[1:] + (out,), down, link), False
                    if len(down) < self.fifo_len:
                        return (cid, sid, used, up[1:] + (out,), down + (replies,),
                                link), False
                    return self._network_step(state, move)
        elif kind == "network":  # a stall, its end, a drop: the FIFOs move no event
            if what == "stall":
                return (cid, sid, used + 1, up, down, STALLED), False
            if what == "resume":
                return (cid, sid, used, up, down, UP), False
            return (cid, sid, used + (link == UP), (), (), DROPPED), False
        elif kind == "deliver":  # only while the connection is up
            batches = self._batches
            if what == "up":
                sid, out = batches.get(("server-batch", sid, up[0])) or self._server_batch(
                    sid, up[0])
                if not out:
                    return (cid, sid, used, up[1:], down, link), False
                if len(down) < self.fifo_len:
                    return (cid, sid, used, up[1:], down + (out,), link), False
            else:
                cid, out, reconnect, progress = (batches.get(("client-batch", cid, down[0]))
                                                 or self._client_batch(cid, down[0]))
                if not reconnect:
                    if not out:
                        return (cid, sid, used, up, down[1:], link), progress
                    if len(up) < self.fifo_len:
                        return (cid, sid, used, up + (out,), down[1:], link), progress
        elif kind == "server":
            sid, out = self.server_expire(sid, what)
            if not out or link == DROPPED:
                return (cid, sid, used, up, down, link), False
            if len(down) < self.fifo_len:
                return (cid, sid, used, up, down + (out,), link), False
            if link == UP:  # the oldest batch down is pushed out to the client
                cid, sent, reconnect, progress = (
                    self._batches.get(("client-batch", cid, down[0]))
                    or self._client_batch(cid, down[0]))
                if not (sent or reconnect):
                    return (cid, sid, used, up, down[1:] + (out,), link), progress
        return self._network_step(state, move)

    def _network_step(self, state: State, move: tuple) -> tuple[State, bool] | None:
        """The state after `move` under the network class, and whether the client saw
        progress (None: a stalled FIFO is full), by the FIFOs' rules (`_Wire`)."""
        cid, sid, used, up, down, link = state
        kind, what = move
        wire = _Wire(self, cid, sid, list(up), list(down), link)
        if kind == "block" or kind == "client":
            wire.cid, out, reconnect = (self.client_block(cid, what) if kind == "block"
                                        else self.client_expire(cid, what))
            wire.client_sent(out, reconnect)
        elif kind == "lost":
            wire.cid, out, reconnect = self.client_block(cid, what)
            used += 1
            wire.client_sent(self._lost(out), reconnect)
        elif kind == "fault":
            wire.cid, out, reconnect = self.client_fault(cid, what)
            used += what != "end"
            wire.client_sent(out, reconnect)
        elif kind == "server":
            wire.sid, out = self.server_expire(sid, what)
            wire.push("down", out)
        elif kind == "deliver":
            wire.deliver(what)
        elif what == "stall":
            wire.link, used = STALLED, used + 1
        elif what == "resume":
            wire.link = UP
        else:  # "drop": whatever is in flight is lost with the connection
            used += link == UP  # a stall that ends in a drop is one fault
            wire.link, wire.up, wire.down = DROPPED, [], []
        if wire.blocked:
            return None
        return ((wire.cid, wire.sid, used, tuple(wire.up), tuple(wire.down), wire.link),
                wire.progress)


class _Wire:
    """One network step's bookkeeping: a batch (the events one side sends in one step) goes
    to the back of its direction's FIFO; a FIFO holds at most `fifo_len` batches, and
    while the connection is up a batch that finds it full first pushes the oldest one out
    to its receiver (so no event waits longer than `fifo_len` batches: the bound on
    latency). A stalled connection delivers nothing: a step that would overfill it cannot
    be taken (the stall must end first, `resume` or `drop`). A dropped connection loses
    what is sent on it. A client's reconnect opens a new connection: empty FIFOs, a fresh
    server session, the old connection's events lost (as the simulator does)."""

    __slots__ = ("m", "cid", "sid", "up", "down", "link", "progress", "blocked")

    def __init__(self, model: ProductModel, cid: int, sid: int, up: list, down: list,
                 link: int) -> None:
        self.m, self.cid, self.sid, self.up, self.down, self.link = model, cid, sid, up, down, link
        self.progress = self.blocked = False

    def push(self, direction: str, batch: tuple[int, ...]) -> None:
        if not batch or self.link == DROPPED:
            return
        getattr(self, direction).append(tuple(batch))
        while len(getattr(self, direction)) > self.m.fifo_len:
            if self.link != UP:
                self.blocked = True
                return
            self.deliver(direction)

    def deliver(self, direction: str) -> None:
        """The oldest batch in flight in `direction` reaches its receiver."""
        batch = getattr(self, direction).pop(0)
        if direction == "up":
            self.sid, replies = self.m._server_batch(self.sid, batch)
            self.push("down", replies)
            return
        self.cid, sent, reconnect, progress = self.m._client_batch(self.cid, batch)
        self.progress = self.progress or progress
        self.client_sent(sent, reconnect)

    def client_sent(self, batch: tuple[int, ...], reconnect: bool) -> None:
        if not reconnect:
            self.push("up", batch)
            return
        m = self.m
        self.up, self.down, self.link, self.sid = [], [], UP, m.fresh_server
        self.push("down", m.server_start)
        self.cid, out, _ = m.client_reconnected(self.cid)
        self.push("up", out)


# the environment's moves that are the same in every model: (step, fair, how to apply it)
_EXPIRIES: dict[tuple[str, str], tuple[Step, bool, tuple]] = {}


def _expiry(side: str, timer: str) -> tuple[Step, bool, tuple]:
    """The move by which `side`'s (client or server) timer `timer` runs out: fair."""
    move = _EXPIRIES.get((side, timer))
    if move is None:
        move = _EXPIRIES[side, timer] = (Step("expire", timer=timer), True, (side, timer))
    return move

_FAULT_STARTS = [(Step("fault", fault=f"start:{kind}"), False, ("fault", f"start:{kind}"))
                 for kind in FAULTS]
_FAULT_END = (Step("fault", fault="end"), False, ("fault", "end"))
_DELIVER_UP = (Step("deliver", net="up"), True, ("deliver", "up"))
_DELIVER_DOWN = (Step("deliver", net="down"), True, ("deliver", "down"))
_STALL_OR_DROP = [(Step("network", net=net), False, ("network", net)) for net in ("stall", "drop")]
_RESUME_OR_DROP = [(Step("network", net="resume"), True, ("network", "resume")),
                   (Step("network", net="drop"), False, ("network", "drop"))]


def explore(design: Design, hypotheses: ServerVadHypotheses,
            fault_classes: tuple[str, ...] = ("acoustic", "capture"), *,
            max_states: int = MAX_STATES, confirm: bool = True, attempts: int = 8,
            out_dir: str | Path | None = None, seed: int = 0,
            progress: Callable[[int, int], None] | None = None,
            keep_graph: bool = False, fresh_sessions: bool = False,
            fifo_len: int = NETWORK_FIFO_LEN, max_faults: int = 1) -> Exploration:
    """BFS from the state after a good turn. `max_faults`: capture or network fault events
    on a path, at most; `fifo_len`: the network class's bound on batches in flight per
    direction."""
    started = time.perf_counter()
    model = ProductModel(design, hypotheses, fault_classes, fresh_sessions=fresh_sessions,
                         fifo_len=fifo_len, max_faults=max_faults)
    result = Exploration(design.name, hypotheses.label, fault_classes)
    result.engine_table = None if model.table is None else model.table.path
    initial = model.initial()
    network = len(initial) == 6
    moves_of = model._network_moves if network else model._local_moves
    apply = model._network_apply if network else model._local_apply
    index: dict[State, int] = {initial: 0}
    states: list[State] = [initial]
    parent: list[tuple[int, Step] | None] = [None]
    # fair edges (i, j) as two parallel arrays (repeats allowed); unfair ones only to draw
    fair_from, fair_to = array("l"), array("l")
    unfair_edges: list[tuple[int, int]] = []
    progress_sources: set[int] = set()
    labelled = 0
    i = 0
    while i < len(states):
        state = states[i]
        for step, fair, move in moves_of(state):
            applied = apply(state, move)
            if applied is None:
                continue
            nxt, made_progress = applied
            labelled += 1
            j = index.get(nxt)
            if j is None:
                j = len(states)
                if j >= max_states:
                    raise ExplorationTooLarge(
                        f"more than {max_states} states; raise --max-states or narrow the "
                        "fault classes")
                index[nxt] = j
                states.append(nxt)
                parent.append((i, step))
            if fair:
                fair_from.append(i)
                fair_to.append(j)
                if made_progress:
                    progress_sources.add(i)
            elif keep_graph:
                unfair_edges.append((i, j))
        i += 1
        if progress is not None and i % 2000 == 0:
            progress(len(states), labelled)
    del index
    # the states that can still make progress with fair steps: every state with a fair path
    # to a state where a fair step makes progress (one search backwards from them)
    fair_into: list[list[int]] = [[] for _ in states]
    for a, b in zip(fair_from, fair_to):
        fair_into[b].append(a)
    can_progress = bytearray(len(states))
    for n in progress_sources:
        can_progress[n] = 1
    queue = deque(progress_sources)
    while queue:
        for a in fair_into[queue.popleft()]:
            if not can_progress[a]:
                can_progress[a] = 1
                queue.append(a)
    freeze = [n for n in range(len(states)) if not can_progress[n]]  # BFS order: by depth
    # BFS finds states by depth: the last one found is among the deepest
    result.states, result.edges = len(states), labelled
    result.depth = len(_path_to(len(states) - 1, parent))
    result.freeze_states = len(freeze)
    result.traps = _traps(freeze, fair_into)
    result.component_transitions = model.component_transitions
    if keep_graph:
        graph = nx.DiGraph()
        graph.add_nodes_from(range(len(states)))
        graph.add_edges_from(unfair_edges, fair=False)
        graph.add_edges_from(zip(fair_from, fair_to), fair=True)  # joined both ways: fair
        result.graph = graph
    if freeze:
        from vadlock.properties.replay import confirm_path

        tried = set()
        for node in freeze:
            path = _path_to(node, parent)
            key = tuple(path)
            if key in tried:
                continue
            tried.add(key)
            result.path = path
            result.counterexample = _describe_path(path, design)
            if not confirm:
                break
            result.attempts += 1
            confirmed, saved, trace = confirm_path(design, hypotheses, path, model, seed,
                                                   out_dir)
            result.confirmed, result.saved, result.trace = confirmed, saved, trace
            if confirmed or result.attempts >= attempts:
                break
    result.seconds = time.perf_counter() - started
    return result


def _describe_path(path: list[Step], design: Design) -> list[str]:
    lines, t_ms = [], 0
    for k, step in enumerate(path):
        if step.kind == "block":
            t_ms += design.chunk_ms
        lines.append(f"step {k + 1} ({t_ms / 1000:.1f} s of audio): {step.describe(design)}")
    return lines


def _traps(freeze: list[int], fair_into: list[list[int]]) -> int:
    """How many closed regions the freeze states form: the strongly connected components of
    the fair graph on the freeze states that no fair step leaves (where a frozen session
    ends up, circling for ever). `fair_into[b]`: the states with a fair step to b."""
    if not freeze:
        return 0
    region = nx.DiGraph()
    region.add_nodes_from(freeze)
    # a fair step out of a freeze state leads to a freeze state: the edges into them
    # from freeze states are all of the region's
    frozen = set(freeze)
    region.add_edges_from((a, b) for b in freeze for a in fair_into[b] if a in frozen)
    dag = nx.condensation(region)
    return sum(1 for node in dag if dag.out_degree(node) == 0)


class ExplorationTooLarge(ValueError):
    pass


def _path_to(node: int, parent: list[tuple[int, Step] | None]) -> list[Step]:
    path = []
    while parent[node] is not None:
        node, step = parent[node]
        path.append(step)
    return path[::-1]
