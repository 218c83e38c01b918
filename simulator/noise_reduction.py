"""The server's input noise reduction (`audio.input.noise_reduction`), as a stage in front
of its turn detector and of the model's input.

Documented (SDK `realtime_audio_config_input.py`, ../shared/reference/realtime-protocol.md
§3): `{type: near_field | far_field}` (null: off, the default) filters the audio before
VAD and the model, "to reduce false positives"; near_field is for headsets, far_field for
laptop or room microphones. OpenAI's algorithm is not known (grade `analogy` in
`model/evidence.py`): the stage here is a real suppressor, RNNoise (Valin 2018, the
`pyrnnoise` wheel's `librnnoise.so`, called through ctypes), measured on this project's
signals by `tests/test_noise_reduction.py` and `vadlock calibrate`-style tables
(`measure_stage`). RNNoise has one model: near_field and far_field run the same stage (no
documented difference in processing is known, so none is invented).

RNNoise takes 10 ms frames of 480 samples at 48 kHz: the 24 kHz stream is up-sampled by
linear interpolation and the output down-sampled by averaging sample pairs; state carries
across calls (one stage per server connection), and output follows input sample for
sample once the stream is whole 10 ms frames (what the server decodes).

Weights: inside the `pyrnnoise` wheel, installed without its dependencies (audiolab and
its av/ffmpeg stack are not needed) by the Makefile's set-up; nothing is downloaded.
"""

from __future__ import annotations

import ctypes
import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

INSTALL_HINT = "pip install --no-deps pyrnnoise"
TYPES = ("near_field", "far_field")
FRAME_24K = 240  # 10 ms at 24 kHz
FRAME_48K = 480  # RNNoise's frame: 10 ms at 48 kHz
INT16_SCALE = 32768.0


class NoiseReductionUnavailable(RuntimeError):
    """RNNoise cannot be loaded (one line, says how to install it)."""


@lru_cache(maxsize=1)
def _library() -> ctypes.CDLL:
    spec = importlib.util.find_spec("pyrnnoise")  # not imported: its __init__ needs audiolab
    if spec is None or not spec.submodule_search_locations:
        raise NoiseReductionUnavailable(f"noise reduction: the pyrnnoise package is not "
                                        f"installed ({INSTALL_HINT})")
    path = Path(next(iter(spec.submodule_search_locations))) / "librnnoise.so"
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as error:
        raise NoiseReductionUnavailable(f"noise reduction: cannot load {path.name}: "
                                        f"{error}") from None
    lib.rnnoise_create.argtypes = [ctypes.c_void_p]
    lib.rnnoise_create.restype = ctypes.c_void_p
    lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
    lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float),
                                          ctypes.POINTER(ctypes.c_float)]
    lib.rnnoise_process_frame.restype = ctypes.c_float
    lib.rnnoise_get_frame_size.restype = ctypes.c_int
    if lib.rnnoise_get_frame_size() != FRAME_48K:
        raise NoiseReductionUnavailable("noise reduction: librnnoise's frame is not 480 "
                                        "samples")
    return lib


def check_available() -> None:
    _library()


class NoiseReduction:
    """One connection's noise-reduction stage: 24 kHz float samples in, the same number
    out (whole 10 ms frames; a remainder waits for the next call)."""

    def __init__(self, kind: str = "near_field") -> None:
        if kind not in TYPES:
            raise ValueError(f"noise_reduction type must be one of {', '.join(TYPES)}, "
                             f"got {kind!r}")
        self.kind = kind
        self._lib = _library()
        self._state = self._lib.rnnoise_create(None)
        self._previous = 0.0  # the last input sample: the interpolation's left end
        self._pending = np.zeros(0, np.float64)
        self.speech_probability: list[float] = []  # RNNoise's own VAD output, per frame

    def __del__(self) -> None:
        state, self._state = getattr(self, "_state", None), None
        if state:
            self._lib.rnnoise_destroy(state)

    def process(self, samples: np.ndarray) -> np.ndarray:
        x = np.concatenate([self._pending, np.asarray(samples, np.float64)])
        whole = len(x) // FRAME_24K * FRAME_24K
        self._pending = x[whole:]
        out = np.empty(whole, np.float32)
        buffer = np.empty(FRAME_48K, np.float32)
        pointer = buffer.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        for start in range(0, whole, FRAME_24K):
            frame = x[start:start + FRAME_24K]
            before = np.concatenate([[self._previous], frame[:-1]])
            buffer[0::2] = (before + frame) * (0.5 * INT16_SCALE)  # the midpoints
            buffer[1::2] = frame * INT16_SCALE
            self._previous = frame[-1]
            self.speech_probability.append(
                float(self._lib.rnnoise_process_frame(self._state, pointer, pointer)))
            out[start:start + FRAME_24K] = (buffer[0::2] + buffer[1::2]) * (0.5 / INT16_SCALE)
        return out


def measure_stage(kind: str, signals: dict[str, np.ndarray], settle_ms: int = 500
                  ) -> dict[str, dict[str, float]]:
    """What the stage does to each named 24 kHz signal: RMS in and out (dBFS, after
    `settle_ms` of its own audio), int16 peak out, and whether exact zeros stay exact."""
    from vadlock.simulator import audio

    out = {}
    for name, signal in signals.items():
        stage = NoiseReduction(kind)
        cleaned = stage.process(signal)
        skip = settle_ms * 24
        before, after = signal[skip:len(cleaned)], cleaned[skip:]
        rms_in = float(np.sqrt(np.mean(np.square(before, dtype=np.float64))))
        rms_out = float(np.sqrt(np.mean(np.square(after, dtype=np.float64))))
        out[name] = {
            "rms_in_dbfs": round(audio.rms_to_dbfs(rms_in), 1),
            "rms_out_dbfs": round(audio.rms_to_dbfs(rms_out), 1),
            "peak_out_int16": int(np.max(np.abs(np.round(after * 32767)))) if len(after) else 0,
            "exact_zero_out": bool(not np.any(after)),
        }
    return out
