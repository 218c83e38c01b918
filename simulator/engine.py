"""The discrete-time engine: one session, one design, one hypothesis set, one scenario.

Time is integer milliseconds advancing by `tick_ms` (10 ms by default; it must divide the
design's chunk). Each tick: capture faults change -> downlink deliveries reach the client
-> uplink deliveries reach the server -> the server advances (responses generate) -> the
client advances (playback, watchdogs) -> the environment's samples plus the echo of
playback go through capture -> a complete chunk goes through the gate to `append`.
All randomness comes from numpy Generators derived from the seed.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import numpy as np

from model import protocol
from model.client.session import ClientSession
from model.designs import Design
from model.hypotheses import ServerVadHypotheses
from model.server.session import ServerSession
from model.symbols import FrameSymbol, LevelScale
from simulator import audio, features
from simulator.scenario import Scenario
from simulator.trace import C2S, S2C, Trace, UtteranceRecord, WireRecord
from simulator.transport import Link

SPM = audio.SAMPLES_PER_MS
ATTENUATION_GAIN = 10 ** (-40 / 20)  # an "attenuated" capture: about 40 dB down
DTX_RMS = 0.002  # WebRTC/Opus DTX: chunks quieter than about -54 dBFS go as comfort noise
DTX_COMFORT_DBFS = -70.0
MEDIA_LOSS = 0.01  # WebRTC media path: packet loss, concealed as comfort noise
HEALTHY_MIN_MS = 400
HEALTHY_MIN_DBFS = -35.0


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
    for i, u in enumerate(scenario.utterances):
        voice = audio.speech(u.duration_ms, audio.dbfs_to_rms(u.level_dbfs), _rng(seed, 2, i))
        start = u.start_ms * SPM
        end = min(n, start + len(voice))
        if start < n:
            signal[start:end] += voice[: end - start]
    for i, t in enumerate(scenario.typing):
        keys = audio.keyboard(t.duration_ms, t.keys_per_s, audio.dbfs_to_rms(t.peak_dbfs),
                              _rng(seed, 3, i))
        start = t.start_ms * SPM
        end = min(n, start + len(keys))
        if start < n:
            signal[start:end] += keys[: end - start]
    for i, seg in enumerate(scenario.segments):
        rng = _rng(seed, 9, i)
        level = audio.dbfs_to_rms(seg.level_dbfs)
        if seg.kind == "speech":
            part = audio.speech(seg.duration_ms, level, rng)
        elif seg.kind == "typing":
            part = audio.keyboard(seg.duration_ms, 8.0, level, rng)
        else:
            part = audio.pink_noise(seg.duration_ms * SPM, level, rng)
        start = seg.start_ms * SPM
        end = min(n, start + len(part))
        if start < n:
            signal[start:end] += part[: end - start]
    if recording is not None:
        m = min(n, len(recording))
        signal[:m] += recording[:m]
    return signal


class ServerAudioDecoder:
    """What the server hears: base64 pcm16 -> 10 ms frames -> run-length symbols."""

    def __init__(self, scale: LevelScale, frame_ms: int = 10) -> None:
        self.scale = scale
        self.frame_n = frame_ms * SPM
        self.frame_ms = frame_ms
        self.context = np.zeros(self.frame_n, np.float32)

    def frames(self, b64_audio: str) -> list[tuple[FrameSymbol, int]]:
        return self.frames_of(audio.from_pcm16(base64.b64decode(b64_audio)))

    def frames_of(self, samples: np.ndarray) -> list[tuple[FrameSymbol, int]]:
        usable = len(samples) // self.frame_n * self.frame_n
        if usable == 0:
            return []
        frames = samples[:usable].reshape(-1, self.frame_n)
        history = np.concatenate([self.context[None, :], frames[:-1]])
        windows = np.concatenate([history, frames], axis=1)
        self.context = frames[-1].copy()
        runs: list[tuple[FrameSymbol, int]] = []
        for symbol in features.symbols(frames, self.scale, windows):
            if runs and runs[-1][0] == symbol:
                runs[-1] = (symbol, runs[-1][1] + self.frame_ms)
            else:
                runs.append((symbol, self.frame_ms))
        return runs


@dataclass
class _Playing:
    response_index: int
    item_id: str


class Engine:
    def __init__(self, design: Design, hypotheses: ServerVadHypotheses, scenario: Scenario,
                 seed: int = 0, tick_ms: int = 10, recording: np.ndarray | None = None) -> None:
        if tick_ms <= 0 or design.chunk_ms % tick_ms:
            raise SimulationError(
                f"tick_ms={tick_ms} must be a positive divisor of chunk_ms={design.chunk_ms}")
        self.design, self.hypotheses, self.scenario = design, hypotheses, scenario
        self.seed, self.tick_ms = seed, tick_ms
        self.scale = design.level_scale
        self.env = environment_audio(scenario, seed, recording)
        self.capture_rng = _rng(seed, 4)
        self.comfort_rng = _rng(seed, 5)
        self.uplink = Link(scenario.network.uplink_latency_ms, scenario.network.jitter_ms,
                           scenario.network.spikes, _rng(seed, 6))
        self.downlink = Link(scenario.network.downlink_latency_ms, scenario.network.jitter_ms,
                             scenario.network.spikes, _rng(seed, 7))
        self.client = ClientSession(design)
        self.server = self._new_server()
        self.webrtc = design.transport == "webrtc"
        self.media = Link(scenario.network.uplink_latency_ms // 2, scenario.network.jitter_ms * 2,
                          scenario.network.spikes, _rng(seed, 10))
        self.media_rng = _rng(seed, 11)
        self._captured: dict[int, tuple[int, np.ndarray]] = {}  # chunk start -> (row, samples)
        self.decoder = ServerAudioDecoder(self.scale)
        self._assistant_audio: dict[int, np.ndarray] = {}
        self._playing_index = 0
        self._item_response: dict[str, int] = {}
        self.trace = Trace(design.name, hypotheses.label, scenario.name, seed, tick_ms,
                           scenario.duration_ms)

    def _new_server(self) -> ServerSession:
        return ServerSession(self.hypotheses, self.scale, dict(self.client.turn_detection),
                             self.scenario.response_ms,
                             owns_output_buffer=self.design.transport == "webrtc")

    # -- audio rendering -----------------------------------------------------------------
    def assistant_audio(self, index: int) -> np.ndarray:
        if index not in self._assistant_audio:
            total = self.scenario.response_ms(index)
            self._assistant_audio[index] = audio.speech(total, 0.08, _rng(self.seed, 8, index))
        return self._assistant_audio[index]

    def _render(self, event: dict[str, Any]) -> dict[str, Any]:
        for key in ("audio", "delta"):
            payload = event.get(key)
            if isinstance(payload, protocol.AudioPayload):
                if payload.source == "assistant":
                    voice = self.assistant_audio(payload.response_index)
                    samples = voice[payload.offset_ms * SPM:
                                    (payload.offset_ms + payload.duration_ms) * SPM]
                    self._item_response[event["item_id"]] = payload.response_index
                else:
                    samples = self._mic_payload(payload)
                event = {**event, key: base64.b64encode(audio.to_pcm16(samples)).decode()}
        return event

    def _mic_payload(self, payload: protocol.AudioPayload) -> np.ndarray:
        row, samples = self._captured.pop(payload.tag)
        self.trace.chunks["sent"][row] = payload.mode
        if payload.mode == "zeros":
            return np.zeros_like(samples)
        if payload.mode == "comfort_noise":
            return audio.pink_noise(len(samples), audio.dbfs_to_rms(
                self.design.gate.comfort_noise_dbfs), self.comfort_rng)
        return samples

    # -- sending -----------------------------------------------------------------------
    def _to_server(self, t_ms: int, events: list[dict[str, Any]]) -> None:
        for event in events:
            if self.webrtc and event["type"] == "input_audio_buffer.append":
                self._to_media(t_ms, event["audio"])
                continue
            wire = self._render(event)
            self.trace.wire.append(WireRecord(t_ms, C2S, wire))
            self.uplink.send(t_ms, wire)

    def _to_media(self, t_ms: int, payload: protocol.AudioPayload) -> None:
        """WebRTC: the chunk goes on the media track: DTX comfort noise for silence, loss."""
        samples = self._mic_payload(payload)
        lost = self.media_rng.random() < MEDIA_LOSS
        if lost or float(features.rms(samples[None, :])[0]) < DTX_RMS:
            samples = audio.pink_noise(len(samples), audio.dbfs_to_rms(DTX_COMFORT_DBFS),
                                       self.comfort_rng)
        self.media.send(t_ms, samples)

    def _to_client(self, t_ms: int, events: list[dict[str, Any]]) -> None:
        for event in events:
            self.downlink.send(t_ms, self._render(event))
        if self.server.audio_for_media:
            for payload in self.server.audio_for_media:
                self.assistant_audio(payload.response_index)
            self._playing_index = self.server.audio_for_media[-1].response_index
            self.server.audio_for_media.clear()

    # -- the loop ----------------------------------------------------------------------
    def run(self) -> Trace:
        tick, chunk_ms = self.tick_ms, self.design.chunk_ms
        self._record_utterances()
        self._to_client(0, self.server.start())
        self._to_server(0, self.client.start())
        pending: list[np.ndarray] = []
        fault_events = self._fault_schedule()
        for t in range(0, self.scenario.duration_ms, tick):
            while fault_events and fault_events[0][0] <= t:
                _, action, kind = fault_events.pop(0)
                self.trace.faults.append((t, action, kind))
                if action == "start":
                    self.client.capture.start_fault(kind)
                else:
                    self.client.capture.restore()
            for event in self.downlink.deliver(t):
                self.trace.wire.append(WireRecord(t, S2C, event))
                self._to_server(t, self.client.receive(event))
            for event in self.uplink.deliver(t):
                frames = (self.decoder.frames(event["audio"])
                          if event["type"] == "input_audio_buffer.append" else ())
                self._to_client(t, self.server.receive(event, frames))
            for samples in self.media.deliver(t):
                self._to_client(t, self.server.receive_audio(self.decoder.frames_of(samples)))
            self._to_client(t, self.server.advance(tick))
            playing = self._playing()
            player = self.server if self.webrtc else self.client.playback
            played_from = player.played_ms
            self._to_server(t, self.client.advance(tick))
            played_ms = player.played_ms - played_from if playing else 0
            samples = self._mic(t, tick, playing, played_from, played_ms)
            if samples is not None:
                pending.append(samples)
            if (t + tick) % chunk_ms == 0:
                self._chunk(t + tick, pending, chunk_ms)
                pending = []
            self._handle_requests(t)
            self._record_tick(t)
        self._record_transitions(self.scenario.duration_ms)
        return self.trace

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
        item = self.client.playback.item_id
        if self.client.playback.state != "playing" or item not in self._item_response:
            return None
        return _Playing(self._item_response[item], item)

    def _mic(self, t: int, tick: int, playing: _Playing | None, played_from: int,
             played_ms: int) -> np.ndarray | None:
        state = self.client.capture.state
        n = tick * SPM
        if state == "suspended":
            return None
        if state == "disabled":
            return np.zeros(n, np.float32)
        if state == "muted":
            return audio.muted_capture(n, self.capture_rng)
        samples = self.env[t * SPM:(t + tick) * SPM].copy()
        if playing is not None and played_ms:
            voice = self.assistant_audio(playing.response_index)
            echo = voice[played_from * SPM:(played_from + played_ms) * SPM]
            samples[: len(echo)] += echo * audio.dbfs_to_rms(self.scenario.echo_gain_db)
        if state == "attenuated":
            samples = samples * ATTENUATION_GAIN
        return samples

    def _chunk(self, t_ms: int, pending: list[np.ndarray], chunk_ms: int) -> None:
        if not pending:
            _, events = self.client.on_chunk(None, chunk_ms)
            self._to_server(t_ms, events)
            return
        chunk = np.concatenate(pending)
        rms = float(features.rms(chunk[None, :])[0])
        level = self.scale.level_of(rms, not np.any(chunk))
        c = self.trace.chunks
        start = t_ms - chunk_ms
        self._captured[start] = (len(c["t_ms"]), chunk)
        c["t_ms"].append(start)
        c["rms"].append(round(rms, 6))
        c["level"].append(level)
        c["kind"].append(int(features.kinds(chunk[None, :])[0]))
        c["sent"].append("held")  # set when the chunk leaves the pre-roll line
        c["peak_int16"].append(int(np.max(np.abs(np.round(chunk * 32767.0)))))
        _, events = self.client.on_chunk(level, chunk_ms, tag=start)
        self._to_server(t_ms, events)

    def _handle_requests(self, t: int) -> None:
        while self.client.requests:
            request = self.client.requests.pop(0)
            if request[0] == "reconnect":
                self._record_transitions(t)
                self.trace.reconnects += 1
                self.uplink.reset()
                self.downlink.reset()
                self.server = self._new_server()
                self.decoder = ServerAudioDecoder(self.scale)
                self._to_client(t, self.server.start())
                self._to_server(t, self.client.reconnected())

    # -- recording ---------------------------------------------------------------------
    def _record_utterances(self) -> None:
        for u in self.scenario.utterances:
            faulted = any(f.start_ms <= u.start_ms and
                          (f.duration_ms is None or u.start_ms < f.start_ms + f.duration_ms)
                          for f in self.scenario.capture_faults)
            healthy = (not faulted and u.duration_ms >= HEALTHY_MIN_MS
                       and u.level_dbfs >= HEALTHY_MIN_DBFS)
            self.trace.utterances.append(
                UtteranceRecord(u.start_ms, u.duration_ms, u.level_dbfs, healthy))

    def _record_transitions(self, t: int) -> None:
        for side, session in (("client", self.client), ("server", self.server)):
            if session.changes:
                self.trace.transitions.extend((t, side, *change) for change in session.changes)
                session.changes.clear()
        if self.client.notices:
            self.trace.notices.extend((t, n) for n in self.client.notices)
            self.client.notices.clear()

    def _record_tick(self, t: int) -> None:
        self._record_transitions(t)
        ticks = self.trace.ticks
        ticks["t_ms"].append(t)
        ticks["server_vad"].append(self.server.vad.state)
        ticks["playback"].append(self.client.playback.state)
        ticks["capture"].append(self.client.capture.state)
        ticks["beliefs"].append(self.client.beliefs.state)
        ticks["response"].append(self.server.response.state)
        ticks["watchdog"].append(self.client.watchdog.state if self.client.watchdog else "none")


def simulate(design: Design, hypotheses: ServerVadHypotheses, scenario: Scenario,
             seed: int = 0, tick_ms: int = 10, recording: np.ndarray | None = None) -> Trace:
    return Engine(design, hypotheses, scenario, seed, tick_ms, recording).run()
