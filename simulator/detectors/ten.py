"""`ten`: TEN VAD (`ten-vad`), where its shared library loads (it needs libc++1).

Fed the stream at 16 kHz as int16 with a hop of 160 samples, so it gives one probability
per 10 ms frame directly (no holding). Its own threshold argument is not used: the
session's threshold is applied to the probability like any engine's.
"""

from __future__ import annotations

import numpy as np

from vadlock.simulator.detectors import FRAME_16K_N, DetectorUnavailable, Resampled16k


def check_available() -> None:
    try:
        from ten_vad import TenVad  # noqa: F401  (loads the shared library)
    except (ImportError, OSError) as error:
        raise DetectorUnavailable(
            "engine ten: the ten-vad library does not load (pip install ten-vad; it needs "
            f"the Debian package libc++1): {str(error).splitlines()[0] if str(error) else error!r}"
        ) from None


def make() -> "TenDetector":
    return TenDetector()


class TenDetector(Resampled16k):
    name = "ten"

    def __init__(self) -> None:
        from ten_vad import TenVad

        super().__init__()
        self._vad = TenVad(FRAME_16K_N, 0.5)

    def feed_16k(self, frames: np.ndarray) -> np.ndarray:
        pcm = np.clip(np.round(frames * 32768.0), -32768, 32767).astype(np.int16)
        return np.array([float(self._vad.process(np.ascontiguousarray(row))[0])
                         for row in pcm])
