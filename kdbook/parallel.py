"""Both CPU cores for a chapter's independent trainings.

Small networks leave a core idle: two one-thread jobs side by side train faster than one job on two
threads (measured for the book's MLPs). :func:`prefetch` runs independent jobs, each a module-level
function whose results land in the model cache, in worker processes of one thread each. The chapter
then calls the same functions, which load what the workers trained. The run's cost still counts
the models as trained now, by the workers, so the recorded cold time is the wall time.
"""
from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

import torch
from tqdm.auto import tqdm

from kdhelpers import device
from .run import Run, activate, current


def _worker_init(run: Run) -> None:
    torch.set_num_threads(1)
    activate(run)  # the notebook's run in the worker: its profile and precision (float32 in smoke)


def _run(fn, args) -> tuple[dict, float]:
    for a in args:  # a job given the chapter's run (a copy of it here) records into that run: make it current
        if isinstance(a, Run):
            activate(a)
    current().ledger.clear()
    start = time.perf_counter()
    fn(*args)
    return dict(current().ledger), time.perf_counter() - start


def prefetch(jobs, *, workers: int | None = None, progress: bool | None = None) -> None:
    """Run ``jobs``, a list of ``(function, *args)`` whose results the model cache keeps, in
    ``workers`` processes (default: one per CPU core, at most one per job), one thread each; put
    the longest first. On a GPU (or MPS, or one core) it does nothing: the chapter's cells then train
    as usual, in the same order, with the same numbers."""
    jobs = [tuple(j) for j in jobs]
    if not jobs or any(not callable(j[0]) for j in jobs):
        raise TypeError("prefetch takes a list of (function, *args) tuples")
    workers = min(len(jobs), workers or os.cpu_count() or 1)
    if workers < 2 or device.default_device().type != "cpu":
        return

    ctx = multiprocessing.get_context("spawn")  # a clean interpreter: no forked OpenMP or kernel state
    names = [getattr(fn, "__name__", str(fn)) for fn, *_ in jobs]
    print(f"training {', '.join(names)} in {workers} processes of one thread each")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                             initargs=(current(),)) as pool:
        futures = {pool.submit(_run, fn, tuple(args)): name for (fn, *args), name in zip(jobs, names)}
        bar = tqdm(total=len(futures), desc="parallel jobs", disable=not device.show_progress(progress))
        for future in as_completed(futures):
            ledger, seconds = future.result()  # a worker's error is raised here
            for key, entry in ledger.items():
                current().ledger.setdefault(key, entry)  # trained now, by a worker
            print(f"  {futures[future]}: {seconds:.0f} s")
            bar.update()
        bar.close()
