"""kdhelpers — the small helper package behind the knowledge-distillation book."""
__version__ = "0.1.0"

from .cache import atomic_save, cache_dir, load_or_compute, load_or_train
from .data import (TensorData, batches, crop_flip, data_root, drop_classes, jitter, keep_classes,
                   load_cifar10, load_mnist, split, subset)
from .device import default_device, seed_everything
from . import bias, mnist
from .losses import DistillationLoss, SoftTargetKL, soft_target_loss
from .models import MLP, apply_max_norm, build_model, count_params
from .profiles import PROFILES, pick, resolve_profile
from .results import glue, mean_std, record, setup
from .train import errors, evaluate, fit, logits_of, predict_logits, trained
from . import claims, cost, dryrun
from .cost import Plan
