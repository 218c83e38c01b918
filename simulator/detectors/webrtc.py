"""`webrtc-vad`: WebRTC's GMM voice activity detector (`webrtcvad-wheels`).

Fed the stream at 16 kHz in 10 ms frames; its decision is the probability (p in {0, 1}),
so any threshold in (0, 1] reads it the same. `mode` is its aggressiveness 0..3 (a higher
mode misses more quiet speech); 2 is the default here, as in `vadlock calibrate`. Its own
state is the real thing: the adaptive noise floor (minimum tracker), the hangover, and
the skip of frames at or below kMinEnergy (exact zeros) that freezes its noise model.
"""

from __future__ import annotations

import numpy as np

from vadlock.simulator.detectors import RATE_16K_HZ, DetectorUnavailable, Resampled16k

DEFAULT_MODE = 2


def check_available() -> None:
    import importlib.util

    if importlib.util.find_spec("webrtcvad") is None:
        raise DetectorUnavailable("engine webrtc-vad: webrtcvad is not installed "
                                  "(pip install webrtcvad-wheels)")


def make(mode: int = DEFAULT_MODE) -> "WebRtcDetector":
    return WebRtcDetector(mode)


class WebRtcDetector(Resampled16k):
    name = "webrtc-vad"

    def __init__(self, mode: int = DEFAULT_MODE) -> None:
        import webrtcvad

        if mode not in range(4):
            raise ValueError(f"webrtc-vad mode {mode} is not one of 0, 1, 2, 3")
        super().__init__()
        self._vad = webrtcvad.Vad(mode)

    def feed_16k(self, frames: np.ndarray) -> np.ndarray:
        pcm = np.clip(np.round(frames * 32768.0), -32768, 32767).astype("<i2")
        return np.array([float(self._vad.is_speech(row.tobytes(), RATE_16K_HZ))
                         for row in pcm])
