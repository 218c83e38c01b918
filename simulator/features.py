"""From samples to frame symbols: RMS, exact zeros, and the frame's kind.

Kind, per analysis window: TRANSIENT when one 2 ms block holds a large share of the
window's energy (a click), SPEECH
when the pre-emphasised signal is periodic at a pitch lag of 80-250 Hz (this wins: voiced
speech has pitch pulses), else STATIONARY.
All of it vectorised over frames with numpy.
"""

from __future__ import annotations

import numpy as np

from model.symbols import FrameSymbol, Kind, LevelScale
from simulator.audio import SAMPLE_RATE_HZ

TRANSIENT_SHARE = 0.3  # share of the window's energy in its loudest 2 ms block
_BLOCK = 2 * SAMPLE_RATE_HZ // 1000
PERIODICITY_SPEECH = 0.45
_DECIMATE = 3  # periodicity is judged at 8 kHz: pitch lives far below 4 kHz
_RATE = SAMPLE_RATE_HZ // _DECIMATE
_MIN_LAG = _RATE // 250
_MAX_LAG = _RATE // 80


def rms(frames: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=-1))


def kinds(windows: np.ndarray) -> np.ndarray:
    """Kind of each row of `windows` (n, L), as an int array of `Kind` values."""
    windows = np.atleast_2d(windows).astype(np.float64)
    n, length = windows.shape
    usable = length // _BLOCK * _BLOCK
    block_energy = np.square(windows[:, :usable]).reshape(n, -1, _BLOCK).sum(axis=2)
    total = block_energy.sum(axis=1)
    share = np.where(total > 0, block_energy.max(axis=1) / np.maximum(total, 1e-30), 0.0)
    low = windows[:, : length // _DECIMATE * _DECIMATE].reshape(n, -1, _DECIMATE).mean(axis=2)
    length = low.shape[1]
    emphasised = low[:, 1:] - 0.9 * low[:, :-1]
    size = 1 << int(np.ceil(np.log2(2 * length)))
    spectrum = np.fft.rfft(emphasised, size, axis=1)
    auto = np.fft.irfft(np.abs(spectrum) ** 2, size, axis=1)
    max_lag = min(_MAX_LAG, length - 1 - length // 4)
    with np.errstate(divide="ignore", invalid="ignore"):
        norm = auto[:, _MIN_LAG:max_lag] / np.maximum(auto[:, :1], 1e-18)
        # correct for the shrinking overlap of a finite window
        lags = np.arange(_MIN_LAG, max_lag)
        norm = norm * (length - 1) / (length - 1 - lags)
    periodicity = norm.max(axis=1) if norm.shape[1] else np.zeros(n)
    out = np.full(n, int(Kind.STATIONARY))
    out[share >= TRANSIENT_SHARE] = int(Kind.TRANSIENT)
    out[periodicity >= PERIODICITY_SPEECH] = int(Kind.SPEECH)  # voicing wins over clicks
    return out


def symbols(frames: np.ndarray, scale: LevelScale, windows: np.ndarray | None = None
            ) -> list[FrameSymbol]:
    """One symbol per row of `frames`; kind from `windows` (defaults to the frames)."""
    frames = np.atleast_2d(frames)
    levels = rms(frames)
    zero = ~np.any(frames != 0, axis=1)
    kind = kinds(frames if windows is None else windows)
    return [FrameSymbol(scale.level_of(float(r), bool(z)), Kind(int(k)))
            for r, z, k in zip(levels, zero, kind)]
