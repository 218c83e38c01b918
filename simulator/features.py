"""From samples to frame symbols: RMS, exact zeros, and the frame's kind.

Kind, per analysis window (a 10 ms frame and the one before it): SPEECH when the
pre-emphasised signal, at 8 kHz, correlates with itself one pitch period later (80-250 Hz)
with a normalised cross-correlation of at least 0.7, over the overlap only (voiced speech:
99 % of active frames; pink, white and muted-microphone noise: none; key clicks: about
0.2 %, two clicks close together); otherwise TRANSIENT when its loudest 2 ms block holds at
least 20 times the energy of its median block (clicks; pink room noise stays under 17,
but the glottal pulses of a low voice do not, hence periodicity first); else STATIONARY.
The thresholds are calibrated on the synthetic audio by `tests/test_features.py`. On
real speech (espeak-ng) a third of the frames at or above -40 dBFS are not periodic within
20 ms (unvoiced consonants, plosives, voicing transitions), so a voicing hangover follows:
a frame within 80 ms after a voiced one (periodic, at or above -40 dBFS) is SPEECH too
(`judge`; noise never starts it). An all-zero frame has no kind: it is always `ZERO`
(exact digital silence, stationary), whatever came before it.

Everything is vectorised over frames with numpy. `SignalFrames` holds the per-frame
features of a signal known before the run (the environment's audio, a comfort-noise
track), computed in batches on first use, so that the engine pays per batch of frames
and not per chunk.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from vadlock.model.hypotheses import SERVER_SPEECH_RMS
from vadlock.model.symbols import ZERO, Detection, FrameSymbol, Kind, LevelScale
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
# Voicing hangover: unvoiced consonants, plosives and voicing transitions of real speech are
# not periodic within 20 ms (a third of espeak-ng's speech frames at or above -40 dBFS),
# but they follow voiced frames closely; WebRTC VAD holds its decision 8 frames of 10 ms
# after speech in mode 0 (kOverHangMax1), and so does this classifier: a frame within 80 ms
# after a voiced one is speech. Noise never starts it (it is never periodic).
VOICED_HANGOVER_FRAMES = 8
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
            kind_from_level: int = 1, since_voiced: int | None = None) -> list[FrameSymbol]:
    """One symbol per row of `frames` (`judge` without the state it hands on)."""
    return judge(frames, scale, context, kind_from_level, since_voiced)[0]


def judge(frames: np.ndarray, scale: LevelScale, context: np.ndarray | None = None,
          kind_from_level: int = 1, since_voiced: int | None = None
          ) -> tuple[list[FrameSymbol], list[int]]:
    """One symbol per row of `frames`, and the voicing state after each row.

    A frame's kind is judged over it and the frame before it (`context` before the first;
    without a context, over the frame alone), and only for frames of at least
    `kind_from_level` (below it: STATIONARY, unjudged). Then the voicing hangover: a judged
    frame within VOICED_HANGOVER_FRAMES after a voiced frame (periodic, at or above the
    server's -40 dBFS speech edge) is SPEECH too. `since_voiced` is the state before the
    first row: frames since the last voiced one, VOICED_HANGOVER_FRAMES meaning none
    within reach (the default)."""
    frames = np.atleast_2d(frames)
    n = len(frames)
    since = VOICED_HANGOVER_FRAMES if since_voiced is None else since_voiced
    if n == 0:
        return [], []
    energy = rms(frames)
    levels = np.searchsorted(scale.values, energy, side="right") + 1
    levels[(frames.max(axis=1) == 0) & (frames.min(axis=1) == 0)] = 0
    kind = np.full(n, int(Kind.STATIONARY))
    judged = levels >= max(kind_from_level, 1)
    # voiced frames can start a hangover wherever some kind is judged at all
    voiced_candidate = ((energy >= SERVER_SPEECH_RMS) & (levels > 0)
                        & (kind_from_level < scale.count))
    computed = np.flatnonzero(judged | voiced_candidate)
    if len(computed):
        if context is None:
            windows = frames[computed]
        else:
            before = np.concatenate([context[None, :], frames[:-1]])[computed]
            windows = np.concatenate([before, frames[computed]], axis=1)
        kind[computed] = kinds(windows)
    voiced = voiced_candidate & (kind == int(Kind.SPEECH))
    position = np.arange(n)
    last_voiced = np.maximum.accumulate(np.where(voiced, position, -1 - since))
    since_after = np.minimum(position - last_voiced, VOICED_HANGOVER_FRAMES)
    since_before = np.concatenate([[since], since_after[:-1]])
    kind[judged & (since_before < VOICED_HANGOVER_FRAMES)] = int(Kind.SPEECH)
    kind[~judged] = int(Kind.STATIONARY)
    return ([_symbol(level, k) for level, k in zip(levels.tolist(), kind.tolist())],
            since_after.tolist())


@lru_cache(maxsize=None)
def _symbol(level: int, kind: int) -> FrameSymbol:
    """One shared FrameSymbol per (level, kind): frames repeat a handful of them."""
    return FrameSymbol(level, _KINDS[kind]) if level else ZERO


@lru_cache(maxsize=None)
def detected(symbol: FrameSymbol, detection: Detection) -> FrameSymbol:
    """`symbol` carrying a detector engine's verdict (shared, like `_symbol`)."""
    return FrameSymbol(symbol.level, symbol.kind, detection)


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
        self._symbols: dict[int, tuple[list[FrameSymbol], list[int]]] = {}
        self._stats: dict[tuple[int, int], tuple[list, list, list]] = {}

    def samples(self, start: int, stop: int) -> np.ndarray:
        """Samples `start` .. `stop` of the signal (not quantised)."""
        part = self.source[start:stop]
        return part if self.gain is None else part * self.gain

    def frame(self, k: int) -> np.ndarray:
        """Frame k as the receiver decodes it."""
        frame = self.samples(k * FRAME_N, (k + 1) * FRAME_N)
        return quantize_pcm16(frame) if self.quantize else frame

    def frames(self, k0: int, n_frames: int) -> np.ndarray:
        """Frames k0 .. k0 + n - 1 as the receiver decodes them, shape (n, FRAME_N)."""
        part = self.samples(k0 * FRAME_N, (k0 + n_frames) * FRAME_N)
        part = quantize_pcm16(part) if self.quantize else part
        return part.reshape(n_frames, FRAME_N)

    def symbol(self, k: int) -> FrameSymbol:
        return self._batch(k)[0][k % BATCH_FRAMES]

    def since_voiced(self, k: int) -> int:
        """The voicing state after frame k (`judge`), in the signal's own history."""
        return VOICED_HANGOVER_FRAMES if k < 0 else self._batch(k)[1][k % BATCH_FRAMES]

    def _batch(self, k: int) -> tuple[list[FrameSymbol], list[int]]:
        batch = self._symbols.get(k // BATCH_FRAMES)
        if batch is None:
            batch = self._symbols[k // BATCH_FRAMES] = self._compute(k // BATCH_FRAMES)
        return batch

    def _compute(self, index: int) -> tuple[list[FrameSymbol], list[int]]:
        """The batch's symbols, judged after the VOICED_HANGOVER_FRAMES frames before it (the
        voicing they leave) and the frame before those (their context)."""
        first = index * BATCH_FRAMES
        last = min(self.count, first + BATCH_FRAMES)
        lead = VOICED_HANGOVER_FRAMES + 1
        start = max(0, first - lead)
        signal = self.samples(start * FRAME_N, last * FRAME_N)
        if self.quantize:
            signal = quantize_pcm16(signal)
        if start > first - lead:  # before the signal: exact zeros
            signal = np.concatenate([np.zeros((start - first + lead) * FRAME_N, signal.dtype),
                                     signal])
        frames = signal.reshape(-1, FRAME_N)
        judged, since = judge(frames[1:], self.scale, frames[0], self.kind_from_level)
        return judged[lead - 1:], since[lead - 1:]

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
