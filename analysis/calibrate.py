"""Calibration: every detector engine, frame by frame, on synthetic audio and real speech.

Every 10 ms frame of each signal is judged by each engine (`simulator.detectors`: the
base model's `energy` rule, Silero, WebRTC VAD, TEN VAD where they load) exactly as the
server would run it: one fresh engine per signal, fed the signal quantised to pcm16 at 24
kHz, its probability compared with the threshold (0.5). Reported per signal: the share
of frames each engine takes for speech. The signals: the presets' synthetic voice at
three levels; sentences spoken by espeak-ng (real speech, made at run time) at a normal
level and attenuated by 40, 50 and 60 dB (an attenuated capture); exact zeros;
near-silence (a muted track, int16 peaks 41-96); room noise, loud noise and keyboard
typing. `model_speech`, `webrtc_speech` and `agreement` (base vs WebRTC VAD, frame by
frame) keep the first calibration's columns.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from vadlock.simulator import audio, detectors, espeak, features
from vadlock.simulator.detectors.webrtc import DEFAULT_MODE as WEBRTC_MODE

FRAME_N = features.FRAME_N
THRESHOLD = 0.5
ROOM_DBFS = -50.0
ESPEAK_PEAK_DBFS = -10.0


@dataclass(frozen=True)
class Row:
    kind: str  # the signal
    frames: int
    model_speech: float  # share of frames the base model (`energy`) calls speech
    webrtc_speech: float
    agreement: float  # base model vs WebRTC VAD, frame by frame
    speech: dict[str, float] = field(default_factory=dict)  # engine -> share of frames


def _utterances(level_dbfs: float, rng: np.random.Generator) -> np.ndarray:
    """Ten 2 s utterances, 1 s apart, over -50 dBFS room noise."""
    x = audio.pink_noise(24_000 * 30, audio.dbfs_to_rms(ROOM_DBFS), rng).copy()
    for k in range(10):
        voice = audio.speech(2_000, audio.dbfs_to_rms(level_dbfs), rng)
        start = (k * 3_000 + 500) * audio.SAMPLES_PER_MS
        x[start:start + len(voice)] += voice
    return x


def synthetic_kinds(seed: int = 0) -> dict[str, np.ndarray]:
    """The synthetic calibration audio, from `seed`."""
    rng = np.random.default_rng(seed)
    n = 24_000 * 20
    room = audio.dbfs_to_rms(ROOM_DBFS)
    return {
        "speech at -22 dBFS": _utterances(-22.0, rng),
        "speech at -32 dBFS": _utterances(-32.0, rng),
        "speech at -38 dBFS": _utterances(-38.0, rng),
        "room noise at -50 dBFS": audio.pink_noise(n, room, rng),
        "loud noise at -30 dBFS": audio.pink_noise(n, audio.dbfs_to_rms(-30.0), rng),
        "keyboard typing": audio.keyboard(20_000, 6.0, 0.3, rng) + audio.pink_noise(n, room, rng),
        "muted track": np.concatenate([audio.muted_capture(FRAME_N, rng) for _ in range(2_000)]),
    }


def real_kinds(seed: int = 0) -> dict[str, np.ndarray]:
    """espeak-ng's sentences over room noise, as captured and attenuated; exact zeros."""
    rng = np.random.default_rng([seed, 1])
    spoken = espeak.sentences(ESPEAK_PEAK_DBFS)
    captured = spoken + audio.pink_noise(len(spoken), audio.dbfs_to_rms(ROOM_DBFS), rng)
    out = {"espeak-ng speech": captured}
    for db in (40, 50, 60):
        out[f"espeak-ng speech -{db} dB"] = captured * np.float32(10 ** (-db / 20))
    out["exact zeros"] = np.zeros(24_000 * 10, np.float32)
    return out


def engines() -> list[str]:
    """The engines that run here."""
    return [name for name in detectors.ENGINES if detectors.available(name)]


def decisions(name: str, samples: np.ndarray, mode: int = WEBRTC_MODE) -> np.ndarray:
    """Per 10 ms frame: does a fresh `name` engine take it for speech (p >= 0.5)?"""
    params = {"mode": mode} if name == "webrtc-vad" else {}
    return detectors.probabilities(name, samples, **params) >= THRESHOLD


def compare(kind: str, samples: np.ndarray, mode: int = WEBRTC_MODE,
            names: list[str] | None = None) -> Row:
    names = engines() if names is None else names
    judged = {name: decisions(name, samples, mode) for name in names}
    n = min(len(d) for d in judged.values())
    model = judged.get("energy", np.zeros(n, bool))[:n]
    webrtc = judged.get("webrtc-vad", np.zeros(n, bool))[:n]
    return Row(kind, n, round(float(model.mean()), 4), round(float(webrtc.mean()), 4),
               round(float(np.mean(model == webrtc)), 4),
               {name: round(float(d[:n].mean()), 4) for name, d in judged.items()})


def calibrate(seed: int = 0, mode: int = WEBRTC_MODE,
              progress: Callable[[str], None] | None = None, real: bool = True) -> list[Row]:
    signals = dict(synthetic_kinds(seed))
    if real and espeak.available():
        signals.update(real_kinds(seed))
    names = engines()
    rows = []
    for kind, samples in signals.items():
        if progress:
            progress(kind)
        rows.append(compare(kind, samples, mode, names))
    return rows


def findings(rows: list[Row]) -> list[str]:
    """The comparison in sentences, generated from the rows."""
    speech = [r for r in rows if r.kind.startswith("speech")]
    other = [r for r in rows if not r.kind.startswith(("speech", "espeak", "exact"))]
    out = []
    if speech:
        best = max(speech, key=lambda r: r.agreement)
        worst = min(speech, key=lambda r: r.agreement)
        out.append(f"On the synthetic voice the base model and WebRTC VAD agree on "
                   f"{best.agreement:.0%} of frames at best ({best.kind}) and "
                   f"{worst.agreement:.0%} at worst ({worst.kind}), where WebRTC VAD calls "
                   f"{worst.webrtc_speech:.0%} of frames speech and the base model "
                   f"{worst.model_speech:.0%}.")
        silero = [r.speech["silero"] for r in speech if "silero" in r.speech]
        if silero:
            out.append(f"Silero takes at most {max(silero):.0%} of the synthetic voice's "
                       "frames for speech: to a detector trained on real speech it is not "
                       "speech, so the simulator's silero engine misses the presets' "
                       "synthetic utterances.")
    spoken = next((r for r in rows if r.kind == "espeak-ng speech"), None)
    if spoken is not None and spoken.speech:
        shares = ", ".join(f"{name} {share:.0%}" for name, share in spoken.speech.items())
        out.append(f"On real speech (espeak-ng) the engines take {shares} of frames for "
                   "speech.")
    if other:
        worst = min(other, key=lambda r: r.agreement)
        line = (f"On sound that is not speech the base model and WebRTC VAD disagree most on "
                f"{worst.kind}: WebRTC VAD calls {worst.webrtc_speech:.0%} of its frames "
                f"speech, the base model {worst.model_speech:.0%}")
        if worst.kind == "keyboard typing" and worst.webrtc_speech > worst.model_speech:
            line += (" — what the `noise-as-speech` hypothesis supposes of OpenAI's server "
                     "VAD, a widely used VAD does")
        out.append(line + ".")
        rest = [r for r in other if r is not worst]
        if rest:
            out.append(f"On the rest ({', '.join(r.kind for r in rest)}) they agree on at "
                       f"least {min(r.agreement for r in rest):.0%} of frames.")
    zeros = next((r for r in rows if r.kind == "exact zeros"), None)
    if zeros is not None and zeros.speech:
        heard = [name for name, share in zeros.speech.items() if share > 0]
        out.append("On exact zeros " + (f"{', '.join(heard)} take frames for speech."
                                         if heard else "no engine takes a frame for speech."))
    return out


# -- command line -------------------------------------------------------------------------
def add_parser(subparsers) -> argparse.ArgumentParser:
    from vadlock.simulator.options import add_json_option, help_formatter

    p = subparsers.add_parser(
        "calibrate", formatter_class=help_formatter,
        help="compare every detector engine frame by frame, on synthetic audio and real speech",
        description="Judge every 10 ms frame of synthetic speech (three levels), espeak-ng "
        "speech (normal,\n-40, -50 and -60 dB), exact zeros, a muted track, room noise, loud "
        "noise and keyboard\ntyping — or of a WAV recording — with every detector engine that "
        "runs here (energy,\nthe base model's rule; silero; webrtc-vad; ten) as the server "
        "would run it, at threshold\n0.5. Prints the share of frames each takes for speech, and "
        "how often the base model and\nWebRTC VAD agree. Exit 0, or 2 for bad input.")
    p.add_argument("--audio", metavar="FILE.wav", help="compare on this recording instead")
    p.add_argument("--mode", type=int, default=WEBRTC_MODE, choices=range(4), metavar="0-3",
                   help=f"WebRTC VAD aggressiveness (default {WEBRTC_MODE})")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic audio")
    add_json_option(p)
    p.set_defaults(run=run)
    return p


def available() -> bool:
    """Whether the calibration can compare with WebRTC VAD (`webrtcvad-wheels`)."""
    return detectors.available("webrtc-vad")


def run(args: argparse.Namespace) -> int:
    if not available():
        raise ValueError("webrtcvad is not installed: pip install webrtcvad-wheels")
    if args.audio:
        from vadlock.simulator.recording import load_wav
        rows = [compare(str(args.audio), load_wav(args.audio), args.mode)]
    else:
        rows = calibrate(args.seed, args.mode)
    names = list(rows[0].speech)
    if args.json:
        print(json.dumps({"mode": args.mode, "threshold": THRESHOLD, "engines": names,
                          "rows": [asdict(r) for r in rows],
                          "findings": findings(rows) if not args.audio else []}, indent=2))
        return 0
    print(f"vadlock calibrate: share of 10 ms frames each engine takes for speech (threshold "
          f"{THRESHOLD}, webrtc-vad mode {args.mode})\n")
    print(f"  {'audio':28} {'frames':>7} " + " ".join(f"{n:>10}" for n in names)
          + f" {'agree':>7}")
    for r in rows:
        print(f"  {r.kind:28} {r.frames:7d} "
              + " ".join(f"{r.speech[n]:10.1%}" for n in names) + f" {r.agreement:7.1%}")
    print("\n  agree: the base model (energy) and webrtc-vad, frame by frame")
    if not args.audio:
        print()
        for line in findings(rows):
            print(line)
    return 0
