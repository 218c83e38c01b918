"""Synthetic audio, 24 kHz mono float32 in [-1, 1], deterministic from a numpy Generator.

- `speech`: a harmonic voiced source (F0 100-250 Hz) shaped by formant resonances, under a
  syllabic envelope near 4 Hz, scaled to an active-speech RMS (0.08 is about -22 dBFS).
- `keyboard`: each key press and release a few-ms broadband exponentially decaying click,
  about 6 keys/s, press and release 50-100 ms apart.
- `pink_noise`: room noise, 1/f spectrum, at a given RMS.
- `muted_capture`: near-silent noise with int16 peaks in 41-96; disabled capture is zeros.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE_HZ = 24_000
SAMPLES_PER_MS = SAMPLE_RATE_HZ // 1000
INT16_FULL_SCALE = 32768.0

_FORMANTS_HZ = ((650.0, 110.0), (1250.0, 160.0), (2550.0, 250.0))


def dbfs_to_rms(level_dbfs: float) -> float:
    return float(10.0 ** (level_dbfs / 20.0))


def rms_to_dbfs(rms: float) -> float:
    return float(20.0 * np.log10(max(rms, 1e-12)))


_TABLE_SIZE = 2048


def _voiced_period(f0_hz: float) -> np.ndarray:
    """One period of the voiced source for this F0: harmonics weighted by the formants."""
    phase = np.arange(_TABLE_SIZE) * (2 * np.pi / _TABLE_SIZE)
    table = np.zeros(_TABLE_SIZE)
    for k in range(1, int(4000.0 // f0_hz) + 1):
        freq = k * f0_hz
        gain = sum(1.0 / (1.0 + ((freq - fc) / bw) ** 2) for fc, bw in _FORMANTS_HZ)
        table += (gain + 0.05) / np.sqrt(k) * np.sin(k * phase)
    return table


def speech(duration_ms: int, active_rms: float, rng: np.random.Generator) -> np.ndarray:
    n = duration_ms * SAMPLES_PER_MS
    if n <= 0:
        return np.zeros(0, np.float32)
    t = np.arange(n) / SAMPLE_RATE_HZ
    f0_base = rng.uniform(100.0, 250.0)
    f0 = f0_base * (1.0 + 0.08 * np.sin(2 * np.pi * rng.uniform(0.3, 0.8) * t
                                        + rng.uniform(0, 2 * np.pi)))
    cycles = np.cumsum(f0) / SAMPLE_RATE_HZ
    index = ((cycles - np.floor(cycles)) * _TABLE_SIZE).astype(np.int64)
    source = _voiced_period(f0_base)[index]
    envelope = _syllabic_envelope(n, rng)
    signal = source * envelope
    active = envelope > 0.2
    level = np.sqrt(np.mean(signal[active] ** 2)) if active.any() else 1.0
    return (signal * (active_rms / level)).astype(np.float32)


def _syllabic_envelope(n: int, rng: np.random.Generator) -> np.ndarray:
    env = np.zeros(n)
    pos = 0
    while pos < n:
        length = int(rng.uniform(0.15, 0.30) * SAMPLE_RATE_HZ)
        bump = np.hanning(length) ** 0.5 * rng.uniform(0.7, 1.0)
        end = min(n, pos + length)
        env[pos:end] = np.maximum(env[pos:end], bump[: end - pos])
        pos += int(length * rng.uniform(0.75, 0.95))
    # fade the utterance edges over 20 ms
    ramp = min(n // 2, 20 * SAMPLES_PER_MS)
    if ramp:
        env[:ramp] *= np.linspace(0, 1, ramp)
        env[-ramp:] *= np.linspace(1, 0, ramp)
    return env


def keyboard(duration_ms: int, keys_per_s: float, peak: float,
             rng: np.random.Generator) -> np.ndarray:
    n = duration_ms * SAMPLES_PER_MS
    out = np.zeros(n, np.float32)
    click_n = 5 * SAMPLES_PER_MS
    decay = np.exp(-np.arange(click_n) / (1.2 * SAMPLES_PER_MS))
    t_ms = rng.exponential(1000.0 / keys_per_s) * 0.5
    while t_ms < duration_ms:
        for offset_ms, scale in ((0.0, 1.0), (rng.uniform(50, 100), 0.5)):
            start = int((t_ms + offset_ms) * SAMPLES_PER_MS)
            if start >= n:
                continue
            click = rng.standard_normal(click_n) * decay
            click *= peak * scale * rng.uniform(0.6, 1.0) / np.max(np.abs(click))
            end = min(n, start + click_n)
            out[start:end] += click[: end - start].astype(np.float32)
        t_ms += max(60.0, rng.exponential(1000.0 / keys_per_s))
    return out


def pink_noise(n: int, rms: float, rng: np.random.Generator, block: int = 1 << 16) -> np.ndarray:
    if n <= 0 or rms <= 0:
        return np.zeros(max(n, 0), np.float32)
    out = np.empty(n, np.float32)
    freqs = np.fft.rfftfreq(block, 1.0 / SAMPLE_RATE_HZ)
    shape = 1.0 / np.sqrt(np.maximum(freqs, 20.0))
    for start in range(0, n, block):
        spectrum = np.fft.rfft(rng.standard_normal(block)) * shape
        chunk = np.fft.irfft(spectrum, block)
        chunk *= rms / np.sqrt(np.mean(chunk ** 2))
        out[start:start + block] = chunk[: min(block, n - start)]
    return out


def muted_capture(n: int, rng: np.random.Generator) -> np.ndarray:
    """Near-silent samples as a muted or stolen microphone delivers: int16 peak 41-96."""
    if n <= 0:
        return np.zeros(0, np.float32)
    noise = rng.standard_normal(n)
    peak_int16 = rng.uniform(41, 96)
    return (noise * (peak_int16 / np.max(np.abs(noise)) / INT16_FULL_SCALE)).astype(np.float32)


def to_pcm16(samples: np.ndarray) -> bytes:
    clipped = np.clip(np.round(samples * 32767.0), -32768, 32767)
    return clipped.astype("<i2").tobytes()


def from_pcm16(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / INT16_FULL_SCALE
