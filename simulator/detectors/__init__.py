"""Real speech detectors as the server's `server_vad` engine.

An engine is created per session (it keeps streaming state), is fed the 10 ms frames of
pcm16 audio the server received at 24 kHz, in order, and gives one speech probability per
frame. The session's `threshold` then decides speech vs silence (`Detection.of`); the
server's turn detection applies prefix padding and silence duration on top, as for the
symbolic base model.

Engines (one module each):
- `energy`: the base model's rule as a probability (`detectors.energy`);
- `silero`: Silero VAD v6, the ONNX sequence model of the `silero-vad` wheel through
  onnxruntime (`detectors.silero`);
- `webrtc-vad`: WebRTC's GMM VAD (`webrtcvad-wheels`), p in {0, 1} (`detectors.webrtc`);
- `ten`: TEN VAD (`ten-vad`), where its library loads (`detectors.ten`).

All but `energy` run at 16 kHz: `Resampled16k` converts the stream with a causal polyphase
filter whose state carries across calls, so the probabilities depend on the audio only,
never on how it was cut into calls.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import Callable, ClassVar

import numpy as np

from vadlock.model.hypotheses import ENGINES
from vadlock.simulator.audio import SAMPLES_PER_MS
from vadlock.simulator.detectors.resample import StreamResampler

FRAME_MS = 10
FRAME_N = FRAME_MS * SAMPLES_PER_MS  # samples per frame at 24 kHz
RATE_16K_HZ = 16_000
FRAME_16K_N = RATE_16K_HZ * FRAME_MS // 1000


class DetectorUnavailable(ValueError):
    """An engine whose package or library is not installed (one line, says what to install)."""


class Detector(ABC):
    """One session's detector: `feed` 10 ms frames (n, 240) at 24 kHz -> p (n,)."""

    name: ClassVar[str]

    @abstractmethod
    def feed(self, frames: np.ndarray) -> np.ndarray:
        """Speech probability of each frame, in [0, 1], continuing the stream."""


class Resampled16k(Detector):
    """A detector that works on 16 kHz audio: each 24 kHz frame becomes 160 samples."""

    def __init__(self) -> None:
        self._resampler = StreamResampler()

    def feed(self, frames: np.ndarray) -> np.ndarray:
        frames = np.atleast_2d(frames)
        if not len(frames):
            return np.zeros(0)
        low = self._resampler.feed(frames.reshape(-1))
        return self.feed_16k(low.reshape(len(frames), FRAME_16K_N))

    @abstractmethod
    def feed_16k(self, frames: np.ndarray) -> np.ndarray:
        """Speech probability of each 10 ms frame (n, 160) of 16 kHz float audio."""


_MODULES = {"energy": "energy", "silero": "silero", "webrtc-vad": "webrtc", "ten": "ten"}
assert tuple(_MODULES) == ENGINES


def factory(name: str, **params) -> Callable[[], Detector]:
    """A maker of fresh `name` detectors (one per session); raises DetectorUnavailable when
    the engine cannot run here, ValueError for an unknown name."""
    if name not in _MODULES:
        raise ValueError(f"unknown detector engine {name!r} (known: {', '.join(_MODULES)})")
    module = importlib.import_module(f"vadlock.simulator.detectors.{_MODULES[name]}")
    module.check_available()
    return lambda: module.make(**params)


def available(name: str) -> bool:
    try:
        factory(name)
    except DetectorUnavailable:
        return False
    return True


def probabilities(name: str, samples: np.ndarray, **params) -> np.ndarray:
    """Per 10 ms frame of `samples` (24 kHz float), the probability a fresh `name` detector
    gives, as the server would feed it: quantised to pcm16, in one stream."""
    from vadlock.simulator.audio import quantize_pcm16

    n = len(samples) // FRAME_N
    frames = quantize_pcm16(np.asarray(samples[:n * FRAME_N], np.float32)).reshape(n, FRAME_N)
    return factory(name, **params)().feed(frames)
