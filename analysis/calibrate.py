"""Calibration: the model's base server VAD against a real VAD, frame by frame.

Every 10 ms frame of a few kinds of audio is judged twice: by the base hypothesis `energy`
(a frame is speech when it is speech-like and at or above -40 dBFS, exactly as the server
model classifies it, `ServerVadHypotheses.classify`) and by WebRTC VAD (py-webrtcvad, the
`webrtcvad-wheels` package) on the same audio resampled to 16 kHz. Reported per kind: the
share of frames each calls speech and how often they agree. Where they disagree, the kind
says why: WebRTC VAD adapts to the level (quiet speech) and takes broadband clicks and
loud noise for speech more readily than the base hypothesis.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from vadlock.model.designs import PRODUCTION
from vadlock.model.hypotheses import INITIAL_FLOOR_BAND, FrameClass, ServerVadHypotheses
from vadlock.simulator import audio, features

WEBRTC_RATE_HZ = 16_000
WEBRTC_MODE = 2  # aggressiveness 0..3
FRAME_N = features.FRAME_N


@dataclass(frozen=True)
class Row:
    kind: str
    frames: int
    model_speech: float  # share of frames the model's base VAD calls speech
    webrtc_speech: float
    agreement: float


def _utterances(level_dbfs: float, rng: np.random.Generator) -> np.ndarray:
    """Ten 2 s utterances, 1 s apart, over -50 dBFS room noise."""
    x = audio.pink_noise(24_000 * 30, audio.dbfs_to_rms(-50.0), rng).copy()
    for k in range(10):
        voice = audio.speech(2_000, audio.dbfs_to_rms(level_dbfs), rng)
        start = (k * 3_000 + 500) * audio.SAMPLES_PER_MS
        x[start:start + len(voice)] += voice
    return x


def synthetic_kinds(seed: int = 0) -> dict[str, np.ndarray]:
    """The calibration audio, from `seed`."""
    rng = np.random.default_rng(seed)
    n = 24_000 * 20
    room = audio.dbfs_to_rms(-50.0)
    return {
        "speech at -22 dBFS": _utterances(-22.0, rng),
        "speech at -32 dBFS": _utterances(-32.0, rng),
        "speech at -38 dBFS": _utterances(-38.0, rng),
        "room noise at -50 dBFS": audio.pink_noise(n, room, rng),
        "loud noise at -30 dBFS": audio.pink_noise(n, audio.dbfs_to_rms(-30.0), rng),
        "keyboard typing": audio.keyboard(20_000, 6.0, 0.3, rng) + audio.pink_noise(n, room, rng),
        "muted track": np.concatenate([audio.muted_capture(FRAME_N, rng) for _ in range(2_000)]),
    }


def model_decisions(samples: np.ndarray) -> np.ndarray:
    """Per 10 ms frame: does the base server VAD call it speech?"""
    scale, energy = PRODUCTION.level_scale, ServerVadHypotheses()
    frames = samples[: len(samples) // FRAME_N * FRAME_N].reshape(-1, FRAME_N)
    symbols = features.symbols(frames, scale, np.zeros(FRAME_N, np.float32))
    return np.array([energy.classify(s, scale, False, INITIAL_FLOOR_BAND) is FrameClass.SPEECH
                     for s in symbols])


def webrtc_decisions(samples: np.ndarray, mode: int = WEBRTC_MODE) -> np.ndarray:
    """Per 10 ms frame: does WebRTC VAD call it speech?"""
    import webrtcvad

    from vadlock.simulator.recording import resample

    vad = webrtcvad.Vad(mode)
    pcm = audio.to_pcm16(resample(samples, audio.SAMPLE_RATE_HZ, WEBRTC_RATE_HZ)
                         .astype(np.float32))
    step = 2 * WEBRTC_RATE_HZ // 100  # bytes per 10 ms
    return np.array([vad.is_speech(pcm[i:i + step], WEBRTC_RATE_HZ)
                     for i in range(0, len(pcm) - step + 1, step)])


def compare(kind: str, samples: np.ndarray, mode: int = WEBRTC_MODE) -> Row:
    model, webrtc = model_decisions(samples), webrtc_decisions(samples, mode)
    n = min(len(model), len(webrtc))
    model, webrtc = model[:n], webrtc[:n]
    return Row(kind, n, round(float(model.mean()), 4), round(float(webrtc.mean()), 4),
               round(float(np.mean(model == webrtc)), 4))


def calibrate(seed: int = 0, mode: int = WEBRTC_MODE,
              progress: Callable[[str], None] | None = None) -> list[Row]:
    rows = []
    for kind, samples in synthetic_kinds(seed).items():
        if progress:
            progress(kind)
        rows.append(compare(kind, samples, mode))
    return rows


def findings(rows: list[Row]) -> list[str]:
    """The comparison in sentences, generated from the rows."""
    speech = [r for r in rows if r.kind.startswith("speech")]
    other = [r for r in rows if not r.kind.startswith("speech")]
    out = []
    if speech:
        best = max(speech, key=lambda r: r.agreement)
        worst = min(speech, key=lambda r: r.agreement)
        out.append(f"On speech the two agree on {best.agreement:.0%} of frames at best "
                   f"({best.kind}) and {worst.agreement:.0%} at worst ({worst.kind}), where "
                   f"WebRTC VAD calls {worst.webrtc_speech:.0%} of frames speech and the base "
                   f"model {worst.model_speech:.0%}.")
    if other:
        worst = min(other, key=lambda r: r.agreement)
        line = (f"On sound that is not speech they disagree most on {worst.kind}: WebRTC VAD "
                f"calls {worst.webrtc_speech:.0%} of its frames speech, the base model "
                f"{worst.model_speech:.0%}")
        if worst.kind == "keyboard typing" and worst.webrtc_speech > worst.model_speech:
            line += (" — what the `noise-as-speech` hypothesis supposes of OpenAI's server "
                     "VAD, a widely used VAD does")
        out.append(line + ".")
        rest = [r for r in other if r is not worst]
        if rest:
            out.append(f"On the rest ({', '.join(r.kind for r in rest)}) they agree on at "
                       f"least {min(r.agreement for r in rest):.0%} of frames.")
    return out


# -- command line -------------------------------------------------------------------------
def add_parser(subparsers) -> argparse.ArgumentParser:
    from vadlock.simulator.options import help_formatter

    p = subparsers.add_parser(
        "calibrate", formatter_class=help_formatter,
        help="compare the model's base server VAD with WebRTC VAD, frame by frame",
        description="Judge every 10 ms frame of synthetic speech (three levels), room noise, "
        "loud noise,\nkeyboard typing and a muted track — or of a WAV recording — twice: by "
        "the base\nhypothesis `energy` as the server model does, and by WebRTC VAD "
        "(webrtcvad-wheels)\non the audio resampled to 16 kHz. Prints the share of speech "
        "frames each finds\nand their agreement. Exit 0, or 2 for bad input.")
    p.add_argument("--audio", metavar="FILE.wav", help="compare on this recording instead")
    p.add_argument("--mode", type=int, default=WEBRTC_MODE, choices=range(4), metavar="0-3",
                   help=f"WebRTC VAD aggressiveness (default {WEBRTC_MODE})")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic audio")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)
    return p


def available() -> bool:
    """Whether WebRTC VAD (the `webrtcvad-wheels` package) is installed."""
    import importlib.util

    return importlib.util.find_spec("webrtcvad") is not None


def run(args: argparse.Namespace) -> int:
    if not available():
        raise ValueError("webrtcvad is not installed: pip install webrtcvad-wheels")
    if args.audio:
        from vadlock.simulator.recording import load_wav
        rows = [compare(str(args.audio), load_wav(args.audio), args.mode)]
    else:
        rows = calibrate(args.seed, args.mode)
    if args.json:
        print(json.dumps({"mode": args.mode, "rows": [asdict(r) for r in rows],
                          "findings": findings(rows) if not args.audio else []}, indent=2))
        return 0
    print(f"vadlock calibrate: base server VAD (energy) vs WebRTC VAD (mode {args.mode}), "
          "per 10 ms frame\n")
    print(f"  {'audio':28} {'frames':>7} {'model':>7} {'webrtc':>7} {'agree':>7}")
    for r in rows:
        print(f"  {r.kind:28} {r.frames:7d} {r.model_speech:7.1%} {r.webrtc_speech:7.1%} "
              f"{r.agreement:7.1%}")
    if not args.audio:
        print()
        for line in findings(rows):
            print(line)
    return 0
