"""Real speech for calibration and tests: sentences spoken by espeak-ng, made at run time.

`speak(text)` runs the `espeak-ng` program (Debian package `espeak-ng`, installed by the
Makefile's set-up) with a fixed voice and rate, reads the WAV it writes and returns it as
24 kHz float32 samples scaled to a peak level, with espeak's leading and trailing silence
kept (its own pauses are part of real speech). The same text, voice and rate give the
same samples on the same espeak-ng build. `SENTENCES` are the calibration's few sentences.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from vadlock.simulator.audio import dbfs_to_rms
from vadlock.simulator.recording import load_wav

VOICE = "en-us"
RATE_WPM = 150
SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Could you tell me the weather for tomorrow morning in Paris?",
    "I would like to book a table for two people at seven.",
    "Please read my last three messages out loud.",
)


class EspeakUnavailable(ValueError):
    """espeak-ng is not installed (one line, says what to install)."""


def available() -> bool:
    return shutil.which("espeak-ng") is not None


@lru_cache(maxsize=16)
def _spoken(text: str, voice: str, rate_wpm: int) -> np.ndarray:
    if not available():
        raise EspeakUnavailable("espeak-ng is not installed (apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate_wpm), "-w", str(path), text],
                       check=True, capture_output=True, timeout=60)
        samples = load_wav(path).astype(np.float32)
    samples.flags.writeable = False
    return samples


def speak(text: str = SENTENCES[0], peak_dbfs: float = -10.0, voice: str = VOICE,
          rate_wpm: int = RATE_WPM) -> np.ndarray:
    """`text` spoken by espeak-ng at 24 kHz, scaled so its peak is `peak_dbfs`."""
    samples = _spoken(text, voice, rate_wpm)
    peak = float(np.abs(samples).max())
    return (samples * np.float32(dbfs_to_rms(peak_dbfs) / peak)).astype(np.float32)


def sentences(peak_dbfs: float = -10.0, gap_ms: int = 500) -> np.ndarray:
    """All of `SENTENCES`, one after another with `gap_ms` of exact zeros between."""
    gap = np.zeros(gap_ms * 24, np.float32)
    parts = []
    for text in SENTENCES:
        parts += [speak(text, peak_dbfs), gap]
    return np.concatenate(parts[:-1])
