"""The frame classifier on the synthetic audio: speech is speech, clicks are clicks, and
room noise is neither (a single misjudged noise frame would start speech under an
adaptive-floor VAD)."""

import numpy as np
import pytest

from vadlock.model.designs import PRODUCTION
from vadlock.model.symbols import ZERO, Kind
from vadlock.simulator import audio, features

SCALE = PRODUCTION.level_scale


def _kinds(samples: np.ndarray, context: np.ndarray | None = None) -> np.ndarray:
    frames = samples[: len(samples) // 240 * 240].reshape(-1, 240)
    before = np.concatenate([np.zeros((1, 240), np.float32), frames[:-1]])
    return features.kinds(np.concatenate([before, frames], axis=1))


def test_voiced_speech_is_speech():
    rng = np.random.default_rng(1)
    voice = np.concatenate([audio.speech(2_500, 0.08, rng) for _ in range(12)])
    frames = voice.reshape(-1, 240)
    active = features.rms(frames) > 0.02
    kinds = _kinds(voice)
    assert np.mean(kinds[active] == Kind.SPEECH) >= 0.97


@pytest.mark.parametrize("level_dbfs", [-80, -70, -60, -50, -40, -30, -20])
def test_pink_room_noise_is_never_speech_and_almost_never_a_click(level_dbfs):
    rng = np.random.default_rng(level_dbfs + 100)
    noise = audio.pink_noise(24_000 * 30, audio.dbfs_to_rms(level_dbfs), rng)
    for samples in (noise, audio.quantize_pcm16(noise)):
        kinds = _kinds(samples)
        assert not np.any(kinds == Kind.SPEECH)
        assert np.mean(kinds == Kind.TRANSIENT) < 0.002


def test_key_clicks_over_room_noise_are_transients():
    rng = np.random.default_rng(2)
    n = 24_000 * 30
    typing = audio.keyboard(30_000, 6.0, 0.3, rng) + audio.pink_noise(n, 0.003, rng)
    frames = typing.reshape(-1, 240)
    clicks = features.rms(frames) > 0.01  # the frames a click lands in
    kinds = _kinds(typing)
    assert clicks.sum() > 300 and np.mean(kinds[clicks] == Kind.TRANSIENT) >= 0.95


def test_a_muted_track_is_stationary_and_zeros_have_no_kind():
    rng = np.random.default_rng(3)
    muted = np.concatenate([audio.muted_capture(240, rng) for _ in range(2_000)])
    assert not np.any(_kinds(audio.quantize_pcm16(muted)) == Kind.SPEECH)
    zeros = np.zeros((5, 240), np.float32)
    loud = audio.speech(50, 0.3, rng)[:240]
    assert features.symbols(zeros, SCALE, context=loud) == [ZERO] * 5
