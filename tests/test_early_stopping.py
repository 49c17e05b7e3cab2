"""With a constant learning rate, a run stopped after E epochs is the epoch-E checkpoint of a longer
run with the same seed: the early-stopping chapter relies on it."""
import torch

import kdhelpers as kd
import kdbook as kb
from kdhelpers.data import TensorData


def _toy(n=300):
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 10, (n,), generator=g)
    x = torch.randint(0, 40, (n, 1, 4, 4), generator=g, dtype=torch.uint8)
    x.view(n, -1)[torch.arange(n), y] = 255
    return TensorData(x, y, name="es-toy")


MLP = {"arch": "mlp", "hidden": [16], "in_features": 16}


def test_constant_rate_checkpoint_equals_a_run_stopped_early():
    data, run = _toy(), kb.Run(profile="smoke", device="cpu")
    adam = kd.Budget(epochs=3, batch_size=50, lr=1e-2, optimizer="adam", schedule="constant")
    short = kb.trained("es-short", MLP, data, adam, run=run, seed=4, device="cpu")
    ckpt = kb.trained("es-long", MLP, data, adam.replace(epochs=6), run=run, seed=4, device="cpu",
                      checkpoints=[3, 6])
    assert all(torch.equal(a, b) for a, b in zip(short.state_dict().values(), ckpt[3].state_dict().values()))
    # with a cosine schedule the rate depends on the run's length, and the two differ
    cos_short = kb.trained("es-short", MLP, data, adam.replace(schedule="cosine"), run=run, seed=4, device="cpu")
    cos_ckpt = kb.trained("es-long", MLP, data, adam.replace(schedule="cosine", epochs=6), run=run, seed=4,
                          device="cpu", checkpoints=[3, 6])
    assert not torch.equal(cos_short[1].weight, cos_ckpt[3][1].weight)
