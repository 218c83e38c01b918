"""`energy`: the base model's server VAD as a speech probability.

The symbolic base (`ServerVadHypotheses.classify`) calls a frame speech when it is
speech-like (`simulator.features.judge`: periodic over the frame and the one before it, or
within its voicing hangover) and at or above -40 dBFS. To let the API's `threshold` act on it, that rule is mapped to a
probability. The mapping is an ASSUMPTION (nobody outside OpenAI knows the server's scale):
- a speech-like frame: p = 0.5 + 0.15 x (level - (-40 dBFS)) / 16 dB, clipped to [0, 1],
  so p = 0.5 exactly at -40 dBFS (the base edge at the default threshold 0.5) and
  p = threshold - 0.15 at -56 dBFS (where the `deadband` hypothesis starts holding);
- a transient (key click) at or above -56 dBFS: p = 0.425, inside the dead band, as the
  `deadband` hypothesis treats audible clicks;
- anything else (stationary noise, exact zeros): p = 0.
At threshold 0.5 it decides exactly as the symbolic base does.
"""

from __future__ import annotations

import numpy as np

from vadlock.model.hypotheses import ENERGY_DB_PER_DEADBAND, ENERGY_DEADBAND, SERVER_SPEECH_RMS
from vadlock.model.symbols import NEAR_SILENT_RMS, Kind, LevelScale
from vadlock.simulator import features
from vadlock.simulator.detectors import FRAME_N, Detector

DB_PER_DEADBAND = ENERGY_DB_PER_DEADBAND  # -56 .. -40 dBFS spans the 0.15 below the threshold
DEADBAND = ENERGY_DEADBAND
CLICK_P = 0.425
SCALE = LevelScale.build(server_speech=SERVER_SPEECH_RMS)


def check_available() -> None:
    """Always available (numpy only)."""


def make() -> "EnergyDetector":
    return EnergyDetector()


class EnergyDetector(Detector):
    name = "energy"

    def __init__(self) -> None:
        self._context = np.zeros(FRAME_N, np.float32)
        self._since_voiced = features.VOICED_HANGOVER_FRAMES

    def feed(self, frames: np.ndarray) -> np.ndarray:
        frames = np.atleast_2d(frames).astype(np.float32, copy=False)
        if not len(frames):
            return np.zeros(0)
        judged, since = features.judge(frames, SCALE, self._context, 1, self._since_voiced)
        self._context, self._since_voiced = frames[-1].copy(), since[-1]
        level = features.rms(frames)
        kind = np.array([int(s.kind) for s in judged])
        zero = (frames.max(axis=1) == 0) & (frames.min(axis=1) == 0)
        with np.errstate(divide="ignore"):
            db_over = 20 * np.log10(np.maximum(level, 1e-12) / SERVER_SPEECH_RMS)
        speech_p = np.clip(0.5 + DEADBAND * db_over / DB_PER_DEADBAND, 0.0, 1.0)
        speech_p[level >= SERVER_SPEECH_RMS] = np.maximum(speech_p[level >= SERVER_SPEECH_RMS], 0.5)
        speech_p[level < SERVER_SPEECH_RMS] = np.minimum(speech_p[level < SERVER_SPEECH_RMS],
                                                         np.nextafter(0.5, 0))
        p = np.zeros(len(frames))
        is_speech = kind == int(Kind.SPEECH)
        p[is_speech] = speech_p[is_speech]
        p[(kind == int(Kind.TRANSIENT)) & (level >= NEAR_SILENT_RMS)] = CLICK_P
        p[zero] = 0.0
        return p
