"""The speech turns of a recording, found by a real detector (WebRTC VAD).

`speech_turns(samples)` is the one function the rest of vadlock calls; a better detector
(the detector engines of `simulator/detectors/`) can replace its body. The rule: the
recording at 24 kHz is resampled to 16 kHz and cut into 30 ms frames; WebRTC VAD
(aggressiveness `AGGRESSIVENESS`) marks each frame speech or not; speech frames closer
than `MERGE_GAP_MS` form one turn, and a turn shorter than `MIN_TURN_MS` is dropped (a
click or a cough). Each turn is reported with its RMS level over its own frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vadlock.simulator.audio import SAMPLE_RATE_HZ, rms_to_dbfs, to_pcm16

DETECTOR_RATE_HZ = 16_000
FRAME_MS = 30
AGGRESSIVENESS = 2  # 0 (least) .. 3 (most aggressive at rejecting non-speech)
MERGE_GAP_MS = 300  # a pause shorter than this stays inside the turn
MIN_TURN_MS = 200


@dataclass(frozen=True)
class SpeechTurn:
    start_ms: int
    duration_ms: int
    level_dbfs: float


def speech_turns(samples: np.ndarray, rate_hz: int = SAMPLE_RATE_HZ) -> list[SpeechTurn]:
    """The speech turns of mono float samples in [-1, 1] at `rate_hz`."""
    import webrtcvad

    from vadlock.simulator.recording import resample

    x = resample(np.asarray(samples, np.float64), rate_hz, DETECTOR_RATE_HZ)
    n = DETECTOR_RATE_HZ * FRAME_MS // 1000
    frames = len(x) // n
    if frames == 0:
        return []
    pcm = to_pcm16(x[: frames * n])
    vad = webrtcvad.Vad(AGGRESSIVENESS)
    voiced = [vad.is_speech(pcm[2 * n * k: 2 * n * (k + 1)], DETECTOR_RATE_HZ)
              for k in range(frames)]
    spans: list[list[int]] = []  # [first frame, last frame]
    gap = MERGE_GAP_MS // FRAME_MS
    for k, speech in enumerate(voiced):
        if not speech:
            continue
        if spans and k - spans[-1][1] - 1 < gap:
            spans[-1][1] = k
        else:
            spans.append([k, k])
    turns = []
    for first, last in spans:
        duration_ms = (last - first + 1) * FRAME_MS
        if duration_ms < MIN_TURN_MS:
            continue
        part = x[first * n:(last + 1) * n]
        rms = float(np.sqrt(np.mean(np.square(part))))
        turns.append(SpeechTurn(first * FRAME_MS, duration_ms, round(rms_to_dbfs(rms), 1)))
    return turns
