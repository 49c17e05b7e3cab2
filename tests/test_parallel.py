"""kb.parallel.prefetch: jobs trained in worker processes give the very numbers an in-process run
gives, the chapter then loads them from the cache, and the run's cost counts them as trained now.
The chapter's functions are its notebook's (fake_data_temperature, cells tagged `define`): a worker
gets them as a `Job`, the call pickled by value."""
import pytest
import torch

import kdhelpers as kd
import kdbook as kb
from kdbook import parallel
from kdbook.chapter import load
from toydata import pixel_digits

syn = load("fake_data_temperature")


def _cfg():
    b = syn.keras_adam(2)
    return syn.StudyConfig(n_samples=600, teacher_hidden=(16,), teacher_dropout=0.2, teacher=b, student=b,
                           alpha=1.0, t2_scale=False, val_fraction=0.0, data_seed="per_seed", init="glorot")


def test_workers_train_what_the_process_would_and_the_run_loads_it(tmp_path, monkeypatch):
    cfg, cells, seeds = _cfg(), [(0.6, 0.8)], [0, 1]
    monkeypatch.setenv("KD_CACHE_DIR", str(tmp_path / "here"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the workers (and the chapter on a CPU): float32 sums in the same order
    torch.rand(7)  # the global RNG's state must not matter (the teachers' dropout)
    try:
        here = syn.train_teachers(cells, seeds, cfg, device="cpu")
    finally:
        torch.set_num_threads(threads)
    monkeypatch.setenv("KD_CACHE_DIR", str(tmp_path / "workers"))
    parallel.prefetch([(syn.Job(syn.train_teachers, cells, seeds, cfg),),
                       (syn.Job(syn.train_teachers, [(1.0, 1.0)], seeds, cfg),)], workers=2)
    trained = [e for e in kb.current().ledger.values() if not e["hit"]]
    assert len(trained) == 2 and all(e["seconds"] > 0 for e in trained)
    loaded = syn.train_teachers(cells, seeds, cfg, device="cpu")  # from the cache the workers filled
    assert len(list((tmp_path / "workers").glob("synthetic-teachers-*.pt"))) == 2
    assert torch.equal(loaded["test_logits"], here["test_logits"])
    assert len([e for e in kb.current().ledger.values() if not e["hit"]]) == 2  # still counted as trained now


def _job_with_run(run, seed):
    """A job as the chapters write them (early_stopping_kd's): the chapter's run passed in."""
    kb.trained("toy-prefetch", {"arch": "keras_mlp", "hidden": [8], "in_features": 16},
               pixel_digits(200, 0, prefix="toyprefetch"), kd.Budget.keras_adam(1, 50, 1e-2, precision="float32"),
               run=run, seed=seed)


def test_a_job_given_the_run_counts_its_models_as_trained_now_once(tmp_path, monkeypatch):
    """Models a worker trained for a job that takes the run are the run's trained-now models, not
    models loaded later with their training time added to the wall time that already holds it."""
    monkeypatch.setenv("KD_CACHE_DIR", str(tmp_path))
    run = kb.current()
    parallel.prefetch([(_job_with_run, run, 0), (_job_with_run, run, 1)], workers=2)
    for seed in (0, 1):
        _job_with_run(run, seed)  # the chapter's own call: loads what the worker trained
    entries = list(run.ledger.values())
    assert len(entries) == 2 and not any(e["hit"] for e in entries), entries


def test_prefetch_rejects_what_is_not_a_job():
    with pytest.raises(TypeError, match="function"):
        parallel.prefetch([("not a function", 1)])
