"""A detector engine as the explorer sees it: a measured table, never typed by hand.

The explorer works on symbols; a real engine (Silero, WebRTC VAD, TEN) hears audio. Its
abstraction is the table `vadlock measure` generates (`model/measured/<engine>.json`, data
only): every symbol a design's server can receive, rendered as audio exactly as the
replay renders a block (`properties.replay.block_segment`, 24 kHz pcm16, the engine's own
16 kHz resampling), after every history the explorer tells apart, run through the real
engine; recorded per 10 ms frame of the block: the speech probability for each seed.
The lookup decides each frame at the session's threshold on the median over the seeds.

Histories: the engine's own state at the end of the previous block, as the table itself
says it (one step of memory the explorer keeps beside the server's state):
- `speech`: the previous block's last frame was speech to the engine (a hangover, an
  LSTM's state, carry on): rendered as 1 s of the explorer's clear-speech symbol;
- `zeros`: otherwise, when the previous block was exact zeros (a gate's, a disabled
  capture's; zero-skip and WebRTC VAD's frozen noise model care): 1 s of zeros;
- `silence`: otherwise (a fresh server too): 1 s of the explorer's quiet-room symbol.
A block equal to its context continues it (one segment, as the replay merges equal blocks).
The table is an abstraction, not a bound: an engine's state reaches further back than
one block, so every freeze found with it is replayed with the real engine.
"""

from __future__ import annotations

import importlib.metadata
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from statistics import median

from vadlock.model.symbols import Detection, FrameSymbol, LevelScale

FORMAT = 1
HISTORIES = ("silence", "speech", "zeros")
ZEROS = ("zeros", None)  # how exact zeros are rendered: no segment, the samples are 0
# the packages whose versions decide an engine's probabilities
PACKAGES = {"silero": ("silero-vad", "onnxruntime"), "webrtc-vad": ("webrtcvad-wheels",),
            "ten": ("ten-vad",)}
Render = tuple[str, float | None]  # (segment kind, level dBFS) or ZEROS


class EngineTableError(ValueError):
    """A table that is missing, outdated or lacks an entry (one line, says how to fix it)."""


def table_name(label: str) -> str:
    """The file name of an engine label: `silero`, `webrtc-vad`, `webrtc-vad-3` for
    `webrtc-vad:3` (a WebRTC VAD mode other than the default)."""
    return label.replace(":", "-")


def table_path(name: str) -> Path:
    import vadlock.model

    return Path(vadlock.model.__file__).parent / "measured" / f"{name}.json"


def installed_versions(engine: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for package in PACKAGES[engine]:
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = None
    return out


def regenerate_hint(label: str) -> str:
    return f"regenerate it with: vadlock measure --engine {label}"


def render(symbol: FrameSymbol, scale: LevelScale) -> Render:
    """How a symbol sounds to the engine: exact zeros, or the replay's segment for it."""
    from vadlock.properties.replay import block_segment

    return ZEROS if symbol.level == 0 else block_segment(symbol, scale)


def history_contexts(scale: LevelScale, clear_speech: FrameSymbol, room: FrameSymbol
                     ) -> dict[str, Render]:
    """What each history renders as, on this level scale."""
    return {"silence": render(room, scale), "speech": render(clear_speech, scale),
            "zeros": ZEROS}


def next_history(detections: tuple[Detection, ...], block: Render) -> str:
    """The history the next block follows, after a block heard as `detections`."""
    if detections and detections[-1] is Detection.SPEECH:
        return "speech"
    return "zeros" if block == ZEROS else "silence"


def keys_for(designs, chunks_ms: tuple[int, ...] = (100, 20)) -> list[tuple]:
    """Every (history, context, block, chunk_ms) the explorer can look up for these
    designs, in a stable order: each history, each level band x kind and exact zeros."""
    from vadlock.model.symbols import Kind
    from vadlock.properties.explore import fair_symbols

    keys = set()
    for design in designs:
        scale = design.level_scale
        speech, _, room = fair_symbols(scale)
        blocks = {ZEROS} | {render(FrameSymbol(level, kind), scale)
                            for level in range(1, scale.count) for kind in Kind}
        for history, context in history_contexts(scale, speech, room).items():
            keys |= {entry_key(history, context, block, chunk_ms)
                     for block in blocks for chunk_ms in chunks_ms}
    return sorted(keys, key=lambda k: (k[0], _order(k[1]), _order(k[2]), -k[3]))


def _order(render_: Render) -> tuple:
    kind, level = render_
    return (kind, -999.0 if level is None else level)


def entry_key(history: str, context: Render, block: Render, chunk_ms: int) -> tuple:
    return (history, tuple(context), tuple(block), chunk_ms)


@dataclass(frozen=True)
class EngineTable:
    """One engine's measured decisions: (history, context, block, chunk_ms) -> per frame,
    per seed, the speech probability."""

    label: str  # the engine as --server names it (`webrtc-vad:3`)
    path: Path
    packages: dict[str, str | None]
    entries: dict[tuple, tuple[tuple[float, ...], ...]]  # key -> frames x seeds

    @classmethod
    def load(cls, label: str, path: Path | None = None) -> "EngineTable":
        """The committed table of engine `label`; EngineTableError when it is missing or
        was measured with other package versions than those installed."""
        return _load(label, str(path or table_path(table_name(label))))

    def detections(self, history: str, context: Render, block: Render, chunk_ms: int,
                   threshold: float) -> tuple[Detection, ...]:
        """The engine's verdict on each 10 ms frame of the block, at `threshold`."""
        frames = self.entries.get(entry_key(history, context, block, chunk_ms))
        if frames is None:
            raise EngineTableError(
                f"engine table {self.path.name} has no entry for a {chunk_ms} ms block of "
                f"{_show(block)} after {history} ({_show(context)}); "
                f"{regenerate_hint(self.label)} --design NAME")
        return tuple(Detection.of(median(seeds), threshold) for seeds in frames)


def _show(render_: Render) -> str:
    kind, level = render_
    return "exact zeros" if kind == "zeros" else f"{kind} at {level} dBFS"


@lru_cache(maxsize=8)
def _load(label: str, path_text: str) -> EngineTable:
    path, engine, name = Path(path_text), label.partition(":")[0], label
    if not path.is_file():
        raise EngineTableError(f"no measured table for engine {name} ({path}): "
                               f"{regenerate_hint(name)}")
    data = json.loads(path.read_text())
    if data.get("format") != FORMAT or data.get("engine") != label:
        raise EngineTableError(f"{path}: not a format-{FORMAT} table of engine {engine}; "
                               f"{regenerate_hint(name)}")
    installed = installed_versions(engine)
    if data["packages"] != installed:
        measured = ", ".join(f"{k} {v}" for k, v in data["packages"].items())
        now = ", ".join(f"{k} {v}" for k, v in installed.items())
        raise EngineTableError(f"engine table {path.name} was measured with {measured}, "
                               f"installed: {now}; {regenerate_hint(name)}")
    entries = {entry_key(e["history"], e["context"], e["block"], e["chunk_ms"]):
               tuple(zip(*e["p"])) for e in data["entries"]}
    return EngineTable(label, path, installed, entries)
