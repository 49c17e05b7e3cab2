"""kd.batched.trained_together: many students of one shape trained as one stacked network equal
the same students trained one by one with kd.trained."""
import pytest
import torch

import kdhelpers as kd
import kdbook as kb
from conftest import ROOT, load_script
from toydata import pixel_digits
from kdbook.batched import Request, trained_together
from kdhelpers.data import TensorData
from kdhelpers.losses import SoftCrossEntropy


def _toy(n=400, seed=0):
    return pixel_digits(n, seed, prefix="toytogether")


STUDENT = {"arch": "keras_mlp", "hidden": [12, 12], "in_features": 16}
ADAM = kd.Budget.keras_adam(3, 64, 1e-2, precision="float32")


def _run():
    return kb.Run(profile="smoke", device="cpu")


def _requests(run, data):
    teacher = kb.trained("toy-teacher", {"arch": "mlp", "hidden": [32], "in_features": 16}, data,
                         kd.Budget(epochs=3, batch_size=50, lr=0.05), run=run, device="cpu")
    soft = SoftCrossEntropy(3.0, alpha=1.0, t2_scale=False)
    return [Request("toy-student", STUDENT, data, ADAM, seed=s) for s in (0, 1, 2)] + [
        Request("toy-student", STUDENT, data, ADAM, seed=0, teacher=teacher, loss=soft),
        Request("toy-student", STUDENT, data, ADAM, seed=1, teacher=teacher, loss=SoftCrossEntropy(3.0, alpha=0.9, t2_scale=False)),
        Request("toy-student", {**STUDENT, "logit_bias": {3: 3.5}}, data, ADAM, seed=2, teacher=teacher, loss=soft),
        Request("toy-student", STUDENT, data, ADAM.replace(batch_size=50), seed=0),  # a group of its own
    ]


def test_students_trained_together_equal_the_same_students_trained_one_by_one():
    run, data = _run(), _toy()
    requests = _requests(run, data)
    together = trained_together(requests, run=run, device="cpu")
    assert sum(not e["hit"] for e in run.ledger.values()) == 1 + len(requests)  # the teacher, then each student
    for r, m in zip(requests, together):
        alone = kb.trained(r.name, r.model_cfg, r.data, r.budget, run=run, seed=r.seed, teacher=r.teacher,
                           loss=r.loss, device="cpu")
        assert run.key_of(alone) != run.key_of(m)  # each trainer has its own cache entries
        for (k, a), b in zip(alone.state_dict().items(), m.state_dict().values()):
            # float32, 3 epochs: the stacked matmuls sum in another order, nothing else differs
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-5), (r.seed, r.loss, k, (a - b).abs().max())
        assert not torch.equal(together[0].state_dict()["1.weight"], together[1].state_dict()["1.weight"])


def test_a_second_call_loads_every_student_from_the_cache():
    run, data = _run(), _toy(seed=1)
    requests = _requests(run, data)
    first = trained_together(requests, run=run, device="cpu")
    run2 = _run()
    requests2 = _requests(run2, data)
    second = trained_together(requests2, run=run2, device="cpu")
    assert all(e["hit"] for e in run2.ledger.values())
    assert all(torch.equal(a.state_dict()["1.weight"], b.state_dict()["1.weight"]) for a, b in zip(first, second))
    first_entries = [e for e in run.ledger.values() if e["name"] == "toy-student"]
    assert len(first_entries) == len(requests) and not any(e["hit"] for e in first_entries)
    # each records its share of its group's time; the cache rounds to 0.01 s, and on a fast CPU a toy share is 0.00
    assert all(e["seconds"] >= 0 for e in first_entries)


MNIST_LIKE = kd.Budget(epochs=3, batch_size=64, lr=0.1, optimizer="sgd", momentum=0.9, schedule="cosine",
                       clip_grad_norm=0.1, precision="float32")  # the MNIST students' budget, clipped harder: it binds


def test_a_schedule_and_per_member_gradient_clipping_match_fit():
    """The MNIST students' budget (SGD, cosine schedule, gradient-norm clipping, here at 0.1 so that it
    binds) and a temperature grid: each member is clipped on its own, as fit clips a student alone."""
    run, data = _run(), _toy(seed=3)
    teacher = kb.trained("toy-teacher", {"arch": "mlp", "hidden": [32], "in_features": 16}, data,
                         kd.Budget(epochs=3, batch_size=50, lr=0.05), run=run, device="cpu")
    mlp = {"arch": "mlp", "hidden": [24, 24], "in_features": 16}
    requests = [Request("toy-mnist", mlp, data, MNIST_LIKE, seed=s) for s in (0, 1)] + [
        Request("toy-mnist", mlp, data, MNIST_LIKE, seed=s, teacher=teacher, loss=kd.DistillationLoss(T, alpha=1.0))
        for s, T in ((0, 1.0), (1, 4.0), (2, 20.0), (0, 20.0))]
    together = trained_together(requests, run=run, device="cpu")
    for r, m in zip(requests, together):
        alone = kb.trained(r.name, r.model_cfg, r.data, r.budget, run=run, seed=r.seed, teacher=r.teacher,
                           loss=r.loss, device="cpu")
        for (k, a), b in zip(alone.state_dict().items(), m.state_dict().values()):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-5), (r.seed, r.loss, k, (a - b).abs().max())


def test_what_cannot_train_in_a_stack_is_refused_with_the_reason():
    data = _toy(seed=2)
    with pytest.raises(ValueError, match="max-norm"):
        trained_together([Request("toy-student", STUDENT, data, ADAM.replace(max_norm=3.0))], run=_run(), device="cpu")
    with pytest.raises(ValueError, match="Dropout"):
        trained_together([Request("toy-student", {**STUDENT, "dropout": 0.5}, data, ADAM)], run=_run(), device="cpu")


def test_the_how_to_run_pages_students_table_is_the_recorded_one():
    bench = load_script("benchmarks/students_together.py")
    recorded = sorted((ROOT / "benchmarks" / "results").glob("students_together*.json"))
    table = (ROOT / "book" / "students_together.md").read_text()
    assert table == bench.markdown_table(recorded), \
        "rewrite it: python benchmarks/students_together.py --markdown book/students_together.md"
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| students")]
    assert len(rows) == len(recorded)  # one row per recorded run
