"""kdhelpers — the small helper package behind the knowledge-distillation book.

Layers, each importing only the ones below it (``farm-studio look kdhelpers``: no circle, no arrow up):

* chapters, ``kdhelpers.chapters``: one module per notebook, named after it
  (``from kdhelpers.chapters import temperature as V``). Nothing outside it imports it, and this
  package does not either.
* core: ``mnist`` (the MNIST teacher, students and budgets every MNIST chapter shares) and ``bias``
  (generic bias shifting) · ``train`` (the loop, ``trained`` through the cache) and ``batched``
  (many small MLPs at once) · ``models`` (by family; a model may declare its own callbacks) ·
  ``callbacks`` (the loop's extension points) · ``budget`` · ``data``.
* infrastructure, ``kdhelpers.infra``: ``run`` (the one run object), ``cache``, ``registry`` (model
  configs → classes), ``claims``, ``protocol`` (cards), ``references``, ``cost``, ``results``,
  ``fingerprint``, ``regression``, ``reproduce``, ``parallel``, ``stats``, ``plotting``. It builds
  models from configs through the registry, never by importing the core.
* base: ``device``, ``profiles``, ``dryrun`` and ``losses`` (a loss is a tiny module of its own).

``import kdhelpers as kd`` gives the core and the infrastructure's public names (``kd.fit``,
``kd.trained``, ``kd.Plan``, ``kd.setup``, ``kd.record``, ``kd.claims``, ``kd.plotting``, …).
"""
from . import dryrun, losses, models
from .infra import cache, claims, cost, fingerprint, parallel, plotting, protocol, results, stats
from .budget import Budget, budget_table
from .infra.cache import atomic_save, cache_dir, load_or_compute, load_or_train
from .infra.cost import Plan
from .data import (TensorData, batches, crop_flip, data_root, drop_classes, jitter, keep_classes,
                   load_cifar10, load_mnist, split, subset)
from .device import default_device, seed_everything
from .losses import CrossEntropy, DistillationLoss, SoftTargetKL, soft_target_loss
from .callbacks import Callback, apply_max_norm
from .models import MLP, build_model, count_params
from .profiles import PROFILES, pick, resolve_profile
from .infra.results import VERSION as __version__, glue, record, setup
from .infra.run import Run, current
from .infra.stats import mean_std
from .train import errors, evaluate, fit, logits_of, predict_logits, trained
from . import bias, mnist
