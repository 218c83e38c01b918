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


# -- real speech: the voicing hangover -------------------------------------------------------
def test_real_speech_is_speech_through_the_voicing_hangover():
    """espeak-ng speech: a third of its frames at or above -40 dBFS are not periodic within
    20 ms; the hangover after voiced frames takes most of them for speech."""
    from vadlock.simulator import espeak
    spoken = audio.quantize_pcm16(espeak.sentences(-10.0))
    frames = spoken[: len(spoken) // 240 * 240].reshape(-1, 240)
    loud = features.rms(frames) >= 0.01
    periodic = _kinds(spoken) == Kind.SPEECH
    judged = np.array([s.kind is Kind.SPEECH for s in features.symbols(
        frames, SCALE, np.zeros(240, np.float32))])
    assert np.mean(periodic[loud]) < 0.75 and np.mean(judged[loud]) > 0.85


@pytest.mark.parametrize("level_dbfs", [-50, -30, -20])
def test_noise_never_starts_the_hangover(level_dbfs):
    rng = np.random.default_rng(level_dbfs + 200)
    for noise in (audio.pink_noise(24_000 * 20, audio.dbfs_to_rms(level_dbfs), rng),
                  (rng.standard_normal(24_000 * 20) * audio.dbfs_to_rms(level_dbfs))
                  .astype(np.float32)):
        frames = audio.quantize_pcm16(noise).reshape(-1, 240)
        assert not any(s.kind is Kind.SPEECH for s in features.symbols(
            frames, SCALE, np.zeros(240, np.float32)))


def test_the_hangover_carries_across_calls_and_ends_after_80_ms():
    rng = np.random.default_rng(6)
    voice = audio.speech(300, 0.08, rng)[: 30 * 240].reshape(-1, 240)
    noise = audio.pink_noise(20 * 240, 0.03, rng).reshape(-1, 240)  # loud, never periodic
    start = np.zeros(240, np.float32)
    whole, _ = features.judge(np.concatenate([voice, noise]), SCALE, start)
    first, since = features.judge(voice, SCALE, start)
    second, _ = features.judge(noise, SCALE, voice[-1], since_voiced=since[-1])
    assert whole == first + second
    after = [s.kind is Kind.SPEECH for s in second]
    assert after[:features.VOICED_HANGOVER_FRAMES] == [True] * features.VOICED_HANGOVER_FRAMES
    assert not any(after[features.VOICED_HANGOVER_FRAMES:])


def test_a_known_signal_decodes_as_its_samples_whatever_came_before():
    """The decoder's shortcut for known signals (precomputed symbols) against judging the
    same samples, after zeros and after other audio, chunk by chunk."""
    from vadlock.simulator.engine import ServerAudioDecoder
    rng = np.random.default_rng(7)
    signal = np.concatenate([audio.speech(1_000, 0.08, rng), audio.pink_noise(24_000, 0.02, rng),
                             audio.speech(600, 0.05, rng)])
    known = features.SignalFrames(signal, SCALE, quantize=True)
    other = audio.speech(200, 0.1, rng)
    for before in ("zeros", "other", "none"):
        fast, slow = ServerAudioDecoder(SCALE), ServerAudioDecoder(SCALE)
        if before == "zeros":
            fast.zeros(5), slow.zeros(5)
        elif before == "other":
            fast.frames_of(other), slow.frames_of(other)
        for k0 in range(30, 200, 10):
            quick = fast.known(known, k0, 10)
            exact = slow.frames_of(known.frames(k0, 10).reshape(-1))
            assert quick == exact, (before, k0)
