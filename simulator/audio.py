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


def energy(samples: np.ndarray) -> float:
    """The sum of the squares, accumulated in float64 by numpy itself: the same bits on every
    machine. (`np.dot` hands the sum to the BLAS, whose kernel, and so its summation order
    and last bits, depends on the CPU: it made a fresh clone's figures differ by a pixel.)"""
    return float(np.einsum("i,i->", samples, samples, dtype=np.float64))


def _generator_key(rng: np.random.Generator) -> tuple:
    state = rng.bit_generator.state
    return (state["bit_generator"], repr(state["state"]), state.get("has_uint32"),
            state.get("uinteger"))


def drawn_once(fn):
    """Memoise `fn(*args, rng)`, whose only randomness is `rng`: the same arguments and
    generator state give the same result (read-only), and the generator is left in the
    state the call would have left it in. Search and review simulate many scenarios that
    share utterances and noise; this makes them synthesise each once."""
    cache: dict[tuple, tuple[np.ndarray, dict]] = {}

    def wrapper(*args):
        *plain, rng = args
        key = (*plain, _generator_key(rng))
        hit = cache.get(key)
        if hit is None:
            out = fn(*args)
            out.flags.writeable = False
            if len(cache) >= DRAWN_CACHE_SIZE:
                cache.pop(next(iter(cache)))
            hit = cache[key] = (out, rng.bit_generator.state)
        else:
            rng.bit_generator.state = hit[1]
        return hit[0]

    wrapper.__wrapped__ = fn
    wrapper.__doc__ = fn.__doc__
    return wrapper


DRAWN_CACHE_SIZE = 256
_TABLE_SIZE = 2048
_PHASE_BITS = 11  # log2(_TABLE_SIZE): the top bits of a uint32 phase accumulator index the table


def _voiced_period(f0_hz: float) -> np.ndarray:
    """One period of the voiced source for this F0: harmonics weighted by the formants
    (a sum of sines, built as one inverse FFT)."""
    k = np.arange(1, int(4000.0 // f0_hz) + 1)
    freq = k * f0_hz
    gain = sum(1.0 / (1.0 + ((freq - fc) / bw) ** 2) for fc, bw in _FORMANTS_HZ)
    spectrum = np.zeros(_TABLE_SIZE // 2 + 1, complex)
    spectrum[k] = -0.5j * _TABLE_SIZE * (gain + 0.05) / np.sqrt(k)
    return np.fft.irfft(spectrum, _TABLE_SIZE).astype(np.float32)


@drawn_once
def speech(duration_ms: int, active_rms: float, rng: np.random.Generator) -> np.ndarray:
    n = duration_ms * SAMPLES_PER_MS
    if n <= 0:
        return np.zeros(0, np.float32)
    f0_base = rng.uniform(100.0, 250.0)
    vibrato_hz = rng.uniform(0.3, 0.8)
    vibrato_phase = rng.uniform(0, 2 * np.pi)
    # F0 varies +-8 % around its base; a uint32 phase accumulator wraps once per period
    t = np.arange(n, dtype=np.float32) * np.float32(2 * np.pi * vibrato_hz / SAMPLE_RATE_HZ)
    increment = np.sin(t + np.float32(vibrato_phase))
    increment *= np.float32(0.08 * f0_base * 2 ** 32 / SAMPLE_RATE_HZ)
    increment += np.float32(f0_base * 2 ** 32 / SAMPLE_RATE_HZ)
    phase = np.cumsum(increment.astype(np.uint32), dtype=np.uint32)
    signal = _voiced_period(f0_base)[phase >> np.uint32(32 - _PHASE_BITS)]
    envelope = _syllabic_envelope(n, rng)
    signal *= envelope
    active = signal[envelope > 0.2]
    level = float(np.sqrt(energy(active) / len(active))) if len(active) else 1.0
    signal *= np.float32(active_rms / level)
    return signal


def _syllabic_envelope(n: int, rng: np.random.Generator) -> np.ndarray:
    """Syllables of 150-300 ms (half-sine bumps, 70-100 % high) overlapping by 5-25 %."""
    env = np.zeros(n, np.float32)
    pos = 0
    while pos < n:
        length = int(rng.uniform(0.15, 0.30) * SAMPLE_RATE_HZ)
        height = rng.uniform(0.7, 1.0)
        end = min(n, pos + length)
        bump = np.sin(np.arange(end - pos, dtype=np.float32) * np.float32(np.pi / (length - 1)))
        bump *= np.float32(height)
        np.maximum(env[pos:end], bump, out=env[pos:end])
        pos += int(length * rng.uniform(0.75, 0.95))
    # fade the utterance edges over 20 ms
    ramp = min(n // 2, 20 * SAMPLES_PER_MS)
    if ramp:
        fade = np.linspace(0, 1, ramp, dtype=np.float32)
        env[:ramp] *= fade
        env[-ramp:] *= fade[::-1]
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


_PINK_TILE = 1 << 16  # 2.7 s
_PINK_BANK = 4


@drawn_once
def _pink_tiles(count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` independent unit-RMS pink tiles (1/f power), each made circular by an FFT."""
    freqs = np.fft.rfftfreq(_PINK_TILE, 1.0 / SAMPLE_RATE_HZ)
    shape = 1.0 / np.sqrt(np.maximum(freqs, 20.0))
    tiles = np.fft.irfft(np.fft.rfft(rng.standard_normal((count, _PINK_TILE)), axis=1) * shape,
                         _PINK_TILE, axis=1)
    tiles /= np.sqrt(np.mean(tiles ** 2, axis=1, keepdims=True))
    return tiles.astype(np.float32)


def pink_noise(n: int, rms: float, rng: np.random.Generator) -> np.ndarray:
    """Pink noise at `rms`: each 2.7 s stretch is one of a few pink tiles, circularly
    shifted and sign-flipped at random (exact spectrum and level at a fraction of the
    cost of an FFT per stretch; no detector in the model can hear the reuse)."""
    if n <= 0 or rms <= 0:
        return np.zeros(max(n, 0), np.float32)
    stretches = -(-n // _PINK_TILE)
    tiles = _pink_tiles(min(_PINK_BANK, stretches), rng)
    picks = rng.integers(0, len(tiles), stretches)
    shifts = rng.integers(0, _PINK_TILE, stretches)
    signs = rng.choice(np.array([-1.0, 1.0], np.float32), stretches)
    out = np.empty(stretches * _PINK_TILE, np.float32)
    for i in range(stretches):
        tile = tiles[picks[i]]
        part = out[i * _PINK_TILE:(i + 1) * _PINK_TILE]
        cut = _PINK_TILE - shifts[i]
        np.multiply(tile[shifts[i]:], signs[i] * np.float32(rms), out=part[:cut])
        np.multiply(tile[:shifts[i]], signs[i] * np.float32(rms), out=part[cut:])
    return out[:n]


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


def quantize_pcm16(samples: np.ndarray) -> np.ndarray:
    """What a receiver decodes from `to_pcm16(samples)`, without the bytes in between
    (bit for bit: the rounded values are whole numbers float32 holds exactly, and the
    scale is a power of two)."""
    out = np.multiply(samples, np.float32(32767.0), dtype=np.float32)
    np.rint(out, out=out)
    np.clip(out, -32768.0, 32767.0, out=out)
    out *= np.float32(1.0 / INT16_FULL_SCALE)
    return out
