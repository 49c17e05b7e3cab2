"""The loss zoo: the losses two or more chapters train with, one small module per file (after
RepDistiller's ``distiller_zoo``); a loss only one chapter uses is written out on its page. Each is
called as ``loss(student_out, teacher_out, targets)`` by :func:`kdhelpers.fit`, and α is the weight
of its soft (teacher) term: α · soft + (1 − α) · CE.

=========================  ==========================================================
:class:`CrossEntropy`      hard labels only (optionally label-smoothed)
:class:`DistillationLoss`  Hinton et al.: α · T²·KL(soft targets) + (1 − α) · CE
:class:`SoftTargetKL`      the soft term alone
:class:`SoftCrossEntropy`  −Σ p log q at T, with or without the T² factor
:class:`LogitMSE`          regression onto the teacher's logits
:class:`ProbCosine`        T² · (1 − cos) of the softened probabilities
=========================  ==========================================================
"""
from .base import CrossEntropy, SoftPlusHard, hard_loss
from .checks import check_alpha, check_logits, check_targets, check_temperature, check_weight
from .hinton import DistillationLoss, SoftTargetKL, distillation_loss, soft_target_loss
from .logit_mse import LogitMSE
from .prob_cosine import ProbCosine
from .soft_ce import SoftCrossEntropy, soft_cross_entropy
