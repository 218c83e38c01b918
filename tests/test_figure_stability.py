"""Figures are the same bytes on every machine: nothing on the way from a seed to a PNG may
depend on which BLAS kernel the CPU selects (`np.dot` did: a fresh clone on another CPU
redrew 14 timelines with one pixel changed)."""

import os
import subprocess
import sys

import numpy as np

from vadlock.model.symbols import LevelScale
from vadlock.simulator.audio import energy
from vadlock.simulator.features import FRAME_N, SignalFrames, chunk_stats_of

# Speech, its environment, the wire and a timeline, printed as digests. OpenBLAS picks its
# kernels by CPU; OPENBLAS_CORETYPE forces one (Prescott: SSE3, whose float32 dot product
# sums in another order than the AVX2 and AVX-512 kernels that x86 machines pick today).
_DIGESTS = """
import hashlib, sys
from vadlock.model.designs import get_design
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.simulator.audio import speech
from vadlock.simulator.engine import environment_audio, simulate
from vadlock.simulator.plot import plot_trace
from vadlock.simulator.presets import preset
import numpy as np

digest = lambda data: hashlib.sha256(data).hexdigest()[:16]
scenario = preset("field-report", 40_000)
trace = simulate(get_design("production"), ServerVadHypotheses.parse("energy"), scenario, seed=0)
print("speech", *(digest(speech(ms, 0.08, np.random.default_rng(seed)).tobytes())
                  for seed in range(6) for ms in (700, 2900)))
print("environment", digest(environment_audio(scenario, 0).tobytes()))
print("wire", digest(repr([(r.t_ms, r.direction, r.event) for r in trace.wire]).encode()))
print("timeline", digest(plot_trace(trace, sys.argv[1]).read_bytes()))
"""


def _digests(tmp_path, coretype: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    image = tmp_path / f"timeline-{coretype or 'native'}.png"
    done = subprocess.run([sys.executable, "-c", _DIGESTS, str(image)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_audio_wire_and_timeline_bytes_do_not_depend_on_the_blas_kernel(tmp_path):
    native, prescott = _digests(tmp_path, None), _digests(tmp_path, "Prescott")
    assert [line.split()[0] for line in native] == ["speech", "environment", "wire",
                                                     "timeline"]
    assert native == prescott


def test_energy_is_the_float64_sum_of_squares():
    samples = np.array([0.5, -0.25, 3.0], np.float32)
    assert energy(samples) == 0.25 + 0.0625 + 9.0
    many = np.random.default_rng(1).standard_normal(10_001).astype(np.float32)
    assert abs(energy(many) - float(np.sum(many.astype(np.float64) ** 2))) < 1e-9 * energy(many)


def test_a_chunk_has_the_same_rms_bits_in_a_batch_and_alone():
    """`chunk_stats` computes aligned chunks a batch at a time and any other chunk alone;
    either way a chunk's RMS is the same float."""
    source = (np.random.default_rng(2).standard_normal(24 * FRAME_N) * 0.1).astype(np.float32)
    frames = SignalFrames(source, LevelScale.build(), quantize=False)
    for k0, n_frames in ((0, 2), (4, 2), (6, 3), (5, 2)):  # batched, batched, alone, alone
        alone = chunk_stats_of(source[k0 * FRAME_N:(k0 + n_frames) * FRAME_N])
        assert frames.chunk_stats(k0, n_frames) == alone
