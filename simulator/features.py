"""From samples to frame symbols: RMS, exact zeros, and the frame's kind.

Kind, per analysis window (a 10 ms frame and the one before it): SPEECH when the
pre-emphasised signal, at 8 kHz, correlates with itself one pitch period later (80-250 Hz)
with a normalised cross-correlation of at least 0.7, over the overlap only (voiced speech:
99 % of active frames; pink, white and muted-microphone noise: none; key clicks: about
0.2 %, two clicks close together); otherwise TRANSIENT when its loudest 2 ms block holds at
least 20 times the energy of its median block (clicks; pink room noise stays under 17,
but the glottal pulses of a low voice do not, hence periodicity first); else STATIONARY.
The thresholds are calibrated on the synthetic audio by `tests/test_features.py`. An all-zero frame has no kind: it is always
`ZERO` (exact digital silence, stationary), whatever came before it.

Everything is vectorised over frames with numpy. `SignalFrames` holds the per-frame
features of a signal known before the run (the environment's audio, a comfort-noise
track), computed in batches on first use, so that the engine pays per batch of frames
and not per chunk.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from vadlock.model.symbols import ZERO, FrameSymbol, Kind, LevelScale
from vadlock.simulator.audio import SAMPLE_RATE_HZ, SAMPLES_PER_MS, quantize_pcm16

FRAME_MS = 10
FRAME_N = FRAME_MS * SAMPLES_PER_MS
TRANSIENT_PEAK_TO_MEDIAN = 20.0  # energy of the loudest 2 ms block over the median block's
_BLOCK = 2 * SAMPLE_RATE_HZ // 1000
PERIODICITY_SPEECH = 0.7  # normalised cross-correlation at the best pitch lag
OVERLAP_ENERGY_SHARE = 0.05  # each overlapping part must hold this share of the energy
_DECIMATE = 3  # periodicity is judged at 8 kHz: pitch lives far below 4 kHz
_RATE = SAMPLE_RATE_HZ // _DECIMATE
_MIN_LAG = _RATE // 250
_MAX_LAG = _RATE // 80
BATCH_FRAMES = 100  # numpy's sweet spot for (frames x FFT) work on this machine
_KINDS = (Kind.SPEECH, Kind.TRANSIENT, Kind.STATIONARY)


def rms(frames: np.ndarray) -> np.ndarray:
    """RMS per row, its squares summed in float64 by numpy itself (never the BLAS, whose
    CPU-dependent kernels change the last bits: see `audio.energy`)."""
    frames = np.atleast_2d(frames)
    return np.sqrt(np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / frames.shape[1])


def kinds(windows: np.ndarray) -> np.ndarray:
    """Kind of each row of `windows` (n, L), as an int array of `Kind` values."""
    windows = np.atleast_2d(windows)
    n, length = windows.shape
    usable = length // _BLOCK * _BLOCK
    block_energy = np.square(windows[:, :usable], dtype=np.float64).reshape(
        n, -1, _BLOCK).sum(axis=2)
    impulsive = _impulsive(block_energy)
    cut = length // _DECIMATE * _DECIMATE
    low = windows[:, 0:cut:_DECIMATE].astype(np.float64)
    for phase in range(1, _DECIMATE):  # a boxcar to 8 kHz (the sum: scale does not matter)
        low += windows[:, phase:cut:_DECIMATE]
    emphasised = low[:, 1:] - 0.9 * low[:, :-1]
    m = emphasised.shape[1]
    max_lag = min(_MAX_LAG, m - 1 - m // 4)
    periodic = np.zeros(n, bool)
    if max_lag > _MIN_LAG:
        # the normalised cross-correlation of the window with itself `lag` later, over the
        # overlap only; a lag counts when both overlapping parts hold some of the energy
        size = -(-(m + max_lag) // 32) * 32  # zero-padding enough for a linear correlation
        spectrum = np.fft.rfft(emphasised, size, axis=1)
        auto = np.fft.irfft(spectrum.real ** 2 + spectrum.imag ** 2, size, axis=1)
        lags = np.arange(_MIN_LAG, max_lag)
        cumulative = np.cumsum(emphasised ** 2, axis=1)
        total = cumulative[:, -1:]
        head = cumulative[:, m - 1 - lags]  # energy of the first m - lag samples
        tail = total - cumulative[:, lags - 1]  # energy of the last m - lag samples
        nccf = auto[:, _MIN_LAG:max_lag] / np.sqrt(np.maximum(head * tail, 1e-300))
        nccf *= np.minimum(head, tail) >= OVERLAP_ENERGY_SHARE * total
        periodic = nccf.max(axis=1) >= PERIODICITY_SPEECH
    out = np.full(n, int(Kind.STATIONARY))
    out[impulsive] = int(Kind.TRANSIENT)  # one 2 ms block dominating the window: a click
    out[periodic] = int(Kind.SPEECH)  # ... unless it repeats a pitch period (low voices do)
    return out


def chunk_stats_of(samples: np.ndarray) -> tuple[float, bool, int]:
    """(RMS, all exact zeros, int16 peak clipped to int16) of one chunk's samples."""
    high, low = float(samples.max()), float(samples.min())
    peak = int(np.round(np.float32(max(high, -low)) * np.float32(32767.0)))
    return (float(rms(samples)[0]),  # the same bits as a batch's (`SignalFrames.chunk_stats`)
            high == low == 0.0, min(32767, peak))


def _impulsive(block_energy: np.ndarray) -> np.ndarray:
    """Rows whose loudest block holds TRANSIENT_PEAK_TO_MEDIAN times the median block."""
    count = block_energy.shape[1]
    middle = (count - 1) // 2, count // 2
    ordered = np.partition(block_energy, middle, axis=1)
    median = (ordered[:, middle[0]] + ordered[:, middle[1]]) / 2
    peak = block_energy.max(axis=1)
    return (peak > 0) & (peak >= TRANSIENT_PEAK_TO_MEDIAN * median)


def symbols(frames: np.ndarray, scale: LevelScale, context: np.ndarray | None = None,
            kind_from_level: int = 1) -> list[FrameSymbol]:
    """One symbol per row of `frames`. A frame's kind is judged over it and the frame before
    it (`context` before the first; without a context, over the frame alone), and only for
    frames of at least `kind_from_level` (below it: STATIONARY, unjudged)."""
    frames = np.atleast_2d(frames)
    levels = np.searchsorted(scale.values, rms(frames), side="right") + 1
    levels[(frames.max(axis=1) == 0) & (frames.min(axis=1) == 0)] = 0
    kind = np.full(len(frames), int(Kind.STATIONARY))
    judged = np.flatnonzero(levels >= max(kind_from_level, 1))
    if len(judged):
        if context is None:
            windows = frames[judged]
        else:
            before = np.concatenate([context[None, :], frames[:-1]])[judged]
            windows = np.concatenate([before, frames[judged]], axis=1)
        kind[judged] = kinds(windows)
    return [_symbol(level, k) for level, k in zip(levels.tolist(), kind.tolist())]


@lru_cache(maxsize=None)
def _symbol(level: int, kind: int) -> FrameSymbol:
    """One shared FrameSymbol per (level, kind): frames repeat a handful of them."""
    return FrameSymbol(level, _KINDS[kind]) if level else ZERO


class SignalFrames:
    """The 10 ms frames of a signal known before the run, as a receiver decodes them.

    The signal is `source` times `gain` (None: as it is). `symbol(k)` is frame k's symbol
    with frame k-1 of the same signal as its context (its kind judged from
    `kind_from_level` up); `quantize` first rounds the signal to pcm16, as a WebSocket
    server decodes it. `chunk_stats` gives a chunk's RMS, exact-zero test and int16 peak
    (as the worklet sees them; the peak clipped to int16). Everything is computed one
    batch of BATCH_FRAMES frames at a time, on first use.
    """

    def __init__(self, source: np.ndarray, scale: LevelScale, quantize: bool,
                 gain: float | None = None, kind_from_level: int = 1) -> None:
        self.source = source
        self.gain = gain
        self.scale = scale
        self.quantize = quantize
        self.kind_from_level = kind_from_level
        self.count = len(source) // FRAME_N
        self._symbols: dict[int, list[FrameSymbol]] = {}
        self._stats: dict[tuple[int, int], tuple[list, list, list]] = {}

    def samples(self, start: int, stop: int) -> np.ndarray:
        """Samples `start` .. `stop` of the signal (not quantised)."""
        part = self.source[start:stop]
        return part if self.gain is None else part * self.gain

    def frame(self, k: int) -> np.ndarray:
        """Frame k as the receiver decodes it."""
        frame = self.samples(k * FRAME_N, (k + 1) * FRAME_N)
        return quantize_pcm16(frame) if self.quantize else frame

    def symbol(self, k: int) -> FrameSymbol:
        batch = self._symbols.get(k // BATCH_FRAMES)
        if batch is None:
            batch = self._symbols[k // BATCH_FRAMES] = self._compute(k // BATCH_FRAMES)
        return batch[k % BATCH_FRAMES]

    def _compute(self, index: int) -> list[FrameSymbol]:
        first = index * BATCH_FRAMES
        last = min(self.count, first + BATCH_FRAMES)
        signal = self.samples(max(0, first - 1) * FRAME_N, last * FRAME_N)
        if self.quantize:
            signal = quantize_pcm16(signal)
        if first == 0:
            signal = np.concatenate([np.zeros(FRAME_N, signal.dtype), signal])
        frames = signal.reshape(-1, FRAME_N)
        return symbols(frames[1:], self.scale, frames[0], self.kind_from_level)

    def chunk_stats(self, k0: int, n_frames: int) -> tuple[float, bool, int]:
        """(RMS, all exact zeros, int16 peak) of the chunk of frames k0 .. k0 + n - 1."""
        if BATCH_FRAMES % n_frames or k0 % n_frames:
            return chunk_stats_of(self.samples(k0 * FRAME_N, (k0 + n_frames) * FRAME_N))
        key = (k0 // BATCH_FRAMES, n_frames)
        stats = self._stats.get(key)
        if stats is None:
            first = key[0] * BATCH_FRAMES
            chunks = self.samples(first * FRAME_N, min(self.count, first + BATCH_FRAMES)
                                  * FRAME_N).reshape(-1, n_frames * FRAME_N)
            energy = np.einsum("ij,ij->i", chunks, chunks, dtype=np.float64)
            high, low = chunks.max(axis=1), chunks.min(axis=1)
            stats = self._stats[key] = (
                np.sqrt(energy / (n_frames * FRAME_N)).tolist(),
                ((high == 0) & (low == 0)).tolist(),
                np.minimum(np.round(np.maximum(high, -low) * np.float32(32767.0)), 32767)
                .astype(np.int64).tolist())
        i = (k0 % BATCH_FRAMES) // n_frames
        return stats[0][i], stats[1][i], stats[2][i]
