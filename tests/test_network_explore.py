"""The network fault class in the explorer: the transport as a bounded FIFO per direction,
a stall, a dropped connection, WebRTC media loss; its freezes replay in the simulator."""

from dataclasses import replace

from vadlock.model.designs import WatchdogSpec, get_design
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.properties.checks import FREEZE_PROPERTY, check
from vadlock.properties.explore import DROPPED, UP, ProductModel, Step, explore
from vadlock.simulator.engine import simulate
from vadlock.simulator.scenario import ConnectionDrop, MediaLoss, Network, Scenario, Utterance

ENERGY = ServerVadHypotheses.parse("energy")
# the planted cure: a client that reconnects when the server has been silent while it sends
RECONNECTS = WatchdogSpec("no_server_event_while_sending", 10_000, ("reconnect_with_replay",))


def test_a_client_that_never_reconnects_freezes_when_the_connection_drops(tmp_path):
    result = explore(get_design("production"), ENERGY, ("network",), out_dir=tmp_path)
    assert result.freeze_states > 0 and result.confirmed
    assert any(step.kind == "network" and step.net == "drop" for step in result.path)
    scenario = Scenario.load(result.saved)  # the replay reproduces the drop itself
    assert scenario.network.drops
    assert check(simulate(get_design("production"), ENERGY, scenario, seed=0),
                 (FREEZE_PROPERTY,))


def test_the_same_client_with_a_reconnecting_watchdog_does_not_freeze():
    design = replace(get_design("production"), name="production-reconnects",
                     watchdog_rules=(RECONNECTS,))
    for fifo_len in (1, 2):
        result = explore(design, ENERGY, ("network",), fifo_len=fifo_len)
        assert result.freeze_states == 0, fifo_len


def test_latency_above_one_block_alone_does_not_freeze_a_healthy_design():
    design = get_design("development")
    plain = explore(design, ENERGY, ("acoustic",), max_faults=0)
    late = explore(design, ENERGY, ("network",), fifo_len=2, max_faults=0)
    assert late.states > plain.states  # events in flight across blocks are explored
    assert late.freeze_states == 0


def test_a_server_reply_stays_in_flight_while_blocks_go_by():
    model = ProductModel(get_design("development"), ENERGY, ("network",), fifo_len=1)
    state = model.initial()
    speech = Step("block", model.fair_symbols[0])
    deliver_up = Step("deliver", net="up")
    for _ in range(12):  # speak until the server's speech_started is on its way
        state, _ = model.successor(state, speech)
        if state[4]:
            break
        if state[3]:
            state, _ = model.successor(state, deliver_up)
    in_flight = state[4]
    assert in_flight
    for _ in range(3):  # three blocks later it has still not arrived
        state, _ = model.successor(state, Step("block", model.fair_symbols[2]))
        assert state[4][0] == in_flight[0]
    state, progress = model.successor(state, Step("deliver", net="down"))
    assert progress  # the client sees speech_started when it arrives


def test_the_fifo_bound_holds_and_sets_the_state_count():
    design = get_design("development")
    counts = [explore(design, ENERGY, ("network",), fifo_len=n, confirm=False).states
              for n in (1, 2, 3)]
    assert counts[0] < counts[1] < counts[2]
    model = ProductModel(design, ENERGY, ("network",), fifo_len=2)
    frontier, seen, fullest = [model.initial()], set(), 0
    while frontier and len(seen) < 3000:
        state = frontier.pop()
        if state in seen:
            continue
        seen.add(state)
        up, down = state[3], state[4]
        assert len(up) <= 2 and len(down) <= 2
        fullest = max(fullest, len(up), len(down))
        for _, _, move in model.moves(state):
            applied = model.apply(state, move)
            if applied is not None:
                frontier.append(applied[0])
    assert fullest == 2


def test_a_drop_loses_what_is_in_flight_and_a_stall_resumes_fairly():
    model = ProductModel(get_design("development"), ENERGY, ("network",), fifo_len=2)
    state = model.initial()
    state, _ = model.successor(state, Step("block", model.fair_symbols[0]))
    assert state[3] and state[5] == UP
    moves = {step: fair for step, fair, _ in model.moves(state)}
    assert moves[Step("network", net="stall")] is False
    assert moves[Step("network", net="drop")] is False
    assert moves[Step("deliver", net="up")] is True
    dropped, _ = model.successor(state, Step("network", net="drop"))
    assert dropped[3] == dropped[4] == () and dropped[5] == DROPPED
    after, _ = model.successor(dropped, Step("block", model.fair_symbols[0]))
    assert after[3] == ()  # sent into a dead connection
    stalled, _ = model.successor(state, Step("network", net="stall"))
    moves = {step: fair for step, fair, _ in model.moves(stalled)}
    assert moves[Step("network", net="resume")] is True
    assert Step("deliver", net="up") not in moves


def test_media_loss_is_a_webrtc_fault_only():
    def lost_moves(design_name):
        model = ProductModel(get_design(design_name), ENERGY, ("network",))
        return [s for s, _, _ in model.moves(model.initial()) if s.net == "lost"]

    assert lost_moves("webrtc") and not lost_moves("production")


def test_the_simulator_drops_a_connection_and_a_reconnect_heals_it():
    design = get_design("production")
    talk = tuple(Utterance(1_000 + 9_000 * i, 1_800) for i in range(11))
    healthy = Scenario("drop", 100_000, utterances=talk)
    dropped = replace(healthy, network=Network(drops=(ConnectionDrop(20_000),)))
    assert not check(simulate(design, ENERGY, healthy, seed=0), (FREEZE_PROPERTY,))
    trace = simulate(design, ENERGY, dropped, seed=0)
    assert check(trace, (FREEZE_PROPERTY,))
    assert not [w for w in trace.wire if w.t_ms > 20_100 and w.direction == "server_to_client"]
    cured = replace(design, name="production-reconnects", watchdog_rules=(RECONNECTS,))
    trace = simulate(cured, ENERGY, dropped, seed=0)
    assert trace.reconnects >= 1 and not check(trace, (FREEZE_PROPERTY,))


def test_network_faults_round_trip_through_scenario_json(tmp_path):
    scenario = Scenario("n", 10_000, network=Network(
        drops=(ConnectionDrop(2_000),), media_losses=(MediaLoss(1_000, 100),)))
    assert Scenario.load(scenario.save(tmp_path / "n.json")) == scenario
