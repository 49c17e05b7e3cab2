"""kdhelpers — the small helper package behind the knowledge-distillation book.

Layers, bottom up: profiles, device, dryrun · data, models, losses, budget, cache, stats ·
train, ensemble, cost, claims, protocol, results, plotting · the chapters' helpers (mnist, bias,
softtargets, synthetic, cifar, feature_kd, generations, kl_vs_mse, reverse, byot, early_stopping,
sources_harvard, sources_unsw_toronto, keras_distiller). Nothing imports upward.
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
from .models import MLP, apply_max_norm, build_model, count_params
from .profiles import PROFILES, pick, resolve_profile
from .infra.results import VERSION as __version__, glue, record, setup
from .infra.stats import mean_std
from .train import errors, evaluate, fit, logits_of, predict_logits, trained
from . import bias, mnist, softtargets
