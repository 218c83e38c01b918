"""Streaming 24 kHz -> 16 kHz resampling for the detectors.

Polyphase: up by 2, a causal Kaiser-windowed-sinc low-pass at 0.94 x 8 kHz (the same
design as `simulator.recording.resample`), down by 3. Being causal, it delays the audio by
half its length (about 1 ms) and needs only the past: after n input samples it has given
exactly floor(2n / 3) output samples (160 per 10 ms frame), and the output depends on the
input stream alone, not on how the stream was cut into calls.
"""

from __future__ import annotations

import numpy as np

from vadlock.simulator.recording import KAISER_BETA, ROLLOFF, ZERO_CROSSINGS

UP, DOWN = 2, 3


def _taps() -> np.ndarray:
    cutoff = ROLLOFF * 0.5 / DOWN  # cycles per sample of the 48 kHz up-sampled signal
    half = ZERO_CROSSINGS * DOWN
    k = np.arange(-half, half + 1)
    return 2 * cutoff * np.sinc(2 * cutoff * k) * np.kaiser(2 * half + 1, KAISER_BETA) * UP


TAPS = _taps()
# polyphase: output 2q is sum_j TAPS[2j] x[3q - j]; output 2q + 1 is sum_j TAPS[2j + 1] x[3q + 1 - j]
_LENGTH = -(-len(TAPS) // 2)
_EVEN = TAPS[0::2].copy()
_ODD = np.concatenate([TAPS[1::2], np.zeros(_LENGTH - len(TAPS[1::2]))])
HISTORY = _LENGTH  # input samples a new output can reach back to


class StreamResampler:
    """24 kHz float samples in, 16 kHz float32 out, state kept between calls."""

    def __init__(self) -> None:
        self._history = np.zeros(HISTORY)  # the last HISTORY input samples (zeros at first)
        self._consumed = 0  # input samples seen
        self._produced = 0  # output samples given

    def feed(self, samples: np.ndarray) -> np.ndarray:
        x = np.concatenate([self._history, np.asarray(samples, np.float64)])
        base = self._consumed - HISTORY  # the input index of x[0]
        self._consumed += len(samples)
        total = 2 * self._consumed // 3  # outputs due after this many inputs
        m = np.arange(self._produced, total, dtype=np.int64)
        newest = 3 * (m // 2) + (m % 2) - base  # x index of the newest input each output uses
        out = np.empty(len(m))
        odd = (m % 2).astype(bool)
        for phase, taps in ((~odd, _EVEN), (odd, _ODD)):
            rows = newest[phase] - _LENGTH + 1
            if len(rows):  # np.convolve's `valid` part: row r ends at sample r + _LENGTH - 1
                part = x[rows[0]:rows[-1] + _LENGTH]
                out[phase] = np.convolve(part, taps, "valid")[rows - rows[0]]
        self._produced = total
        self._history = x[-HISTORY:]
        return out.astype(np.float32)
