"""Synthetic audio, 24 kHz mono float32 in [-1, 1], deterministic from a numpy Generator.

- `speech`: syllables near 4 Hz, each a vowel (one of eight formant sets, gliding from the
  previous one) on a Rosenberg glottal pulse (F0 100-250 Hz, declining over the utterance,
  a pitch accent per syllable, jitter and shimmer), most after an unvoiced consonant; scaled
  to an active-speech RMS (0.08 is about -22 dBFS). Silero, WebRTC VAD, TEN VAD and RNNoise
  take it for speech (`vadlock calibrate`).
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


# Vowel formants (Hz) and bandwidths, adult averages (Peterson & Barney 1952; Hillenbrand et al. 1995),
# scaled up for higher voices; F4 and F5 fixed.
_VOWELS_HZ = np.array((
    (730.0, 1090.0, 2440.0),  # a
    (270.0, 2290.0, 3010.0),  # i
    (300.0, 870.0, 2240.0),   # u
    (530.0, 1840.0, 2480.0),  # e
    (570.0, 840.0, 2410.0),   # o
    (660.0, 1720.0, 2410.0),  # ae
    (640.0, 1190.0, 2390.0),  # uh
    (390.0, 1990.0, 2550.0),  # ih
))
_BANDWIDTHS_HZ = (80.0, 110.0, 160.0, 250.0, 300.0)
_HIGH_FORMANTS_HZ = (3500.0, 4500.0)
_VOWELS_HZ = np.hstack([_VOWELS_HZ, np.tile(_HIGH_FORMANTS_HZ, (len(_VOWELS_HZ), 1))])
_VOICED_TOP_HZ = 7_500.0


def _glottal_spectrum() -> np.ndarray:
    """One period of a Rosenberg glottal flow pulse (opening 40 %, closing 16 % of the
    period), differentiated (the lips radiate its derivative), as a spectrum per harmonic."""
    t = np.arange(_TABLE_SIZE) / _TABLE_SIZE
    open_q, close_q = 0.40, 0.16
    flow = np.where(t < open_q, 0.5 * (1 - np.cos(np.pi * t / open_q)),
                    np.where(t < open_q + close_q,
                             np.cos(np.pi * (t - open_q) / (2 * close_q)), 0.0))
    return np.fft.rfft(np.diff(flow, append=flow[0]))


_GLOTTAL = _glottal_spectrum()


def _voiced_periods(f0_hz: np.ndarray, formants_hz: np.ndarray) -> np.ndarray:
    """One period per row of a vowel at an F0 (`formants_hz` a row of five formants each): the
    glottal pulse's harmonics through a cascade of two-pole formant resonators (the vocal
    tract's all-pole response), each row unit-RMS, built as one batched inverse FFT."""
    k = np.arange(1, min(_TABLE_SIZE // 2, int(_VOICED_TOP_HZ // np.min(f0_hz)) + 1))
    freq = k[None, :] * f0_hz[:, None]
    z1 = np.exp(-2j * np.pi * freq / SAMPLE_RATE_HZ)
    response = np.where(freq <= _VOICED_TOP_HZ, _GLOTTAL[None, k], 0.0)
    for j, bw in enumerate(_BANDWIDTHS_HZ):
        r = np.exp(-np.pi * bw / SAMPLE_RATE_HZ)
        a1 = (-2 * r * np.cos(2 * np.pi * formants_hz[:, j] / SAMPLE_RATE_HZ))[:, None]
        response *= (1 + a1 + r * r) / (1 + a1 * z1 + r * r * z1 * z1)
    spectrum = np.zeros((len(f0_hz), _TABLE_SIZE // 2 + 1), complex)
    spectrum[:, k] = response
    periods = np.fft.irfft(spectrum, _TABLE_SIZE, axis=1)
    periods /= np.sqrt(np.mean(periods ** 2, axis=1, keepdims=True))
    return periods.astype(np.float32)


@drawn_once
def speech(duration_ms: int, active_rms: float, rng: np.random.Generator) -> np.ndarray:
    n = duration_ms * SAMPLES_PER_MS
    if n <= 0:
        return np.zeros(0, np.float32)
    f0_base = rng.uniform(100.0, 250.0)
    tract = 1.0 + 0.17 * (f0_base - 100.0) / 150.0  # higher voices, shorter vocal tracts
    syllables = _syllables(n, rng)
    count = len(syllables)
    # F0: a declination from +8 % to -8 % over the utterance, a pitch accent per syllable
    # (-5..+12 %) interpolated between syllable centres, and 1 % jitter every 5 ms
    centres = np.array([start + length / 2 for start, length, _ in syllables], np.float32)
    accents = rng.uniform(-0.05, 0.12, count).astype(np.float32)
    grid = np.arange(0, n + _JITTER_STEP, _JITTER_STEP, dtype=np.float32)
    contour = np.float32(1.08) - np.float32(0.16 / n) * grid
    contour += np.interp(grid, centres, accents).astype(np.float32)
    contour += rng.normal(0.0, 0.01, len(grid)).astype(np.float32)
    shimmer = np.float32(1.0) + rng.normal(0.0, 0.04, len(grid)).astype(np.float32)
    increment = np.repeat(contour * np.float32(f0_base * 2 ** 32 / SAMPLE_RATE_HZ),
                          _JITTER_STEP)[:n]
    phase = np.cumsum(increment.astype(np.uint32), dtype=np.uint32) >> np.uint32(32 - _PHASE_BITS)
    vowels = _VOWELS_HZ[rng.integers(len(_VOWELS_HZ), size=count)] * tract
    tables = _voiced_periods(f0_base * (1.0 + accents.astype(np.float64)), vowels)
    signal = np.zeros(n, np.float32)
    envelope = np.zeros(n, np.float32)
    for i, (start, length, height) in enumerate(syllables):
        end = min(n, start + length)
        bump = np.sin(np.arange(end - start, dtype=np.float32) * np.float32(np.pi / (length - 1)))
        bump *= np.float32(height)
        part = tables[i][phase[start:end]]
        if i:  # formant transition: glide from the previous vowel over 50 ms
            glide = min(end - start, _GLIDE_N)
            part[:glide] *= _GLIDE[:glide]
            part[:glide] += _GLIDE[::-1][:glide] * tables[i - 1][phase[start:start + glide]]
        part *= bump
        signal[start:end] += part
        np.maximum(envelope[start:end], bump, out=envelope[start:end])
    _add_consonants(signal, syllables, rng)
    signal *= np.repeat(shimmer, _JITTER_STEP)[:n]
    fade = _edge_fade(n)
    signal *= fade
    envelope *= fade
    active = signal[envelope > 0.2]
    level = float(np.sqrt(energy(active) / len(active))) if len(active) else 1.0
    signal *= np.float32(active_rms / level)
    return signal


_JITTER_STEP = 5 * SAMPLES_PER_MS
_GLIDE_N = 50 * SAMPLES_PER_MS
_GLIDE = np.linspace(0.0, 1.0, _GLIDE_N, dtype=np.float32)


def _syllables(n: int, rng: np.random.Generator) -> list[tuple[int, int, float]]:
    """Syllables of 150-300 ms (start, length in samples, height 70-100 %) overlapping by 5-25 %."""
    out = []
    pos = 0
    while pos < n:
        length = int(rng.uniform(0.15, 0.30) * SAMPLE_RATE_HZ)
        out.append((pos, length, float(rng.uniform(0.7, 1.0))))
        pos += int(length * rng.uniform(0.75, 0.95))
    return out


def _add_consonants(signal: np.ndarray, syllables: list[tuple[int, int, float]],
                    rng: np.random.Generator) -> None:
    """Unvoiced consonants ending just after 60 % of the syllable onsets: a fricative (40-110 ms
    of noise in a 3-9 kHz band, 60 %) or a plosive burst (10-20 ms, broadband), 10-20 dB below the
    vowel's peak."""
    count = len(syllables)
    present = rng.random(count) < 0.6
    fricative = rng.random(count) < 0.6
    seconds = np.where(fricative, rng.uniform(0.04, 0.11, count), rng.uniform(0.01, 0.02, count))
    below_db = rng.uniform(10.0, 20.0, count)
    bursts_n = (seconds * SAMPLE_RATE_HZ).astype(int)
    noise = rng.standard_normal(int(bursts_n.sum()) + 2)
    hiss = noise[2:] - noise[:-2]  # |H|^2 = 4 sin^2(2 pi f / 24 kHz): peak 6 kHz, half power 3-9 kHz
    offset = 0
    for i, (start, length, height) in enumerate(syllables):
        burst_n = bursts_n[i]
        burst = (hiss if fricative[i] else noise)[offset:offset + burst_n]
        offset += burst_n
        at = max(0, start + int(0.12 * length) - burst_n)
        end = min(len(signal), at + burst_n)
        if not present[i] or end <= at or burst_n < 2:
            continue
        window = np.sin(np.arange(burst_n) * (np.pi / (burst_n - 1))) ** 2
        scale = height * 10.0 ** (-below_db[i] / 20.0) / max(float(np.sqrt(np.mean(burst ** 2))),
                                                             1e-9)
        signal[at:end] += (burst * window * scale)[: end - at].astype(np.float32)


def _edge_fade(n: int) -> np.ndarray:
    """1 inside, fading the utterance's edges over 20 ms."""
    fade = np.ones(n, np.float32)
    ramp = min(n // 2, 20 * SAMPLES_PER_MS)
    if ramp:
        fade[:ramp] = np.linspace(0, 1, ramp, dtype=np.float32)
        fade[-ramp:] = fade[:ramp][::-1]
    return fade


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
