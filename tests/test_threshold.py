"""The server VAD's threshold: one mapping from the threshold to the symbols' edges, shared
by the simulator and the explorer; the `energy` engine's probability agreeing with it on
speech; every symbolic hypothesis running at any threshold; and the diagnosis'
sensitivity showing a cause whose observation a threshold flips."""

import numpy as np
import pytest

from vadlock.analysis.causes import Cause
from vadlock.analysis.diagnose import Story, conclude, diagnosis_jobs, run_jobs
from vadlock.analysis.sensitivity import SENSITIVITY_SEEDS, sensitivity, sensitivity_jobs
from vadlock.model.designs import PRODUCTION, get_design, variant
from vadlock.model.hypotheses import (INITIAL_FLOOR_BAND, FrameClass, ServerVadHypotheses,
                                      dead_band_edge_rms, speech_edge_rms)
from vadlock.model.symbols import FrameSymbol, Kind
from vadlock.properties.explore import ProductModel
from vadlock.simulator import audio, detectors, features
from vadlock.simulator.detectors.energy import CLICK_P
from vadlock.simulator.engine import Engine, simulate
from vadlock.simulator.scenario import Scenario, Utterance

THRESHOLDS = (0.3, 0.7)
SYMBOLIC = ("energy", "floor-adapt", "deadband", "noise-as-speech")


def _types(events) -> list[str]:
    return [e["type"] for e in events]


@pytest.mark.parametrize("threshold", THRESHOLDS)
@pytest.mark.parametrize("server", SYMBOLIC)
def test_simulator_and_explorer_hear_every_symbol_alike(threshold, server):
    """The simulator decodes audio on the design's scale with no engine in between, and its
    server reacts to each symbol of the explorer's alphabet (after the explorer merges the
    symbols it takes for alike) as the explorer's server does: from silence, and in speech
    (where SPEECH, SILENCE and the dead band's HOLD differ)."""
    design = get_design(f"development+threshold{threshold}")
    hypotheses = ServerVadHypotheses.parse(server)
    explorer = ProductModel(design, hypotheses, ("acoustic",))
    engine = Engine(design, hypotheses, Scenario("quiet", 1_000), seed=0)
    assert engine.decoder.detector is None and engine.server.vad.scale == explorer.scale
    rng = np.random.default_rng(0)
    for dbfs in (-65.0, -50.0, -30.0):  # samples decode to the explorer's level for them
        frames = audio.quantize_pcm16(audio.speech(400, audio.dbfs_to_rms(dbfs), rng))
        runs = engine._new_decoder().frames_of(frames)
        levels = {explorer.scale.level_of(r, False) for r in features.rms(
            frames[:len(frames) // 240 * 240].reshape(-1, 240))}
        assert {symbol.level for symbol, _ in runs if symbol.level} <= levels
    onset = FrameSymbol(explorer.scale.level_of(0.1, False), Kind.SPEECH)
    for symbol in explorer.alphabet:
        merged = explorer._server_symbol(symbol, "live")
        for lead in ((), ((onset, 300),)):
            heard = [_types(engine._new_server().receive_audio([*lead, (s, 800)]))
                     for s in (symbol, merged)]
            explored = _types(explorer._fresh_server().receive_audio([*lead, (symbol, 800)]))
            assert heard == [explored, explored], (symbol, merged, lead)


@pytest.mark.parametrize("server", SYMBOLIC)
def test_speech_between_the_edges_is_heard_at_0_3_and_not_at_0_7(server):
    """-30 dBFS speech lies between the speech edges of 0.3 (about -61 dBFS) and 0.7 (about
    -19 dBFS): every symbolic hypothesis runs at both (floor-adapt and deadband included)
    and hears it at the low threshold only. The user speaks once the room's noise (-50
    dBFS) has set floor-adapt's floor: over the floor's initial band, floor-adapt hears
    speech one band above it, quieter than the base edge (its own rule, at any threshold)."""
    assert speech_edge_rms(0.3) < audio.dbfs_to_rms(-30.0) < speech_edge_rms(0.7)
    scenario = Scenario("between", 18_000, utterances=(Utterance(5_000, 1_600, -30.0),
                                                        Utterance(11_000, 1_600, -30.0)))
    heard = {t: simulate(variant(get_design("development"), vad_threshold=t),
                         ServerVadHypotheses.parse(server), scenario, seed=1).summary()["heard"]
             for t in THRESHOLDS}
    assert heard == {0.3: 2, 0.7: 0}


@pytest.mark.parametrize("threshold", (0.3, 0.5, 0.7))
def test_the_energy_engine_and_the_symbols_agree_on_speech_at_any_threshold(threshold):
    """One mapping: the energy engine's probability for a speech-like frame crosses the
    threshold where the symbols' speech edge lies, and threshold - 0.15 where the dead band
    begins (within 0.5 dB). They differ only on key clicks, which the engine gives a fixed p (0.425) and the
    symbols never take for speech: at a threshold at or below that p, only clicks differ."""
    rng = np.random.default_rng(2)
    signal = np.concatenate([audio.speech(1_500, audio.dbfs_to_rms(db), rng)
                             for db in (-70, -62, -58, -50, -38, -25, -16, -8)]
                            + [audio.keyboard(2_000, 6.0, 0.3, rng),
                               audio.pink_noise(48_000, 0.01, rng), np.zeros(4_800, np.float32)])
    p = detectors.probabilities("energy", signal)
    frames = audio.quantize_pcm16(signal).reshape(-1, 240)
    scale = variant(PRODUCTION, vad_threshold=threshold).level_scale
    symbols = features.symbols(frames, scale, np.zeros(240, np.float32))
    base, deadband = ServerVadHypotheses(), ServerVadHypotheses.parse("deadband")
    speech = np.array([base.classify(s, scale, False, INITIAL_FLOOR_BAND) is FrameClass.SPEECH
                       for s in symbols])
    held = np.array([deadband.classify(s, scale, True, INITIAL_FLOOR_BAND) is FrameClass.HOLD
                     for s in symbols])
    clicks = np.array([s.kind is Kind.TRANSIENT for s in symbols])
    voice = np.array([s.kind is Kind.SPEECH for s in symbols])
    differ = (p >= threshold) != speech
    assert not differ[~clicks].any()
    assert differ.any() == (threshold <= CLICK_P)
    # the dead band's edge is the near-silent edge (-56.5 dBFS) at 0.5, moved with the
    # threshold; the engine's is 0.5 dB above it: frames in between are left out
    in_band = (p >= threshold - 0.15) & (p < threshold)
    level_db = 20 * np.log10(np.maximum(features.rms(frames), 1e-12) / dead_band_edge_rms(
        threshold))
    clear = voice & ((level_db < 0) | (level_db >= 0.5))
    assert np.array_equal(in_band[clear], held[clear]) and held[clear].any()
    assert 0 < speech.mean() < 1
    assert dead_band_edge_rms(0.5) == pytest.approx(0.0015)


def test_explore_runs_every_symbolic_hypothesis_at_another_threshold(capsys):
    from vadlock.cli import main
    assert main(["explore", "--design", "production+threshold0.7", "--server", "floor-adapt",
                 "--faults", "acoustic", "--json"]) in (0, 1)
    # an engine is explored only from its measured table, which covers the level scale it
    # was measured on (the threshold moves the symbolic edges, hence the scale)
    assert main(["explore", "--design", "production+threshold0.7", "--server", "silero"]) == 2
    assert "vadlock measure --engine silero --design production+threshold0.7" in \
        capsys.readouterr().err


# -- the sensitivity ----------------------------------------------------------------------
def test_a_threshold_that_flips_an_observation_shows_in_its_sensitivity_row(monkeypatch):
    """Planted: an attenuated capture 35 dB down, an ungated build. The user's loud speech
    after the switch (-12 dBFS) arrives at about -47 dBFS: under the speech edge at the
    default 0.5 (-40 dBFS), so speaking louder does not recover (O7 holds), and above it at
    0.3 (-61 dBFS), where it is heard and O7 fails. The sensitivity's threshold rows, run
    through the same machinery as every design-variant row, show exactly that."""
    import vadlock.analysis.diagnose as diagnose
    import vadlock.analysis.sensitivity as sens

    planted = Cause("energy", capture="attenuated")
    monkeypatch.setattr(diagnose, "causes", lambda: [planted])
    monkeypatch.setattr(sens, "causes", lambda: [planted])
    monkeypatch.setattr(sens, "SERVER_THRESHOLDS", (0.3,))
    base = Story(attenuation_db=-35.0)
    jobs = diagnosis_jobs("no-gate", base, SENSITIVITY_SEEDS, probes=False) + \
        sensitivity_jobs("no-gate", base, parameters=("server_threshold",))
    assert any(job[0] == "no-gate+threshold0.3" for job in jobs)
    runs = run_jobs(list(dict.fromkeys(jobs)), workers=2)
    rows = sensitivity("no-gate", runs, conclude("no-gate", runs, variant=base,
                                                 seeds=SENSITIVITY_SEEDS),
                       base, parameters=("server_threshold",))
    by_value = {(row["parameter"], row["value"]): row for row in rows}
    assert set(by_value) == {("defaults", "seeds 0"), ("server_threshold", "0.3")}
    default_fails = by_value["defaults", "seeds 0"]["fails"][planted.name]
    low_fails = by_value["server_threshold", "0.3"]["fails"][planted.name]
    assert "O7" not in default_fails and "O7" in low_fails
