"""Where the sweep's and the review's jobs run: a local process pool, or a Dask cluster.

One seam, `run_jobs(fn, jobs, workers, scheduler)`: it yields `(index, result)` for every
job, in whatever order the jobs finish. Callers key each result by its index (or by what
the job names), never by the order of arrival, so a result does not depend on the executor
or on how many workers there are. Jobs are pure functions of their arguments: a job that
ran twice (a lost Dask worker's tasks are rescheduled elsewhere) returns the same result.

- `scheduler=None` (the default): a local `ProcessPoolExecutor` of `workers` processes
  (fork where the platform has it), or the calling process itself for one worker or one
  job. Dask is not imported.
- `scheduler="tcp://HOST:PORT"`: the jobs are submitted, in order, to the
  `dask.distributed` scheduler at that address; its workers must have vadlock installed
  (the function is pickled by reference). `workers` is ignored: the cluster has its own.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Iterator, Sequence

CONNECT_TIMEOUT_S = 10


def _file_designs() -> tuple:
    """The designs read from design files in this process: every worker registers them,
    so a job names a design the same way wherever it runs."""
    from vadlock.model.designs import FILE_DESIGNS

    return tuple(FILE_DESIGNS.values())


def _pool(workers: int) -> ProcessPoolExecutor:
    from vadlock.model.designs import register_designs

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork") if "fork" in methods else None
    return ProcessPoolExecutor(workers, mp_context=context, initializer=register_designs,
                               initargs=(_file_designs(),))


def run_jobs(fn: Callable[[Any], Any], jobs: Sequence[Any], workers: int = 1,
             scheduler: str | None = None) -> Iterator[tuple[int, Any]]:
    """`(index, fn(jobs[index]))` for every job, as each finishes."""
    if scheduler is not None:
        yield from _run_dask(fn, jobs, scheduler)
    elif workers <= 1 or len(jobs) <= 1:
        for index, job in enumerate(jobs):
            yield index, fn(job)
    else:
        with _pool(min(workers, len(jobs))) as pool:
            futures = {pool.submit(fn, job): index for index, job in enumerate(jobs)}
            for future in as_completed(futures):
                yield futures[future], future.result()


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()
    return text[0] if text else exc.__class__.__name__


def _connect(scheduler: str):
    from distributed import Client
    from distributed.comm import parse_address, parse_host_port

    try:
        parse_host_port(parse_address(scheduler)[1])
    except ValueError as exc:
        raise ValueError(f"--scheduler {scheduler}: not an address like tcp://HOST:PORT "
                         f"({_first_line(exc)})") from None
    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ValueError(f"--scheduler {scheduler}: no Dask scheduler answers "
                         f"({_first_line(exc)})") from None


def cluster_workers(scheduler: str) -> int:
    """The number of worker threads the cluster at `scheduler` has now."""
    with _connect(scheduler) as client:
        return sum(client.nthreads().values())


def _run_dask(fn: Callable[[Any], Any], jobs: Sequence[Any], scheduler: str
              ) -> Iterator[tuple[int, Any]]:
    from distributed import as_completed as dask_as_completed

    with _connect(scheduler) as client:
        if _file_designs():
            client.register_plugin(_design_files_plugin(_file_designs()))
        # earlier jobs first (the callers order them longest first); pure=False: never
        # merge two submissions, each job is its own task
        futures = {client.submit(fn, job, pure=False, priority=len(jobs) - index): index
                   for index, job in enumerate(jobs)}
        try:
            for future in dask_as_completed(list(futures), loop=client.loop):
                yield futures[future], future.result()
        finally:
            client.cancel(list(futures))


def _design_files_plugin(designs: tuple):
    """A Dask worker plugin registering the client's design-file designs on every worker
    (those that join later too)."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class DesignFiles(WorkerPlugin):
        name = "vadlock-design-files"

        def __init__(self, designs: tuple) -> None:
            self.designs = designs

        def setup(self, worker) -> None:
            from vadlock.model.designs import register_designs

            register_designs(self.designs)

    return DesignFiles(designs)
