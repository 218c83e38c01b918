"""The assistant's voice: 24 kHz audio and a transcript per response.

`synthetic` (default): the simulator's speech-like signal (`audio.speech`, active RMS 0.08,
about -22 dBFS), its length set by the sentence (380 ms per word); the transcript is the
sentence the response stands for, not what the signal says. `espeak`: the sentence spoken
by espeak-ng (22,050 Hz, resampled linearly to 24 kHz), when installed. Deterministic from
the seed and the response's index.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import wave

import numpy as np

from vadlock.simulator import audio

SENTENCES = (
    "Sure, I can help with that.",
    "The meeting is moved to Thursday at ten in the morning.",
    "Here is what I found: three results match your question.",
    "Could you say that again, a little more slowly?",
    "Done. Is there anything else you would like me to check?",
    "It will be sunny this afternoon, with a light wind from the west.",
)
MS_PER_WORD = 380
VOICES = ("synthetic", "espeak")
ESPEAK_RATE_HZ = 22_050


class VoiceError(ValueError):
    """A voice that cannot be used here (one line)."""


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def espeak_samples(text: str, words_per_minute: int = 165) -> np.ndarray:
    """`text` spoken by espeak-ng, as 24 kHz float32."""
    wav = subprocess.run(["espeak-ng", "--stdout", "-s", str(words_per_minute), text],
                         check=True, capture_output=True, timeout=30).stdout
    with wave.open(io.BytesIO(wav)) as fh:
        rate = fh.getframerate()
        pcm = np.frombuffer(fh.readframes(fh.getnframes()), "<i2")
    samples = pcm.astype(np.float32) / audio.INT16_FULL_SCALE
    n = int(round(len(samples) * audio.SAMPLE_RATE_HZ / rate))
    return np.interp(np.arange(n) * (rate / audio.SAMPLE_RATE_HZ), np.arange(len(samples)),
                     samples).astype(np.float32)


class Voice:
    def __init__(self, kind: str = "synthetic", seed: int = 0) -> None:
        if kind not in VOICES:
            raise VoiceError(f"--voice must be one of {', '.join(VOICES)}, got {kind!r}")
        if kind == "espeak" and not espeak_available():
            raise VoiceError("--voice espeak: espeak-ng is not installed")
        self.kind, self.seed = kind, seed
        self._samples: dict[int, np.ndarray] = {}

    def transcript(self, index: int) -> str:
        return SENTENCES[(self.seed + index) % len(SENTENCES)]

    def response_ms(self, index: int) -> int:
        """The length of response `index`'s audio (what `ServerSession` generates)."""
        if self.kind == "espeak":
            return len(self.samples(index)) // audio.SAMPLES_PER_MS
        return MS_PER_WORD * len(self.transcript(index).split())

    def samples(self, index: int) -> np.ndarray:
        voice = self._samples.get(index)
        if voice is None:
            if self.kind == "espeak":
                voice = espeak_samples(self.transcript(index))
            else:
                voice = audio.speech(self.response_ms(index), 0.08,
                                     np.random.default_rng([self.seed, 8, index]))
            self._samples[index] = voice
        return voice

    def pcm16(self, index: int, offset_ms: int, duration_ms: int) -> bytes:
        spm = audio.SAMPLES_PER_MS
        part = self.samples(index)[offset_ms * spm:(offset_ms + duration_ms) * spm]
        if len(part) < duration_ms * spm:  # the model's length rounds to whole ms
            part = np.concatenate([part, np.zeros(duration_ms * spm - len(part), np.float32)])
        return audio.to_pcm16(part)

    def words_between(self, index: int, start_ms: int, end_ms: int, total_ms: int) -> str:
        """The words whose (evenly spread) end falls in (start_ms, end_ms], space-joined as
        transcript deltas join: each word after the first of the response is led by a
        space."""
        words = self.transcript(index).split()
        if total_ms <= 0:
            return ""
        out = []
        for j, word in enumerate(words):
            end = (j + 1) * total_ms // len(words)
            if start_ms < end <= end_ms or (j == 0 and start_ms == 0 and end <= end_ms):
                out.append(word if j == 0 else " " + word)
        return "".join(out)
