"""The discrete-time engine: one session, one design, one hypothesis set, one scenario.

Time is integer milliseconds advancing by `tick_ms` (10 ms by default; it must divide the
design's chunk). Each tick: capture faults change -> downlink deliveries reach the client
-> uplink deliveries reach the server -> the server advances (responses generate) -> the
client advances (playback, watchdogs) -> what the microphone captured in the tick (the
environment plus the echo of playback, through the capture's state) is noted -> a
complete chunk goes through the gate to `append`. All randomness comes from numpy
Generators derived from the seed.

Hot paths, without changing what any machine sees:
- the environment's audio is known before the run, so its per-frame features (RMS, int16
  peak, and the server's frame symbols) are computed in batches (`SignalFrames`); a chunk
  that is exactly the environment's audio never has its samples touched again;
- the server decodes what was appended without the base64 round trip (`quantize_pcm16`
  is bit-identical to encoding and decoding);
- wire audio is rendered to base64 only when a record is read or exported (`AudioRenderer`).
"""

from __future__ import annotations

import base64
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from vadlock.model import protocol
from vadlock.model.client.capture import ATTENUATION_DB, CaptureState, through_capture
from vadlock.model.client.outputs import Reconnect
from vadlock.model.client.playback import PlaybackState
from vadlock.model.client.session import ClientSession
from vadlock.model.designs import Design
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.model.server.session import ServerSession
from vadlock.model.symbols import ZERO, Detection, FrameSymbol, LevelScale
from vadlock.simulator import audio, detectors, features
from vadlock.simulator.detectors import Detector
from vadlock.simulator.features import FRAME_MS, SignalFrames
from vadlock.simulator.noise_reduction import NoiseReduction
from vadlock.simulator.scenario import Scenario
from vadlock.simulator.server_faults import ServerFaultFilter
from vadlock.simulator.trace import (C2S, CLEAR_MIN_DBFS, CLEAR_MIN_MS, S2C, Trace,
                                     UtteranceRecord, WireRecord)
from vadlock.simulator.transport import Link

SPM = audio.SAMPLES_PER_MS
# semantic_vad has no threshold: its speech start is taken as server_vad's at the default
SEMANTIC_VAD_THRESHOLD = 0.5
ATTENUATION_GAIN = 10 ** (ATTENUATION_DB / 20)  # an "attenuated" capture, by default
DTX_RMS = 0.002  # WebRTC/Opus DTX: chunks quieter than about -54 dBFS go as comfort noise
DTX_COMFORT_DBFS = -70.0
MEDIA_LOSS = 0.01  # WebRTC media path: packet loss, concealed as comfort noise

Runs = list[tuple[FrameSymbol, int]]


class SimulationError(ValueError):
    """Parameters the engine cannot run with (one line, names the parameter)."""


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, *stream])


def environment_audio(scenario: Scenario, seed: int, recording: np.ndarray | None = None
                      ) -> np.ndarray:
    """The microphone's acoustic input (without echo): room noise, utterances, typing.
    Padded to whole seconds so that a last, partial tick or chunk still has samples."""
    n = -(-scenario.duration_ms // 1000) * 1000 * SPM
    signal = audio.pink_noise(n, audio.dbfs_to_rms(scenario.room_noise_dbfs), _rng(seed, 1))

    def add(start_ms: int, part: np.ndarray) -> None:
        start = start_ms * SPM
        if start < n:
            end = min(n, start + len(part))
            signal[start:end] += part[: end - start]

    for i, u in enumerate(scenario.utterances):
        add(u.start_ms, audio.speech(u.duration_ms, audio.dbfs_to_rms(u.level_dbfs),
                                     _rng(seed, 2, i)))
    for i, t in enumerate(scenario.typing):
        add(t.start_ms, audio.keyboard(t.duration_ms, t.keys_per_s,
                                       audio.dbfs_to_rms(t.peak_dbfs), _rng(seed, 3, i)))
    for i, seg in enumerate(scenario.segments):
        rng = _rng(seed, 9, i)
        level = audio.dbfs_to_rms(seg.level_dbfs)
        if seg.kind == "speech":
            part = audio.speech(seg.duration_ms, level, rng)
        elif seg.kind == "typing":
            part = audio.keyboard(seg.duration_ms, 8.0, level, rng)
        else:
            part = audio.pink_noise(seg.duration_ms * SPM, level, rng)
        add(seg.start_ms, part)
    if recording is not None:
        m = min(n, len(recording))
        signal[:m] += recording[:m]
    return signal


# what one process keeps of the signals known before a run, least recently used first out,
# within a budget of bytes: environments (a 10-minute one is 55 MiB) and their decodings
# (each counted at the size of the samples it decodes, shared or not)
_SHARED: "OrderedDict[tuple, tuple[Any, int]]" = OrderedDict()
SHARED_BUDGET_BYTES = 512 * 2**20


def _size_bytes(value: Any) -> int:
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, SignalFrames):
        return value.source.nbytes
    return 0


def _cached(key: tuple, make: Callable[[], Any]) -> Any:
    """What `make` makes for `key`, made once per process; arrays come back read-only."""
    entry = _SHARED.get(key)
    if entry is not None:
        _SHARED.move_to_end(key)
        return entry[0]
    value = make()
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    _SHARED[key] = (value, _size_bytes(value))
    total = sum(size for _, size in _SHARED.values())
    while total > SHARED_BUDGET_BYTES and len(_SHARED) > 1:
        _, (_, size) = _SHARED.popitem(last=False)
        total -= size
    return value


def _merge(runs: Runs, symbols: list[FrameSymbol], frame_ms: int) -> Runs:
    for symbol in symbols:
        if runs and runs[-1][0] == symbol:
            runs[-1] = (symbol, runs[-1][1] + frame_ms)
        else:
            runs.append((symbol, frame_ms))
    return runs


class ServerAudioDecoder:
    """What the server hears: 10 ms frames as run-length symbols. A frame's kind is judged
    over it and the frame before it, so the decoder remembers the last frame it decoded:
    as samples, or as "frame k of a known signal" (whose symbols are precomputed)."""

    def __init__(self, scale: LevelScale, frame_ms: int = FRAME_MS,
                 kind_from_level: int = 1, detector: Detector | None = None,
                 threshold: Callable[[], float] = lambda: 0.5) -> None:
        self.scale = scale
        self.kind_from_level = kind_from_level
        self.frame_ms = frame_ms
        self.frame_n = frame_ms * SPM
        self.context = np.zeros(self.frame_n, np.float32)
        self._follows: tuple[SignalFrames, int] | None = None
        # a detector engine: it hears the same samples, and each frame carries its verdict
        # against the session's current threshold
        self.detector = detector
        self.threshold = threshold
        self.since_voiced = features.VOICED_HANGOVER_FRAMES  # the classifier's voicing state

    def _detect(self, symbols: list[FrameSymbol], frames: np.ndarray) -> list[FrameSymbol]:
        if self.detector is None:
            return symbols
        threshold = self.threshold()
        return [features.detected(s, Detection.of(p, threshold))
                for s, p in zip(symbols, self.detector.feed(frames).tolist())]

    def frames(self, b64_audio: str) -> Runs:
        """Frames of a base64 pcm16 `append` payload."""
        return self.frames_of(audio.from_pcm16(base64.b64decode(b64_audio)))

    def frames_of(self, samples: np.ndarray) -> Runs:
        """Frames of decoded samples."""
        usable = len(samples) // self.frame_n * self.frame_n
        if usable == 0:
            return []
        frames = samples[:usable].reshape(-1, self.frame_n)
        symbols, since = features.judge(frames, self.scale, self._last(), self.kind_from_level,
                                        self.since_voiced)
        self.context, self._follows, self.since_voiced = frames[-1], None, since[-1]
        return _merge([], self._detect(symbols, frames), self.frame_ms)

    def zeros(self, n_frames: int) -> Runs:
        """Frames of exact digital silence (what a zeroing gate sends)."""
        self.context, self._follows = np.zeros(self.frame_n, np.float32), None
        self.since_voiced = min(features.VOICED_HANGOVER_FRAMES, self.since_voiced + n_frames)
        if self.detector is not None and n_frames:
            frames = np.zeros((n_frames, self.frame_n), np.float32)
            return _merge([], self._detect([ZERO] * n_frames, frames), self.frame_ms)
        return [(ZERO, n_frames * self.frame_ms)] if n_frames else []

    def known(self, signal: SignalFrames, k0: int, n_frames: int) -> Runs:
        """Frames k0 .. k0 + n - 1 of a known signal, decoded as that signal says."""
        if n_frames <= 0:
            return []
        symbols = [signal.symbol(k) for k in range(k0, k0 + n_frames)]
        since_after = signal.since_voiced(k0 + n_frames - 1)
        if self._follows != (signal, k0 - 1) or self.since_voiced != signal.since_voiced(k0 - 1):
            # the first frame's context, or the voicing before it, is something else: the
            # frames within the hangover's reach are judged anew (beyond it they are the
            # signal's own; so is the voicing state after them)
            reach = min(n_frames, features.VOICED_HANGOVER_FRAMES + 1)
            symbols[:reach], since = features.judge(
                signal.frames(k0, reach), self.scale, self._last(), self.kind_from_level,
                self.since_voiced)
            if reach == n_frames:
                since_after = since[-1]
        self._follows, self.since_voiced = (signal, k0 + n_frames - 1), since_after
        if self.detector is not None:
            symbols = self._detect(symbols, signal.frames(k0, n_frames))
        return _merge([], symbols, self.frame_ms)

    def _last(self) -> np.ndarray:
        if self._follows is not None:
            signal, k = self._follows
            return signal.frame(k)
        return self.context


@dataclass
class CapturedChunk:
    """One chunk the worklet captured: either frames `frame0`.. of a signal known before
    the run (the environment, through a live or attenuated capture), or its own `samples`
    (echo, muted or disabled capture, part of it suspended)."""

    row: int
    start_ms: int
    duration_ms: int
    rms: float
    frame0: int | None = None
    signal: SignalFrames | None = None  # the known signal it is frames frame0.. of
    samples: np.ndarray | None = None


class AudioRenderer:
    """Turns the audio placeholders of wire events into base64 pcm16, when asked."""

    def __init__(self, captured: dict[int, CapturedChunk], comfort: "_Track",
                 assistant: "_AssistantVoices") -> None:
        self.captured, self.comfort, self.assistant = captured, comfort, assistant
        self._zeros: dict[int, str] = {}

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        for key in ("audio", "delta"):
            payload = event.get(key)
            if isinstance(payload, protocol.AudioPayload):
                event = {**event, key: self.base64(payload)}
        return event

    def base64(self, payload: protocol.AudioPayload) -> str:
        if payload.source == "mic" and payload.mode == "zeros":
            n = payload.duration_ms * SPM
            if n not in self._zeros:
                self._zeros[n] = base64.b64encode(bytes(2 * n)).decode()
            return self._zeros[n]
        return base64.b64encode(audio.to_pcm16(self.samples(payload))).decode()

    def samples(self, payload: protocol.AudioPayload) -> np.ndarray:
        if payload.source == "assistant":
            voice = self.assistant(payload.response_index)
            return voice[payload.offset_ms * SPM:(payload.offset_ms + payload.duration_ms) * SPM]
        chunk = self.captured[payload.tag]
        if payload.mode == "zeros":
            return np.zeros(chunk.duration_ms * SPM, np.float32)
        if payload.mode == "comfort_noise":
            return self.comfort.frames.samples(chunk.start_ms * SPM,
                                               (chunk.start_ms + chunk.duration_ms) * SPM)
        if chunk.samples is not None:
            return chunk.samples
        return chunk.signal.samples(chunk.start_ms * SPM,
                                    (chunk.start_ms + chunk.duration_ms) * SPM)


class _Track:
    """A noise track of the session's length as a receiver decodes it, made on first use
    (the comfort-noise gate's noise; WebRTC's DTX comfort noise)."""

    def __init__(self, make: Callable[[], SignalFrames]) -> None:
        self._make = make
        self._frames: SignalFrames | None = None

    @property
    def frames(self) -> SignalFrames:
        if self._frames is None:
            self._frames = self._make()
        return self._frames


class _AssistantVoices:
    """The assistant's audio per response, synthesised on first use."""

    def __init__(self, scenario: Scenario, seed: int) -> None:
        self.scenario, self.seed = scenario, seed
        self._voices: dict[int, np.ndarray] = {}

    def __call__(self, index: int) -> np.ndarray:
        voice = self._voices.get(index)
        if voice is None:
            voice = self._voices[index] = audio.speech(
                self.scenario.response_ms(index), 0.08, _rng(self.seed, 8, index))
        return voice


@dataclass
class _Playing:
    response_index: int
    item_id: str


class Engine:
    def __init__(self, design: Design, hypotheses: ServerVadHypotheses, scenario: Scenario,
                 seed: int = 0, tick_ms: int = 10, recording: np.ndarray | None = None,
                 fast_forward: bool = True, judge_all_kinds: bool = False,
                 recording_turns: tuple = ()) -> None:
        if tick_ms <= 0 or design.chunk_ms % tick_ms:
            raise SimulationError(
                f"tick_ms={tick_ms} must be a positive divisor of chunk_ms={design.chunk_ms}")
        if design.chunk_ms % FRAME_MS:
            raise SimulationError(f"chunk_ms={design.chunk_ms} must be a multiple of "
                                  f"{FRAME_MS} ms (the server's frame)")
        self.design, self.hypotheses, self.scenario = design, hypotheses, scenario
        self.seed, self.tick_ms = seed, tick_ms
        # the recording's own speech turns (`speech_turns`), counted as utterances
        self.recording_turns = tuple(recording_turns)
        self.fast_forward = fast_forward  # off: every tick is run (the reference the tests use)
        # a frame's kind is judged only where the hypotheses can tell kinds apart (on: every
        # frame, the reference the tests use)
        self.scale = design.level_scale
        self.kind_from_level = 1 if judge_all_kinds else hypotheses.kind_from_level(self.scale)
        self.webrtc = design.transport == "webrtc"
        # the environment (the same for every design and hypothesis: search and the review
        # simulate one scenario many times, so it is made once per process), as the
        # worklet sees it (float) and as the server decodes it (pcm16 over a WebSocket;
        # the float samples over the WebRTC media path)
        self._env_key = None if recording is not None else ("environment", scenario, seed)
        self.env = (environment_audio(scenario, seed, recording) if recording is not None
                    else _cached(self._env_key, lambda: environment_audio(scenario, seed)))
        self.env_frames = self._signal(lambda: self.env)
        self._attenuated_frames: SignalFrames | None = None
        self.attenuation_gain = 10 ** (scenario.attenuation_db / 20)
        self.capture_rng = _rng(seed, 4)
        net = scenario.network
        self.uplink = Link(net.uplink_latency_ms, net.uplink_jitter_ms, net.spikes, _rng(seed, 6))
        self.downlink = Link(net.downlink_latency_ms, net.downlink_jitter_ms, net.spikes,
                             _rng(seed, 7))
        self.media = Link(net.uplink_latency_ms // 2, net.uplink_jitter_ms * 2, net.spikes,
                          _rng(seed, 10))
        self.media_rng = _rng(seed, 11)
        # the scenario's connection drops, in time order; `dead`: the connection is gone
        self._drops = sorted(d.start_ms for d in net.drops)
        self.dead = False
        n = len(self.env)
        self.comfort = _Track(lambda: self._signal(
            lambda: audio.pink_noise(n, audio.dbfs_to_rms(design.gate.comfort_noise_dbfs),
                                     _rng(seed, 5)), source="comfort"))
        self.dtx = _Track(lambda: self._signal(
            lambda: audio.pink_noise(n, audio.dbfs_to_rms(DTX_COMFORT_DBFS), _rng(seed, 12)),
            quantize=False, source="dtx"))
        self.assistant_audio = _AssistantVoices(scenario, seed)
        self.client = ClientSession(design)
        self.server = self._new_server()
        self._captured: dict[int, CapturedChunk] = {}  # chunk start (the payload tag) -> chunk
        # a real detector as the server's engine (None: the symbols decide, their edges
        # at the design's threshold)
        self._detector_factory = detector_factory(hypotheses)
        self.decoder = self._new_decoder()
        self.server_faults = ServerFaultFilter(scenario.server_faults)
        self._playing_index = 0
        self._item_response: dict[str, int] = {}
        self.trace = Trace(design.name, hypotheses.label, scenario.name, seed, tick_ms,
                           scenario.duration_ms)
        self.trace.initial_states = {m.NAME: m.state
                                     for m in (*self.client.machines, *self.server.machines)}
        self.render = AudioRenderer(self._captured, self.comfort, self.assistant_audio)

    def _signal(self, samples: Callable[[], np.ndarray], gain: float | None = None,
                quantize: bool | None = None, source: str = "environment") -> SignalFrames:
        """A signal known before the run (`samples` makes it), as this session's server
        decodes it — shared with the other sessions of this process that decode the same
        signal the same way."""
        quantize = not self.webrtc if quantize is None else quantize

        def make() -> SignalFrames:
            return SignalFrames(samples(), self.scale, quantize, gain=gain,
                                kind_from_level=self.kind_from_level)

        if self._env_key is None:  # a recording: nothing to share
            return make()
        key = (f"decoding:{source}", self._env_key[1:], gain, quantize, self.scale,
               self.kind_from_level,
               self.design.gate.comfort_noise_dbfs if source == "comfort" else None)
        return _cached(key, make)

    def _new_decoder(self) -> ServerAudioDecoder:
        """What a new server connection hears with (a fresh detector and noise-reduction
        stage: their state is the session's)."""
        self.noise_reduction = (NoiseReduction(self.design.noise_reduction)
                                if self.design.noise_reduction else None)
        factory = self._detector_factory
        return ServerAudioDecoder(self.scale, kind_from_level=self.kind_from_level,
                                  detector=None if factory is None else factory(),
                                  threshold=lambda: self.server.turn_detection.get(
                                      "threshold", SEMANTIC_VAD_THRESHOLD))

    def _new_server(self) -> ServerSession:
        return ServerSession(self.hypotheses, self.scale, dict(self.client.turn_detection),
                             self.scenario.response_ms,
                             owns_output_buffer=self.design.transport == "webrtc")

    # -- what the server hears ---------------------------------------------------------
    def _server_frames(self, payload: protocol.AudioPayload) -> Runs:
        chunk = self._captured[payload.tag]
        n_frames = chunk.duration_ms // FRAME_MS
        if self.noise_reduction is not None:
            return self._reduced_frames(self._sent_samples(payload, chunk, n_frames))
        if payload.mode == "zeros":
            return self.decoder.zeros(n_frames)
        if payload.mode == "comfort_noise":
            return self.decoder.known(self.comfort.frames, chunk.start_ms // FRAME_MS, n_frames)
        if chunk.samples is None:
            return self.decoder.known(chunk.signal, chunk.frame0, n_frames)
        return self.decoder.frames_of(audio.quantize_pcm16(chunk.samples))

    def _media_frames(self, payload: protocol.AudioPayload, lost: bool) -> Runs:
        """WebRTC: the chunk on the media track; silence and lost packets become DTX
        comfort noise."""
        chunk = self._captured[payload.tag]
        n_frames = chunk.duration_ms // FRAME_MS
        if self.noise_reduction is not None:
            if lost or chunk.rms < DTX_RMS:
                samples = self.dtx.frames.frames(chunk.start_ms // FRAME_MS, n_frames)
            elif chunk.samples is None:
                samples = chunk.signal.frames(chunk.frame0, n_frames)
            else:
                samples = chunk.samples
            return self._reduced_frames(np.asarray(samples).reshape(-1))
        if lost or chunk.rms < DTX_RMS:
            return self.decoder.known(self.dtx.frames, chunk.start_ms // FRAME_MS, n_frames)
        if chunk.samples is None:
            return self.decoder.known(chunk.signal, chunk.frame0, n_frames)
        return self.decoder.frames_of(chunk.samples)

    def _sent_samples(self, payload: protocol.AudioPayload, chunk: CapturedChunk,
                      n_frames: int) -> np.ndarray:
        """The samples of an append as the server decodes them (pcm16)."""
        if payload.mode == "zeros":
            return np.zeros(n_frames * FRAME_MS * SPM, np.float32)
        if payload.mode == "comfort_noise":
            frames = self.comfort.frames.frames(chunk.start_ms // FRAME_MS, n_frames)
        elif chunk.samples is None:
            frames = chunk.signal.frames(chunk.frame0, n_frames)
        else:
            return audio.quantize_pcm16(chunk.samples)
        return frames.reshape(-1)

    def _reduced_frames(self, samples: np.ndarray) -> Runs:
        """`audio.input.noise_reduction`: the server's detector hears the stage's output
        (`simulator.noise_reduction`), sample by sample, never a precomputed signal."""
        return self.decoder.frames_of(self.noise_reduction.process(samples))

    # -- sending -----------------------------------------------------------------------
    def _to_server(self, t_ms: int, events: list[dict[str, Any]]) -> None:
        for event in events:
            if event["type"] == "input_audio_buffer.append":
                payload = event["audio"]
                self.trace.chunks["sent"][self._captured[payload.tag].row] = payload.mode
                if self.webrtc:  # the chunk goes on the media track, not the data channel
                    lost = self.media_rng.random() < MEDIA_LOSS or self._media_lost(t_ms)
                    if not self.dead:
                        self.media.send(t_ms, (payload, lost))
                    continue
                self.trace.wire.append(WireRecord(t_ms, C2S, event, self.render))
            else:
                self.trace.wire.append(WireRecord(t_ms, C2S, event))
            if not self.dead:  # sent into a dead connection: never arrives
                self.uplink.send(t_ms, event)

    def _media_lost(self, t_ms: int) -> bool:
        return any(loss.start_ms <= t_ms < loss.start_ms + loss.duration_ms
                   for loss in self.scenario.network.media_losses)

    def _drop_connection(self, t_ms: int) -> None:
        """The connection dies (`ConnectionDrop`): what is in flight is lost."""
        self.dead = True
        self.trace.faults.append((t_ms, "start", "connection_drop"))
        for link in (self.uplink, self.downlink, self.media):
            link.reset()

    def _to_client(self, t_ms: int, events: list[dict[str, Any]]) -> None:
        if self.server_faults:
            events = self.server_faults.filter(self.server, events)
        if self.dead:
            events = []
        for event in events:
            if event["type"] == "response.output_audio.delta":
                self._item_response[event["item_id"]] = event["delta"].response_index
            self.downlink.send(t_ms, event)
        if self.server.audio_for_media:
            self._playing_index = self.server.audio_for_media[-1].response_index
            self.server.audio_for_media.clear()

    # -- the loop ----------------------------------------------------------------------
    def run(self) -> Trace:
        tick, chunk_ms = self.tick_ms, self.design.chunk_ms
        ticks_per_chunk = chunk_ms // tick
        self._record_utterances()
        self._to_client(0, self.server.start())
        self._to_server(0, self.client.start())
        notes: list[tuple] = []  # this chunk's ticks that are not plain environment audio
        fault_events = self._fault_schedule()
        # faults whose cause outlives a re-acquisition: (start, end or None, kind)
        lasting = [(f.start_ms, None if f.duration_ms is None else f.start_ms + f.duration_ms,
                    f.kind) for f in self.scenario.capture_faults if f.survives_reacquire]
        client, uplink, downlink, media = self.client, self.uplink, self.downlink, self.media
        end_ms = self.scenario.duration_ms
        audio_context = self.design.audio_context
        i = t = 0
        while t < end_ms:
            while self._drops and self._drops[0] <= t:
                self._drop_connection(self._drops.pop(0))
            while fault_events and fault_events[0][0] <= t:
                _, action, kind = fault_events.pop(0)
                self.trace.faults.append((t, action, kind))
                if action == "start":
                    client.capture.start_fault(kind)
                else:
                    client.capture.restore()
            if downlink.due(t):
                for event in downlink.deliver(t):
                    record = (WireRecord(t, S2C, event, self.render)
                              if event["type"] == "response.output_audio.delta"
                              else WireRecord(t, S2C, event))
                    self.trace.wire.append(record)
                    self._to_server(t, client.receive(event))
            if uplink.due(t):
                for event in uplink.deliver(t):
                    frames = ()
                    if event["type"] == "input_audio_buffer.append":
                        frames = self._record_frames(t, self._server_frames(event["audio"]))
                    self._to_client(t, self.server.receive(event, frames))
            if media.due(t):
                for payload, lost in media.deliver(t):
                    frames = self._record_frames(t, self._media_frames(payload, lost))
                    self._to_client(t, self.server.receive_audio(frames))
            # what plays during this tick (the client plays over a WebSocket, the server
            # over WebRTC) is echoed into the microphone
            playing = self._playing()
            player = self.server if self.webrtc else client.playback
            played_from = player.played_ms
            events = self.server.advance(tick)
            if events or self.server.audio_for_media:
                self._to_client(t, events)
            events = client.advance(tick)
            if events:
                self._to_server(t, events)
            played_ms = max(0, player.played_ms - played_from) if playing else 0
            capture = through_capture(client.capture.state, audio_context)
            if capture != CaptureState.LIVE or played_ms:
                notes.append((i % ticks_per_chunk, capture, playing, played_from, played_ms))
            if (i + 1) % ticks_per_chunk == 0:
                self._chunk(t + tick - chunk_ms, notes)
                notes = []
                # re-acquired on the chunk
                if lasting and client.capture.state == CaptureState.LIVE:
                    self._reimpose(t, lasting)
            if client.requests:
                self._handle_requests(t)
            if client.changes or self.server.changes or client.notices:
                self._record_transitions(t)
            i, t = i + 1, t + tick
            # fast-forward through ticks in which nothing happens but counting and playing
            skip = self.fast_forward and self._quiet_ticks(i, t, fault_events, ticks_per_chunk)
            if skip:
                playing = self._playing()
                played_from = (self.server if self.webrtc else client.playback).played_ms
                self.server.advance(skip * tick)
                client.advance(skip * tick)
                capture = through_capture(client.capture.state, audio_context)
                if capture != CaptureState.LIVE or playing:
                    played_ms = tick if playing else 0
                    notes += [((i + k) % ticks_per_chunk, capture, playing,
                               played_from + k * played_ms, played_ms) for k in range(skip)]
                i, t = i + skip, t + skip * tick
        self._record_transitions(end_ms)
        return self.trace

    def _reimpose(self, t: int, lasting: list[tuple]) -> None:
        """A re-acquired capture comes back with a fault whose cause outlives it."""
        for start, end, kind in lasting:
            if start <= t and (end is None or t < end):
                self.trace.faults.append((t, "start", kind))
                self.client.capture.start_fault(kind)
                return

    def _quiet_ticks(self, i: int, t: int, fault_events: list, ticks_per_chunk: int) -> int:
        """How many ticks from tick `i` (at `t`) can be skipped: none of them ends a chunk,
        starts or ends a fault, delivers a message or lets a timer fire."""
        tick = self.tick_ms
        skip = ticks_per_chunk - 1 - i % ticks_per_chunk
        for deadline in (self.server.ms_until_next_deadline(),
                         self.client.ms_until_next_deadline()):
            if deadline is not None:  # advancing short of a deadline changes only counters
                skip = min(skip, max(0, deadline - 1) // tick)
        if skip <= 0:
            return 0
        moment = self.scenario.duration_ms
        if fault_events:
            moment = min(moment, fault_events[0][0])
        if self._drops:
            moment = min(moment, self._drops[0])
        for link in (self.uplink, self.downlink, self.media):
            if link.next_arrival_ms is not None:
                moment = min(moment, link.next_arrival_ms)
        # a moment lets through the ticks that start before it
        return max(0, min(skip, -(-(moment - t) // tick)))

    def _fault_schedule(self) -> list[tuple[int, str, str]]:
        events = []
        for fault in self.scenario.capture_faults:
            events.append((fault.start_ms, "start", fault.kind))
            if fault.duration_ms is not None:
                events.append((fault.start_ms + fault.duration_ms, "end", fault.kind))
        for spike in self.scenario.network.spikes:
            self.trace.faults.append((spike.start_ms, "start", "latency_spike"))
            self.trace.faults.append((spike.start_ms + spike.duration_ms, "end", "latency_spike"))
        return sorted(events)

    def _playing(self) -> _Playing | None:
        if self.webrtc:
            return (_Playing(self._playing_index, self.server.response.item_id)
                    if self.server.out_playing else None)
        playback = self.client.playback
        if playback.state != PlaybackState.PLAYING or playback.item_id not in self._item_response:
            return None
        return _Playing(self._item_response[playback.item_id], playback.item_id)

    def _captured_samples(self, start_ms: int, notes: list[tuple]) -> np.ndarray | None:
        """The chunk's samples: the environment, plus the echo of what played, through the
        capture's state tick by tick (None when every tick was suspended)."""
        n = self.tick_ms * SPM
        samples = self.env[start_ms * SPM:(start_ms + self.design.chunk_ms) * SPM].copy()
        rows = samples.reshape(-1, n)
        by_state: dict[str, list[int]] = {}
        echo_gain = audio.dbfs_to_rms(self.scenario.echo_gain_db)
        run: list | None = None  # contiguous echo: [first tick, response, from ms, to ms]
        for k, state, playing, played_from, played_ms in notes:
            by_state.setdefault(state, []).append(k)
            # tick by tick: the muted track's noise comes in tick order
            if state == CaptureState.MUTED:
                rows[k] = audio.muted_capture(n, self.capture_rng)
            elif playing is not None and played_ms and state in (CaptureState.LIVE,
                                                                  CaptureState.ATTENUATED):
                index = playing.response_index
                if run and run[1] == index and run[3] == played_from and \
                        played_ms == self.tick_ms and k == run[0] + (run[3] - run[2]) // played_ms:
                    run[3] += played_ms
                    continue
                self._add_echo(samples, run, echo_gain)
                run = [k, index, played_from, played_from + played_ms]
        self._add_echo(samples, run, echo_gain)
        if CaptureState.ATTENUATED in by_state:
            rows[by_state[CaptureState.ATTENUATED]] *= self.attenuation_gain
        if CaptureState.DISABLED in by_state:
            rows[by_state[CaptureState.DISABLED]] = 0.0
        if CaptureState.SUSPENDED in by_state:
            keep = np.ones(len(rows), bool)
            keep[by_state[CaptureState.SUSPENDED]] = False
            samples = rows[keep].reshape(-1)
        return samples if len(samples) else None

    @property
    def attenuated_frames(self) -> SignalFrames:
        """The environment through an attenuated capture (known before the run too)."""
        if self._attenuated_frames is None:
            self._attenuated_frames = self._signal(lambda: self.env,
                                                   gain=self.attenuation_gain)
        return self._attenuated_frames

    def _known_signal(self, notes: list[tuple]) -> SignalFrames | None:
        """The known signal the chunk is a stretch of, if any: the environment as it is, or
        through an attenuated capture for the whole chunk, with no echo in it."""
        if not notes:
            return self.env_frames
        if len(notes) == self.design.chunk_ms // self.tick_ms and all(
                state == CaptureState.ATTENUATED and not played_ms
                for _, state, _, _, played_ms in notes):
            return self.attenuated_frames
        return None

    def _add_echo(self, samples: np.ndarray, run: list | None, gain: float) -> None:
        """Add the echo of response audio [from, to) ms, heard from tick `first` on."""
        if run is not None:
            first, index, from_ms, to_ms = run
            echo = self.assistant_audio(index)[from_ms * SPM:to_ms * SPM]
            start = first * self.tick_ms * SPM
            samples[start:start + len(echo)] += echo * gain

    def _chunk(self, start_ms: int, notes: list[tuple]) -> None:
        chunk_ms = self.design.chunk_ms
        end_ms = start_ms + chunk_ms  # when the worklet hands the chunk over
        c = self.trace.chunks
        known = self._known_signal(notes)
        if known is None:
            samples = self._captured_samples(start_ms, notes)
            if samples is None:
                _, events = self.client.on_chunk(None, chunk_ms)
                self._to_server(end_ms, events)
                return
            rms, zero, peak = features.chunk_stats_of(samples)
            # a chunk partly suspended is shorter: the context delivered only what it had
            chunk_ms = len(samples) // SPM
            chunk = CapturedChunk(len(c["t_ms"]), start_ms, chunk_ms, rms, samples=samples)
        else:
            k0 = start_ms // FRAME_MS
            rms, zero, peak = known.chunk_stats(k0, chunk_ms // FRAME_MS)
            chunk = CapturedChunk(len(c["t_ms"]), start_ms, chunk_ms, rms, frame0=k0,
                                  signal=known)
        level = self.scale.level_of(rms, zero)
        self._captured[start_ms] = chunk
        c["t_ms"].append(start_ms)
        c["rms"].append(round(rms, 6))
        c["level"].append(level)
        c["sent"].append("held")  # set when the chunk leaves the pre-roll line
        c["peak_int16"].append(peak)
        _, events = self.client.on_chunk(level, chunk_ms, tag=start_ms)
        self._to_server(end_ms, events)

    def _handle_requests(self, t: int) -> None:
        while self.client.requests:
            request = self.client.requests.pop(0)
            if isinstance(request, Reconnect):
                self._record_transitions(t)
                self.trace.reconnects += 1
                self.uplink.reset()
                self.downlink.reset()
                if self.dead:  # a new connection works again
                    self.dead = False
                    self.trace.faults.append((t, "end", "connection_drop"))
                old = self.server
                self.server = self._new_server()
                self.trace.transitions.extend(
                    (t, "server", m.NAME, "reconnect", before.state, m.state)
                    for m, before in zip(self.server.machines, old.machines)
                    if m.state != before.state)
                self.decoder = self._new_decoder()
                self.server_faults.new_connection()
                self._to_client(t, self.server.start())
                self._to_server(t, self.client.reconnected(request.replay))

    # -- recording ---------------------------------------------------------------------
    def _record_utterances(self) -> None:
        for u in sorted((*self.scenario.utterances, *self.recording_turns),
                        key=lambda u: u.start_ms):
            faulted = any(f.start_ms <= u.start_ms and
                          (f.duration_ms is None or u.start_ms < f.start_ms + f.duration_ms)
                          for f in self.scenario.capture_faults)
            healthy = (not faulted and u.duration_ms >= CLEAR_MIN_MS
                       and u.level_dbfs >= CLEAR_MIN_DBFS)
            self.trace.utterances.append(
                UtteranceRecord(u.start_ms, u.duration_ms, u.level_dbfs, healthy))

    def _record_frames(self, t: int, runs: Runs) -> Runs:
        frames = self.trace.frames
        for symbol, duration_ms in runs:
            frames["t_ms"].append(t)
            frames["duration_ms"].append(duration_ms)
            frames["level"].append(symbol.level)
            frames["kind"].append(int(symbol.kind))
        return runs

    def _record_transitions(self, t: int) -> None:
        for side, session in (("client", self.client), ("server", self.server)):
            if session.changes:
                self.trace.transitions.extend((t, side, *change) for change in session.changes)
                session.changes.clear()
        if self.client.notices:
            self.trace.notices.extend((t, n) for n in self.client.notices)
            self.client.notices.clear()


def detector_factory(hypotheses: ServerVadHypotheses) -> Callable[[], object] | None:
    """What makes a session's server detector: the hypotheses' engine, whose probability
    each frame compares with the session's threshold; None when the symbols decide (the
    symbolic hypotheses, at any threshold: the design's level scale moves their edges with
    it, as the explorer's does). Shared by the simulator and `vadlock serve`, so both hear
    with the same engine."""
    if hypotheses.engine is None:
        return None
    return detectors.factory(hypotheses.engine, **(
        {} if hypotheses.engine_option is None else {"mode": hypotheses.engine_option}))


def simulate(design: Design, hypotheses: ServerVadHypotheses, scenario: Scenario,
             seed: int = 0, tick_ms: int = 10, recording: np.ndarray | None = None,
             recording_turns: tuple = ()) -> Trace:
    """One session; `recording_turns` (objects with start_ms, duration_ms, level_dbfs: the
    speech turns found in `recording`) are counted as utterances, like the scenario's."""
    return Engine(design, hypotheses, scenario, seed, tick_ms, recording,
                  recording_turns=recording_turns).run()
