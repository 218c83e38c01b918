"""Real recordings as the microphone signal: WAV in, 24 kHz mono float32 out.

`load_wav(path)` reads any sample rate (resampled to 24 kHz with a windowed-sinc polyphase
filter, which is also the anti-alias low-pass), mono or multi-channel (averaged to mono),
and these encodings: integer PCM of 8 (unsigned), 16, 24 or 32 bits (read with the stdlib
`wave` module) and IEEE float of 32 or 64 bits (format tag 3), plain or inside
WAVE_FORMAT_EXTENSIBLE (RIFF chunks parsed here). Integers are scaled by their full scale
(int16: /32768, as `simulator.audio.from_pcm16`); floats are clipped to [-1, 1], NaN -> 0.
A bad file raises `RecordingError` (a `ValueError`) with one line starting with the path.

`scenario_for_recording` wraps a recording in a scenario of its own length with no
synthetic speech, so `simulate(..., recording=samples)` runs the recording alone (the
engine adds the recording to the environment audio from t = 0); `audio_scenario` is that
step for `simulate --audio`: it places the recording at a time (`--audio-start-ms`),
finds its speech turns with a real detector (`speech_turns`) so that they count as
utterances, and lets the session run on after the recording ends for as long as a turn
needs to complete (`completion_tail_ms`; `--audio-tail-ms` changes it). A doubtful file
(shorter than `MIN_RECORDING_MS`, a sample rate outside `RATE_RANGE_HZ`) is refused.
`place_recordings` builds the array from (start_ms, WAV path,
gain_db) entries, for a scenario field that references WAV segments.
`vadlock recording FILE.wav` shows what a design sees of one.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import struct
import sys
import wave
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable

import numpy as np

from vadlock.simulator.audio import SAMPLE_RATE_HZ, SAMPLES_PER_MS, rms_to_dbfs, to_pcm16
from vadlock.simulator.scenario import MAX_DURATION_MS, Scenario

PCM, IEEE_FLOAT, EXTENSIBLE = 1, 3, 0xFFFE
MIN_RECORDING_MS = 100  # shorter is not a recording of anyone speaking
RATE_RANGE_HZ = (4_000, 384_000)  # telephone narrowband .. the highest studio rate
COMPLETION_MARGIN_MS = 1_000
ZERO_CROSSINGS = 16  # filter half-length, in zero crossings of the narrower band edge
ROLLOFF = 0.94  # pass band edge as a share of the lower Nyquist frequency
KAISER_BETA = 8.6  # about 80 dB stop-band attenuation


class RecordingError(ValueError):
    """An unreadable or unsupported audio file (one line, starts with the path)."""


@dataclass(frozen=True)
class WavFormat:
    """What the file held before conversion."""

    rate: int
    channels: int
    encoding: str  # pcm8 | pcm16 | pcm24 | pcm32 | float32 | float64
    frames: int

    @property
    def duration_ms(self) -> int:
        return self.frames * 1000 // self.rate


# -- reading -------------------------------------------------------------------------
def load_wav(path: str | Path) -> np.ndarray:
    """The recording as 24 kHz mono float32 in [-1, 1]."""
    return read_wav(path)[0]


def read_wav(path: str | Path) -> tuple[np.ndarray, WavFormat]:
    """The recording as 24 kHz mono float32, and the file's own format."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read ({exc.__class__.__name__})") from None
    if not data:
        raise RecordingError(f"{path}: empty")
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise RecordingError(f"{path}: not a WAV file")
    chunks = _chunks(data)
    if "fmt " not in chunks or len(chunks["fmt "]) < 16:
        raise RecordingError(f"{path}: not a WAV file (no fmt chunk)")
    if "data" not in chunks:
        raise RecordingError(f"{path}: not a WAV file (no data chunk)")
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", chunks["fmt "][:16])
    if channels < 1 or rate < 1:
        raise RecordingError(f"{path}: unsupported sample format ({channels} channels, "
                             f"{rate} Hz)")
    if tag == EXTENSIBLE:
        fmt = chunks["fmt "]
        if len(fmt) < 26:
            raise RecordingError(f"{path}: unsupported sample format (truncated "
                                 "WAVE_FORMAT_EXTENSIBLE header)")
        tag = struct.unpack("<H", fmt[24:26])[0]  # first two bytes of the sub-format GUID
        raw = _decode(chunks["data"], tag, bits, path)
    elif tag == PCM:
        raw = _decode_with_wave(data, path)
    else:
        raw = _decode(chunks["data"], tag, bits, path)
    frames = len(raw) // channels
    if frames == 0:
        raise RecordingError(f"{path}: empty (no audio samples)")
    mono = raw[: frames * channels].reshape(frames, channels).mean(axis=1)
    samples = np.clip(np.nan_to_num(resample(mono, rate)), -1.0, 1.0).astype(np.float32)
    encoding = ("float" if tag == IEEE_FLOAT else "pcm") + str(bits)
    return samples, WavFormat(rate, channels, encoding, frames)


def _chunks(data: bytes) -> dict[str, bytes]:
    """The RIFF chunks by id (first of each); a chunk cut short keeps what is there."""
    chunks: dict[str, bytes] = {}
    pos = 12
    while pos + 8 <= len(data):
        ident = data[pos:pos + 4].decode("latin-1")
        size = struct.unpack("<I", data[pos + 4:pos + 8])[0]
        chunks.setdefault(ident, data[pos + 8:pos + 8 + size])
        pos += 8 + size + (size & 1)
    return chunks


def _decode_with_wave(data: bytes, path: str | Path) -> np.ndarray:
    try:
        with wave.open(io.BytesIO(data)) as wav:
            width = wav.getsampwidth()
            raw = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError, struct.error) as exc:
        raise RecordingError(f"{path}: cannot read ({exc})") from None
    return _decode(raw, PCM, 8 * width, path)


def _decode(raw: bytes, tag: int, bits: int, path: str | Path) -> np.ndarray:
    """Interleaved samples as float64, full scale 1."""
    if tag == PCM and bits in (8, 16, 24, 32):
        width = bits // 8
        raw = raw[: len(raw) // width * width]
        if bits == 8:
            return (np.frombuffer(raw, np.uint8).astype(np.float64) - 128.0) / 128.0
        if bits == 24:
            b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
            value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
            return np.where(value >= 1 << 23, value - (1 << 24), value) / float(1 << 23)
        dtype = "<i2" if bits == 16 else "<i4"
        return np.frombuffer(raw, dtype).astype(np.float64) / float(1 << (bits - 1))
    if tag == IEEE_FLOAT and bits in (32, 64):
        width = bits // 8
        raw = raw[: len(raw) // width * width]
        return np.frombuffer(raw, "<f4" if bits == 32 else "<f8").astype(np.float64)
    kind = {PCM: "integer PCM", IEEE_FLOAT: "IEEE float"}.get(tag, f"format tag {tag}")
    raise RecordingError(f"{path}: unsupported sample format ({kind}, {bits} bits)")


# -- resampling ----------------------------------------------------------------------
def resample(samples: np.ndarray, rate_in: int, rate_out: int = SAMPLE_RATE_HZ,
             block: int = 1 << 15) -> np.ndarray:
    """Polyphase windowed-sinc resampling (Kaiser window), zero delay; float64 out.

    Up by L, low-pass at ROLLOFF x the lower Nyquist, down by M (L/M = rate_out/rate_in
    in lowest terms). Output length is ceil(n * L / M).
    """
    x = np.asarray(samples, np.float64)
    if rate_in == rate_out:
        return x.copy()
    g = math.gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g
    cutoff = ROLLOFF * 0.5 / max(up, down)  # cycles per sample of the up-sampled signal
    half = ZERO_CROSSINGS * max(up, down)
    k = np.arange(-half, half + 1)
    taps = 2 * cutoff * np.sinc(2 * cutoff * k) * np.kaiser(2 * half + 1, KAISER_BETA) * up
    per_phase = -(-len(taps) // up)
    phases = np.zeros((up, per_phase))
    for r in range(up):
        sub = taps[r::up]
        phases[r, : len(sub)] = sub
    n_out = -(-len(x) * up // down)
    pad = per_phase
    padded = np.concatenate([np.zeros(pad), x, np.zeros(pad + half // up + 2)])
    out = np.empty(n_out)
    j = np.arange(per_phase)
    for start in range(0, n_out, block):
        m = np.arange(start, min(n_out, start + block), dtype=np.int64)
        t = m * down + half  # position in the up-sampled signal, filter centred
        r = t % up
        base = (t - r) // up
        out[m] = np.einsum("ij,ij->i", padded[base[:, None] - j[None, :] + pad], phases[r])
    return out


# -- writing -------------------------------------------------------------------------
def write_wav(path: str | Path, samples: np.ndarray, rate: int = SAMPLE_RATE_HZ) -> Path:
    """16-bit PCM WAV; `samples` is (n,) mono or (n, channels), float in [-1, 1]."""
    samples = np.asarray(samples, np.float64)
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(to_pcm16(samples.reshape(-1)))
    return path


# -- recordings in scenarios ---------------------------------------------------------
def scenario_for_recording(samples: np.ndarray, name: str) -> Scenario:
    """A scenario as long as the recording, with no synthetic speech and no room noise
    to speak of (-120 dBFS): the recording is the whole microphone signal."""
    duration_ms = len(samples) // SAMPLES_PER_MS
    if not 0 < duration_ms <= MAX_DURATION_MS:
        raise RecordingError(f"{name}: recording must last 1 ms to {MAX_DURATION_MS // 1000} s, "
                             f"got {len(samples) / SAMPLE_RATE_HZ:.3f} s")
    return Scenario(name=name, duration_ms=duration_ms, room_noise_dbfs=-120.0,
                    description=f"the recording {name} as the microphone signal")


def place_recordings(entries: Iterable[tuple[int, str | Path | np.ndarray, float]],
                     duration_ms: int, base_dir: str | Path | None = None) -> np.ndarray:
    """One array for `simulate(recording=...)`: each (start_ms, WAV path or 24 kHz
    samples, gain_db) entry scaled and added at its start; relative paths are taken
    from `base_dir` (the scenario file's folder)."""
    out = np.zeros(duration_ms * SAMPLES_PER_MS, np.float32)
    for start_ms, source, gain_db in entries:
        if isinstance(source, np.ndarray):
            part = source.astype(np.float32)
        else:
            wav_path = Path(source)
            if base_dir is not None and not wav_path.is_absolute():
                wav_path = Path(base_dir) / wav_path
            part = load_wav(wav_path)
        part = part * np.float32(10 ** (gain_db / 20))
        start = start_ms * SAMPLES_PER_MS
        end = min(len(out), start + len(part))
        if start < end:
            out[start:end] += part[: end - start]
    return np.clip(out, -1.0, 1.0)


def check_plausible(fmt: WavFormat, path: str | Path) -> None:
    """Refuse a file no microphone recorded: a few ms long, or an absurd sample rate."""
    low, high = RATE_RANGE_HZ
    if not low <= fmt.rate <= high:
        raise RecordingError(f"{path}: sample rate {fmt.rate} Hz is not a recording's "
                             f"(expected {low}..{high} Hz)")
    if fmt.duration_ms < MIN_RECORDING_MS:
        raise RecordingError(f"{path}: {fmt.frames} samples ({fmt.duration_ms} ms) is too "
                             f"short to hold speech (at least {MIN_RECORDING_MS} ms)")


def completion_tail_ms(silence_duration_ms: int, response_audio_ms: Iterable[int]) -> int:
    """How long a session runs on after a recording ends, so that a turn ending with the
    recording completes: the server's silence duration (speech_stopped), the delay to a
    response's first audio, the longest response's audio, and a margin of
    COMPLETION_MARGIN_MS."""
    from vadlock.model.server.response import FIRST_AUDIO_DELAY_MS

    return (silence_duration_ms + FIRST_AUDIO_DELAY_MS + max(response_audio_ms, default=0)
            + COMPLETION_MARGIN_MS)


def audio_scenario(path: str | Path, scenario: Scenario | None = None,
                   duration_ms: int | None = None, start_ms: int = 0,
                   tail_ms: int | None = None, silence_duration_ms: int = 500
                   ) -> tuple[Scenario, np.ndarray, tuple]:
    """For `simulate --audio FILE`: (the scenario to run, the microphone signal the
    recording makes, the recording's speech turns as `Utterance`s). The recording starts
    at `start_ms`; without a scenario it runs alone (`scenario_for_recording`), with one
    it is added to that scenario's audio. The session lasts until the recording ends plus
    `tail_ms` (default `completion_tail_ms`), or the scenario's length if longer;
    `duration_ms` overrides the length."""
    from vadlock.simulator.scenario import Utterance
    from vadlock.simulator.speech_turns import speech_turns

    if start_ms < 0 or (tail_ms is not None and tail_ms < 0):
        raise RecordingError(f"{path}: the start and the tail must not be negative")
    samples, fmt = read_wav(path)
    check_plausible(fmt, path)
    if scenario is None:
        scenario = scenario_for_recording(samples, Path(path).stem)
        own_length = 0
    else:
        own_length = scenario.duration_ms
    if tail_ms is None:
        tail_ms = completion_tail_ms(silence_duration_ms, scenario.response_audio_ms)
    end_ms = start_ms + len(samples) // SAMPLES_PER_MS
    length = duration_ms if duration_ms is not None else max(own_length, end_ms + tail_ms)
    if not 0 < length <= MAX_DURATION_MS:
        raise RecordingError(f"{path}: the session would last {length / 1000:.1f} s "
                             f"(at most {MAX_DURATION_MS // 1000} s)")
    scenario = replace(scenario, duration_ms=length)
    signal = np.concatenate([np.zeros(start_ms * SAMPLES_PER_MS, np.float32), samples])
    turns = tuple(Utterance(start_ms + t.start_ms, t.duration_ms, t.level_dbfs)
                  for t in speech_turns(samples) if start_ms + t.start_ms < length)
    return scenario, signal, turns


# -- vadlock recording ---------------------------------------------------------------
def describe(samples: np.ndarray, fmt: WavFormat, design_name: str = "production") -> dict:
    """What a design's client sees of a recording, chunk by chunk (its `chunk_ms`)."""
    from vadlock.model.designs import get_design
    from vadlock.simulator import features

    design = get_design(design_name)
    scale = design.level_scale
    n = design.chunk_ms * SAMPLES_PER_MS
    chunks = samples[: len(samples) // n * n].reshape(-1, n)
    levels = [s.level for s in features.symbols(chunks, scale)] if len(chunks) else []
    gate = scale.threshold_level("gate")
    names = scale.names
    return {
        "source": {"rate": fmt.rate, "channels": fmt.channels, "encoding": fmt.encoding,
                   "frames": fmt.frames},
        "duration_ms": len(samples) // SAMPLES_PER_MS,
        "rms_dbfs": round(rms_to_dbfs(float(np.sqrt(np.mean(np.square(samples,
                                                                        dtype=np.float64))))), 2),
        "peak_int16": int(np.max(np.abs(np.round(samples * 32767.0)))),
        "design": design.name,
        "chunk_ms": design.chunk_ms,
        "chunks": len(levels),
        "chunk_levels": {names[i]: levels.count(i) for i in range(len(names))
                         if levels.count(i)},
        "below_gate": sum(1 for lv in levels if lv < gate) if design.gate.mode != "off" else 0,
    }


def add_parser(subparsers) -> argparse.ArgumentParser:
    from vadlock.simulator.options import add_design_options, add_json_option, help_formatter

    p = subparsers.add_parser(
        "recording", formatter_class=help_formatter,
        help="what a design's client sees of a WAV recording",
        description="Load a WAV recording as vadlock does for 'simulate --audio' (any rate, "
        "resampled to 24 kHz;\nchannels averaged; 8/16/24/32-bit integer or 32/64-bit float) "
        "and show its level per chunk\nagainst the design's thresholds, and how many chunks "
        "the client's VAD gate would zero.\nExit 0, or 2 for a file that cannot be used.")
    p.add_argument("wav", metavar="FILE.wav")
    add_design_options(p, what="design whose thresholds and chunk size to use")
    add_json_option(p)
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from vadlock.simulator.options import design_name

    design = design_name(args)  # a bad name fails before the file is read
    samples, fmt = read_wav(args.wav)
    try:
        check_plausible(fmt, args.wav)
    except RecordingError as exc:  # shown, but `simulate --audio` refuses it
        print(f"vadlock recording: warning: {exc}", file=sys.stderr)
    info = describe(samples, fmt, design)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    src = info["source"]
    print(f"{args.wav}: {src['encoding']}, {src['channels']} channel(s), {src['rate']} Hz, "
          f"{info['duration_ms'] / 1000:.2f} s")
    print(f"  level {info['rms_dbfs']} dBFS RMS, peak {info['peak_int16']} (int16)")
    print(f"  {info['chunks']} chunks of {info['chunk_ms']} ms, by level band "
          f"({info['design']} thresholds):")
    for name, count in info["chunk_levels"].items():
        print(f"    {name:18} {count}")
    print(f"  zeroed by the {info['design']} gate: {info['below_gate']} of {info['chunks']}")
    return 0
