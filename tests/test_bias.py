import torch

import kdhelpers as kd
import kdbook as kb
from kdhelpers import bias


def test_shifting_the_bias_equals_shifting_the_logits():
    torch.manual_seed(0)
    model = kd.MLP(hidden=(16,), in_features=16)
    x = torch.randn(50, 16)
    shifted = bias.shift_bias(model, [3], 2.5)
    assert torch.allclose(shifted(x), bias.shift_logits(model(x), [3], 2.5), atol=1e-6)
    before = model.output_layer.bias.clone()
    bias.shift_bias(model, [3], 1.0)
    assert torch.equal(model.output_layer.bias, before)        # the original is untouched


def test_sweep_counts_errors_and_best_shift_picks_the_minimum():
    # three examples of class 3 whose 3-logit is 1, 2 and 3 below the winner; one class-0 example
    logits = torch.zeros(4, 10)
    logits[0, 0], logits[1, 0], logits[2, 0] = 1.0, 2.0, 3.0
    logits[3, 0], logits[3, 3] = 5.0, 1.0
    y = torch.tensor([3, 3, 3, 0])
    table = bias.sweep(logits, y, [3], [0.0, 1.5, 2.5, 3.5, 4.5])
    assert table["errors_on_classes"].tolist() == [3, 2, 1, 0, 0]
    assert table["errors"].tolist() == [3, 2, 1, 0, 1]          # at 4.5 the class-0 example flips
    assert bias.best_shift(table) == 3.5
    assert bias.shift_grid(1.0, 0.5).tolist() == [0.0, 0.5, 1.0]


def test_two_protocols_choose_on_their_own_split_and_report_test_numbers():
    class Logits:
        """A data set whose "images" are logits: class-3 rows have their 3-logit `gap` below class 0."""
        def __init__(self, gap):
            self.x = torch.zeros(5, 10)
            self.x[:3, 0] = gap          # three 3s
            self.x[3:, 0] = 2.0          # two 0s, whose 3-logit is 2 below
            self.y = torch.tensor([3, 3, 3, 0, 0])

        def __len__(self):
            return 5

        def prepare(self, xb):
            return xb

    identity = torch.nn.Identity()
    table, chosen = bias.two_protocols(identity, Logits(1.0), Logits(3.0), [3], bias.shift_grid(4.0, 0.5))
    # validation: the 3s turn right above +1, the 0s turn wrong above +2 -> fewest errors at 1.5
    # test: the 3s need more than +3 -> the paper's protocol picks 3.5 (only the two 0s wrong)
    assert chosen["val"]["shift"] == 1.5 and chosen["test"]["shift"] == 3.5
    assert chosen["val"]["errors_on_classes"] == 3       # the val choice, measured on test
    assert chosen["test"]["errors_on_classes"] == 0 and chosen["test"]["errors"] == 2
    assert set(table["split"]) == {"val", "test"}


def test_a_shifted_copy_computes_in_its_models_precision():
    """A float32 protocol's student stays float32 once its bias is shifted (the copy is not a cached
    model, so it has no key of its own)."""
    run = kb.Run(profile="cpu", device="cpu")
    model = kd.build_model({"arch": "mlp", "hidden": [8, 8]})
    run.remember(model, "a-key", precision="float32")
    shifted = kd.bias.shift_bias(model, [3], 1.0, run=run)
    assert run.precision_of(shifted) == "float32" and run.key_of(shifted) is None
    assert torch.equal(shifted.output_layer.bias[3], model.output_layer.bias[3] + 1.0)
