import json
import warnings

import pytest
import torch
from torch import nn

import kdhelpers as kd
import kdbook as kb
from toydata import pixel_digits
from kdhelpers.data import TensorData

SMOKE = kb.Run(profile="smoke", device="cpu")  # the run these tests train in


def _toy(n=600, seed=0):
    return pixel_digits(n, seed, prefix="toy")


class PixelTeacher(nn.Module):
    """Logits = 10 × the first ten pixels: right on every toy example; counts its calls."""
    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return 10 * x.flatten(1)[:, :10]


MLP = {"arch": "mlp", "hidden": [32], "in_features": 16}
BUDGET = kd.Budget(epochs=3, batch_size=50, lr=0.05)
CPU = {"device": "cpu"}


class MSEToTeacher(nn.Module):
    """A custom loss for these tests: regress the student's logits onto the teacher's."""
    def forward(self, out, t, y):
        return nn.functional.mse_loss(kd.logits_of(out).float(), t.float())


def test_cached_teacher_logits_follow_the_shuffled_batches():
    data, teacher = _toy(), PixelTeacher()
    kd.seed_everything(0)
    student = kd.build_model(MLP)
    kd.fit(student, data, BUDGET.replace(epochs=15), teacher=teacher, loss=kd.DistillationLoss(2.0, 1.0), **CPU)
    assert teacher.calls == 1                 # not augmented: one pass over the transfer set
    # soft targets only, no labels: the student can only learn the labels if every batch got
    # the teacher logits of its own (shuffled) examples
    assert kd.evaluate(student, data, device="cpu")["accuracy"] > 95


def test_augmented_transfer_set_gets_teacher_logits_per_batch():
    data, teacher = _toy(), PixelTeacher()
    kd.fit(kd.build_model(MLP), data, BUDGET.replace(augment="jitter"), teacher=teacher,
           loss=kd.DistillationLoss(2.0, 0.5), **CPU)
    assert teacher.calls == 3 * 12            # every step of every epoch, on the jittered batch


def test_same_seed_same_weights_and_max_norm_holds():
    data = _toy()
    weights = []
    for _ in range(2):
        kd.seed_everything(3)
        m = kd.build_model(MLP)
        kd.fit(m, data, BUDGET.replace(max_norm=0.5), seed=3, **CPU)
        weights.append(m[1].weight.detach().clone())
    assert torch.equal(weights[0], weights[1])
    assert weights[0].norm(dim=1).max() <= 0.5 + 1e-5


@pytest.mark.parametrize("bad, match", [({"epochs": 0}, "epochs"), ({"augment": "mixup"}, "unknown augmentation"),
                                        ({"optimizer": "lbfgs"}, "optimizer"), ({"lr": -1}, "lr"),
                                        ({"schedule": "step"}, "schedule"), ({"precision": "fp8"}, "precision"),
                                        ({"clip_grad_norm": 0}, "clip_grad_norm"), ({"batch_size": 1.5}, "batch_size")])
def test_bad_budgets_are_rejected_with_their_value(bad, match):
    with pytest.raises(ValueError, match=match):
        BUDGET.replace(**bad)


def test_fit_needs_a_budget_and_a_loss_for_a_teacher():
    with pytest.raises(TypeError, match="Budget"):
        kd.fit(kd.build_model(MLP), _toy(), {"epochs": 1})
    with pytest.raises(ValueError, match="needs a distillation loss"):
        kd.fit(kd.build_model(MLP), _toy(), BUDGET, teacher=PixelTeacher())
    with pytest.raises(ValueError, match="no field"):
        BUDGET.replace(epoch=3)


def test_budget_parts_key_only_what_differs_and_describe_reads_well():
    assert BUDGET.parts() == {"epochs": 3, "batch_size": 50, "lr": 0.05}
    d = kd.Budget(epochs=2, optimizer="adam", lr=1e-3, clip_grad_norm=1.0).describe()
    assert d["optimiser"] == "Adam" and "clipped at 1" in d["other"]
    assert list(kd.budget_table({"a": BUDGET, "b": BUDGET}).columns) == ["a", "b"]


def test_custom_loss_gets_student_and_teacher_outputs_and_epoch_hook_runs():
    data, teacher, seen, epochs = _toy(), PixelTeacher(), [], []

    def loss(out, t, y):
        seen.append((out.shape, None if t is None else t.shape, y.shape))
        return nn.functional.mse_loss(out.float(), t.float())

    kd.fit(kd.build_model(MLP), data, BUDGET, teacher=teacher, loss=loss,
           on_epoch_end=lambda e, m: epochs.append((e, m.training)), **CPU)
    assert seen[0] == ((50, 10), (50, 10), (50,)) and len(seen) == 3 * 12
    assert epochs == [(1, False), (2, False), (3, False)]   # after each epoch, in eval mode


def test_uncached_teacher_runs_per_batch_and_tuple_outputs_are_evaluated_on_logits():
    class WithFeatures(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = kd.build_model(MLP)

        def forward(self, x):
            return self.net(x), x.flatten(1)

    data, teacher = _toy(), PixelTeacher()
    model = WithFeatures()
    kd.fit(model, data, BUDGET.replace(cache_teacher=False), teacher=teacher,
           loss=lambda out, t, y: nn.functional.cross_entropy(out[0].float(), y), **CPU)
    assert teacher.calls == 3 * 12
    assert kd.evaluate(model, data, device="cpu")["n"] == len(data)


def test_load_or_compute_caches_any_result():
    calls = []
    compute = lambda: calls.append(1) or {"acc": torch.tensor([1.0, 2.0])}  # noqa: E731
    a = kb.load_or_compute("toyresult", {"grid": [1, 2]}, compute)
    b = kb.load_or_compute("toyresult", {"grid": [1, 2]}, compute)
    assert len(calls) == 1 and torch.equal(a["acc"], b["acc"])


def test_corrupt_cached_result_is_recomputed_with_a_warning():
    calls = []
    compute = lambda: calls.append(1) or {"acc": torch.tensor([3.0])}  # noqa: E731
    kb.load_or_compute("toycorrupt", {"grid": [3]}, compute)
    path = next(kd.cache_dir().glob("toycorrupt-*.pt"))
    path.write_bytes(b"not a checkpoint")
    with pytest.warns(RuntimeWarning, match="corrupt or unreadable"):
        value = kb.load_or_compute("toycorrupt", {"grid": [3]}, compute)
    assert len(calls) == 2 and torch.equal(value["acc"], torch.tensor([3.0]))
    assert torch.load(path, weights_only=True)["key"] in path.name  # rewritten, sound again


def test_cache_hit_for_same_config_and_miss_for_another_seed():
    data = _toy()
    a = kb.trained("toy", MLP, data, BUDGET, run=SMOKE, seed=0, **CPU)
    b = kb.trained("toy", MLP, data, BUDGET, run=SMOKE, seed=0, **CPU)
    c = kb.trained("toy", MLP, data, BUDGET, run=SMOKE, seed=1, **CPU)
    assert (SMOKE.info(a).hit, SMOKE.info(b).hit, SMOKE.info(c).hit) == (False, True, False)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert SMOKE.key_of(a) != SMOKE.key_of(c)


def test_student_cache_key_names_its_teacher():
    data = _toy()
    t0 = kb.trained("toyteacher", MLP, data, BUDGET, run=SMOKE, seed=0, **CPU)
    t1 = kb.trained("toyteacher", MLP, data, BUDGET, run=SMOKE, seed=1, **CPU)
    loss = kd.DistillationLoss(4.0, 1.0)
    s0 = kb.trained("toystudent", MLP, data, BUDGET, run=SMOKE, teacher=t0, loss=loss, **CPU)
    s1 = kb.trained("toystudent", MLP, data, BUDGET, run=SMOKE, teacher=t1, loss=loss, **CPU)
    s2 = kb.trained("toystudent", MLP, data, BUDGET, run=SMOKE, teacher=t0,
                    loss=kd.DistillationLoss(2.0, 1.0), **CPU)
    assert len({SMOKE.key_of(s0), SMOKE.key_of(s1), SMOKE.key_of(s2)}) == 3  # teacher and loss key it
    with pytest.raises(ValueError, match="teacher must come from trained"):
        kb.trained("toystudent", MLP, data, BUDGET, run=SMOKE, teacher=PixelTeacher(), loss=loss, **CPU)


def test_checkpoints_of_one_run_are_cached_together_and_keyed_per_epoch():
    data = _toy(seed=3)
    ckpt = kb.trained("toyckpt", MLP, data, BUDGET.replace(epochs=4), run=SMOKE, checkpoints=[1, 3, 4], **CPU)
    final = kb.trained("toyckpt", MLP, data, BUDGET.replace(epochs=4), run=SMOKE, **CPU)
    assert sorted(ckpt) == [1, 3, 4] and not any(SMOKE.info(m).hit for m in ckpt.values())
    assert len({SMOKE.key_of(m) for m in ckpt.values()}) == 3 and SMOKE.key_of(ckpt[3]).endswith("-epoch3")
    # the last checkpoint is the fully trained run; earlier ones differ from it
    assert all(torch.equal(p, q) for p, q in zip(ckpt[4].state_dict().values(), final.state_dict().values()))
    assert not torch.equal(ckpt[1][1].weight, ckpt[4][1].weight)
    again = kb.trained("toyckpt", MLP, data, BUDGET.replace(epochs=4), run=SMOKE, checkpoints=[1, 3, 4], **CPU)
    assert all(SMOKE.info(m).hit for m in again.values())
    assert torch.equal(again[1][1].weight, ckpt[1][1].weight)
    path = next(kd.cache_dir().glob(f"toyckpt-{SMOKE.key_of(ckpt[1]).split('-')[0]}.pt"))
    path.write_bytes(b"broken")
    with pytest.warns(RuntimeWarning, match="corrupt or unreadable"):
        redone = kb.trained("toyckpt", MLP, data, BUDGET.replace(epochs=4), run=SMOKE, checkpoints=[1, 3, 4], **CPU)
    assert torch.equal(redone[3][1].weight, ckpt[3][1].weight)


def test_corrupt_cache_file_is_retrained_with_a_warning():
    data = _toy(seed=5)
    first = kb.trained("toycorrupt", MLP, data, BUDGET, run=SMOKE, **CPU)
    path = kd.cache_dir() / f"toycorrupt-{SMOKE.key_of(first)}.pt"
    path.write_bytes(path.read_bytes()[:100])          # a truncated write
    with pytest.warns(RuntimeWarning, match="corrupt or unreadable"):
        again = kb.trained("toycorrupt", MLP, data, BUDGET, run=SMOKE, **CPU)
    assert SMOKE.info(again).hit is False
    assert all(torch.equal(p, q) for p, q in zip(first.state_dict().values(), again.state_dict().values()))
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # and the rewritten file loads cleanly
        assert SMOKE.info(kb.trained("toycorrupt", MLP, data, BUDGET, run=SMOKE, **CPU)).hit


def test_record_writes_provenance_atomically(tmp_path, monkeypatch):
    monkeypatch.setenv("KD_RESULTS_DIR", str(tmp_path))
    kb.setup("toy_chapter", profile="smoke", seed=7)
    assert kb.record("toy_chapter", {"acc": 98.5, "errors": 150}) is None  # a notebook shows no path
    out = tmp_path / "toy_chapter.json"
    payload = json.loads(out.read_text())
    assert {"notebook", "profile", "seeds", "device", "versions", "git_commit", "wall_time_s",
            "metrics"} <= payload.keys()
    assert payload["profile"] == "smoke" and payload["seeds"] == [7]
    assert payload["metrics"] == {"acc": 98.5, "errors": 150}
    assert set(payload["versions"]) == {"torch", "torchvision", "kdhelpers"}
    assert [p.name for p in tmp_path.iterdir()] == ["toy_chapter.json"]   # no temp file left behind
    with pytest.raises(TypeError, match="numbers"):
        kb.record("toy_chapter", {"acc": "high"})


def test_the_cache_keeps_each_models_training_time_and_device_and_the_run_ledger_counts_it():
    data, run = _toy(seed=7), kb.Run(profile="cpu", device="cpu")
    first = kb.trained("ledger-test", MLP, data, BUDGET, run=run, seed=7, **CPU)
    [entry] = run.ledger.values()
    assert entry["hit"] is False and entry["seconds"] > 0 and entry["device"] == "cpu"
    assert entry["precision"] == "float32"
    fresh = kb.Run(profile="cpu", device="cpu")  # a new run: a ledger of its own
    again = kb.trained("ledger-test", MLP, data, BUDGET, run=fresh, seed=7, **CPU)
    [hit] = fresh.ledger.values()
    assert hit["hit"] is True and hit["seconds"] == entry["seconds"]  # the recorded cost comes back
    assert fresh.key_of(again) == run.key_of(first)


def test_dry_run_stops_each_loop_after_two_small_batches_and_keeps_shapes(monkeypatch):
    from kdhelpers import dryrun

    monkeypatch.setenv("KD_DRY_RUN", "1")
    data, teacher = _toy(), PixelTeacher()
    seen = []

    def criterion(out, t, y):
        seen.append(len(y))
        return nn.functional.cross_entropy(out.float(), y)

    kd.fit(kd.build_model(MLP), data, BUDGET.replace(epochs=5, cache_teacher=False), loss=criterion,
           teacher=teacher, **CPU)
    assert seen == [dryrun.BATCH] * dryrun.MAX_BATCHES
    logits = kd.predict_logits(teacher, data, device="cpu")
    assert logits.shape == (len(data), 10)
    assert teacher.calls == dryrun.MAX_BATCHES + 1  # the forward pass computed only its first rows


def test_dry_run_models_and_results_never_mix_with_real_ones(monkeypatch, tmp_path):
    from kdbook import results
    from kdbook.cache import cache_key

    parts = {"model": MLP, "seed": 0}
    real = cache_key(parts)
    monkeypatch.setenv("KD_DRY_RUN", "1")
    assert cache_key(parts) != real
    monkeypatch.delenv("KD_RESULTS_DIR", raising=False)
    assert results.results_dir().parts[-3:] == ("_build", "dry-run", "results")
    monkeypatch.setenv("KD_RESULTS_DIR", str(tmp_path))
    kb.setup("dry", "full")
    kb.record("dry", {"x": 1.0})
    assert json.loads((tmp_path / "dry.json").read_text())["dry_run"] is True
