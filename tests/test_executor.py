"""The executor seam: the sweep and the review give the same results on local processes and
on a Dask cluster, also when a worker dies mid-run; the local default never imports Dask."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from distributed import Client, LocalCluster

from vadlock.analysis.sweep import sweep

SMALL_REVIEW = ["--designs", "production", "--servers", "energy", "--no-diagnosis",
                "--examples", "2"]


def test_a_sweep_on_a_local_dask_cluster_gives_the_local_result():
    local = sweep(["production", "capture-health"], "energy", sessions=3, minutes=1,
                  workers=2, seed=3)
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None, processes=True) as cluster:
        remote = sweep(["production", "capture-health"], "energy", sessions=3, minutes=1,
                       seed=3, scheduler=cluster.scheduler_address)
    assert remote.workers == 2
    assert remote == local  # every session's outcome, its freeze time and its event count
    assert len({o.server_events for row in remote.rows for o in row.outcomes}) > 1


def test_the_local_default_does_not_import_dask():
    code = ("import sys\n"
            "from vadlock.analysis.sweep import sweep\n"
            "sweep(['production'], 'energy', sessions=2, minutes=0.2, workers=2)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=300)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("address, says", [
    ("nonsense", "not an address like tcp://HOST:PORT"),
    ("tcp://127.0.0.1:1", "no Dask scheduler answers")])
def test_a_bad_scheduler_address_is_a_one_line_usage_error(address, says):
    run = subprocess.run([sys.executable, "-m", "vadlock", "sweep", "--sessions", "1",
                          "--minutes", "0.1", "--scheduler", address],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert says in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_workers_and_scheduler_exclude_each_other():
    run = subprocess.run([sys.executable, "-m", "vadlock", "review", "--workers", "2",
                          "--scheduler", "tcp://127.0.0.1:1", "--out", os.devnull],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "exclude each other" in run.stderr


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


def test_a_review_on_a_command_line_cluster_survives_a_lost_worker(tmp_path):
    """A scheduler and two workers started with `dask scheduler` / `dask worker` on
    127.0.0.1; one worker is killed (SIGKILL) while it runs a job: the scheduler hands
    its jobs to the other, and the review's files are byte for byte the local run's."""
    local = tmp_path / "local"
    subprocess.run([sys.executable, "-m", "vadlock", "review", "--out", str(local),
                    "--workers", "2", *SMALL_REVIEW], check=True, capture_output=True,
                   timeout=600)
    address_file = tmp_path / "scheduler.json"
    dask = [sys.executable, "-m", "dask"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    processes = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                   "--no-dashboard", "--scheduler-file", str(address_file)],
                                  **quiet)]
    try:
        deadline = time.monotonic() + 120
        while not (address_file.exists() and address_file.stat().st_size):
            assert processes[0].poll() is None and time.monotonic() < deadline
            time.sleep(0.1)  # the scheduler writes its address once it listens
        address = json.loads(address_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        workers = {}
        for name in ("w0", "w1"):
            workers[name] = subprocess.Popen(
                [*dask, "worker", address, "--name", name, "--nthreads", "1", "--no-nanny",
                 "--no-dashboard", "--host", "127.0.0.1",
                 "--local-directory", str(tmp_path / name)], **quiet)
            processes.append(workers[name])
        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=120)
            remote = tmp_path / "remote"
            review = subprocess.Popen(
                [sys.executable, "-m", "vadlock", "review", "--out", str(remote),
                 "--scheduler", address, *SMALL_REVIEW],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            processes.append(review)
            killed = None
            while killed is None and review.poll() is None:
                names = {w: info["name"] for w, info in client.scheduler_info()["workers"].items()}
                busy = sorted(names[w] for w, keys in client.processing().items() if keys)
                if busy:  # kill a worker holding a job (jobs take seconds: none is done)
                    killed = busy[0]
                    workers[killed].send_signal(signal.SIGKILL)
                    workers[killed].wait(timeout=20)
                time.sleep(0.05)
            stdout, stderr = review.communicate(timeout=900)
        assert review.returncode == 0, stderr
        assert killed is not None and workers[killed].returncode == -signal.SIGKILL
        lines = [line for line in stderr.splitlines() if line.startswith("vadlock review:")]
        total = lines[-1].split()[2].split("/")[1]
        assert lines[-1].split()[2] == f"{total}/{total}"  # every job done, on one worker
    finally:
        for process in reversed(processes):
            _stop(process)
    assert (remote / "review.json").read_bytes() == (local / "review.json").read_bytes()
    assert _files(remote) == _files(local)  # review.md, verdicts.png, evidence, timelines


def test_the_search_hands_over_the_trace_a_replay_of_its_counterexample_gives(tmp_path):
    """What the review no longer simulates twice: the failing example's trace is the trace
    of the saved counterexample replayed (`vadlock simulate --scenario`), byte for byte."""
    from vadlock.model.designs import get_design
    from vadlock.model.hypotheses import ServerVadHypotheses
    from vadlock.properties.search import search
    from vadlock.simulator.engine import simulate
    from vadlock.simulator.scenario import Scenario

    design, hypotheses = get_design("production"), ServerVadHypotheses.parse("energy")
    found = search(design, hypotheses, max_examples=10, seed=3, fault_classes=("capture",),
                   out_dir=tmp_path, shrink=False)
    assert found.scenario is not None and found.trace is not None
    replayed = Scenario.load(found.saved)
    again = simulate(design, hypotheses, replayed, seed=replayed.seed or 3)
    assert found.trace.jsonl_bytes() == again.jsonl_bytes()
    for name in ("transitions", "notices", "utterances", "chunks", "frames", "faults",
                 "reconnects", "initial_states", "scenario_name", "seed", "duration_ms"):
        assert getattr(found.trace, name) == getattr(again, name), name


def test_a_design_file_reaches_the_dask_workers():
    """A design read from a file is registered on every worker (a plugin), so a sweep of it
    on a cluster gives the local result."""
    from dataclasses import replace as _replace

    from vadlock.model.designs import FILE_DESIGNS, get_design, register_designs

    own = _replace(get_design("production"), name="own-cluster-design", chunk_ms=50)
    register_designs((own,))
    try:
        local = sweep(["own-cluster-design"], "energy", sessions=2, minutes=0.5, workers=1,
                      seed=5)
        with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                          dashboard_address=None, processes=True) as cluster:
            remote = sweep(["own-cluster-design"], "energy", sessions=2, minutes=0.5, seed=5,
                           scheduler=cluster.scheduler_address)
        assert remote == local
    finally:
        FILE_DESIGNS.pop("own-cluster-design", None)
