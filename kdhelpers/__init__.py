"""kdhelpers — the method the book's chapters share: data and transfer sets, models, losses, one
training loop (:func:`fit`) with named extension points, evaluation and bias tuning.

It imports nothing of the book's machinery (``kdbook``: runs, the model cache, results, hypotheses),
which imports it. ``import kdhelpers as kd`` gives::

    kd.load_mnist, kd.load_cifar10, kd.TensorData, kd.subset, ...   data and transfer sets
    kd.MLP, kd.build_model, kd.models.*                               models (a config builds one)
    kd.DistillationLoss, kd.SoftTargetKL, kd.losses.*                 losses (each a small module)
    kd.Budget, kd.fit, kd.Callback                                    the loop and its extension points
    kd.evaluate, kd.predict_logits                                    evaluation
    kd.bias, kd.batched                                               bias tuning, stacked students
"""
from . import augment, batched, bias, dryrun, losses, models
from .augment import batches, crop_flip, jitter
from .budget import Budget, budget_table
from .callbacks import Callback, apply_max_norm
from .data import (TensorData, data_root, drop_classes, keep_classes, load_cifar10, load_mnist, split,
                   subset)
from .device import default_device, seed_everything
from .io import atomic_save, cache_dir
from .losses import CrossEntropy, DistillationLoss, SoftTargetKL, soft_target_loss
from .models import MLP, build_model, count_params
from .train import errors, evaluate, fit, logits_of, predict_logits
