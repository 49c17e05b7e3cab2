"""The cost a chapter prints before it trains: FLOPs by torch.utils.flop_counter, time by a probe."""
import pytest

import kdhelpers as kd
import kdbook as kb
from kdbook import cost

MLP = {"arch": "mlp", "hidden": [100, 50], "in_features": 784}
FORWARD = 2 * (784 * 100 + 100 * 50 + 50 * 10)  # multiply-adds of the three linear layers


def test_forward_flops_of_an_mlp_by_formula():
    assert cost.forward_flops(kd.build_model(MLP), (1, 28, 28)) == FORWARD


def test_plan_counts_training_and_teacher_flops_and_estimates_time():
    teacher = {"arch": "mlp", "hidden": [200], "in_features": 784}
    t_fwd = 2 * (784 * 200 + 200 * 10)
    b = kd.Budget(epochs=3, batch_size=100)
    plan = kb.Plan(kb.Run(profile="cpu"), device="cpu")
    plan.add("hard", MLP, b, samples=1000, input_shape=(1, 28, 28), count=2)
    plan.add("distilled", MLP, b, samples=1000, input_shape=(1, 28, 28), teacher=teacher)
    plan.add("augmented", MLP, b.replace(augment="jitter"), samples=1000, input_shape=(1, 28, 28), teacher=teacher)
    plan.add("two views", MLP, b.replace(augment="alternating_flip"), samples=1000, input_shape=(1, 28, 28),
             teacher=teacher)
    hard, kd_once, kd_aug, kd_views = plan.jobs
    assert hard.flops == 2 * 3 * FORWARD * 1000 * 3
    assert kd_once.flops == 3 * FORWARD * 1000 * 3 + t_fwd * 1000          # teacher once per transfer set
    assert kd_aug.flops == 3 * FORWARD * 1000 * 3 + t_fwd * 1000 * 3       # teacher on every batch
    assert kd_views.flops == 3 * FORWARD * 1000 * 3 + t_fwd * 1000 * 2     # once per view: image and mirror
    assert plan.flops == hard.flops + kd_once.flops + kd_aug.flops + kd_views.flops
    assert all(j.seconds > 0 for j in plan.jobs)
    assert "TFLOP of training" in plan.summary() and "GPU" not in plan.summary()
    assert "on a GPU" in kb.Plan(kb.Run(profile="full"), device="cpu").add("x", MLP, b, samples=10, input_shape=(1, 28, 28)).summary()
    assert list(plan.table().index)[-1] == "total"


def test_plan_rejects_empty_jobs():
    with pytest.raises(ValueError, match="must be ≥ 1"):
        kb.Plan(kb.Run(profile="cpu"), device="cpu").add("x", MLP, kd.Budget(epochs=1), samples=0, input_shape=(1, 28, 28))
