"""kdhelpers — the small helper package behind the knowledge-distillation book.

Three layers; a layer imports the ones below it, never one above:

* core, at the top level: ``profiles``, ``device``, ``dryrun`` · ``data``, ``budget``, ``callbacks``
  (the extension points of the training loop), ``models`` (by family; a model may declare its own
  callbacks), ``losses`` · ``train``, ``batched`` (many small MLPs trained at once), ``bias``
  (generic bias shifting) and ``mnist`` (the MNIST teacher, students and budgets every MNIST
  chapter shares). Two imports go up into the infrastructure, because training is cached and a
  run records what it read: ``train`` uses ``infra.cache`` (the model cache), ``data`` uses
  ``infra.cache`` and ``infra.fingerprint`` (the decoded JPEG copy, the data's identity), and
  ``profiles`` times the device with ``infra.cost`` for the "auto" profile.
* infrastructure, ``kdhelpers.infra``: ``cache``, ``claims``, ``protocol`` (cards), ``cost``,
  ``results``, ``fingerprint``, ``regression``, ``reproduce``, ``parallel``, ``stats``, ``plotting``.
* chapters, ``kdhelpers.chapters``: one module per notebook, named after it
  (``from kdhelpers.chapters import temperature as V``). Nothing outside it imports it, and this
  package does not either.

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
