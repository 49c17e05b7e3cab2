"""The loss zoo: every loss the book trains with, one small module per file (after RepDistiller's
``distiller_zoo``). Each is called as ``loss(student_out, teacher_out, targets)`` by
:func:`kdhelpers.fit`, and α is the weight of its soft (teacher) term: α · soft + (1 − α) · CE.

=========================  ==========================================================
:class:`CrossEntropy`      hard labels only (optionally label-smoothed)
:class:`DistillationLoss`  Hinton et al.: α · T²·KL(soft targets) + (1 − α) · CE
:class:`SoftTargetKL`      the soft term alone
:class:`SoftCrossEntropy`  −Σ p log q at T, with or without the T² factor
:class:`LogitMSE`          regression onto the teacher's logits
:class:`ProbCosine`        T² · (1 − cos) of the softened probabilities
:class:`CosineHiddenLoss`  the PyTorch tutorial's cosine on hidden representations
:class:`FeatureMapMSELoss` a FitNets-style regressor hint on a feature map
:class:`KerasDistillerLoss` the Keras example's loss; its alpha weights the hard term (= 1 − α)
=========================  ==========================================================
"""
from .base import CrossEntropy, SoftPlusHard, hard_loss
from .checks import check_alpha, check_logits, check_targets, check_temperature, check_weight
from .fitnets import FeatureMapMSELoss
from .hidden import HiddenPlusCE, split_teacher_out
from .hidden_cosine import CosineHiddenLoss
from .hinton import DistillationLoss, SoftTargetKL, distillation_loss, soft_target_loss
from .keras_distiller import KerasDistillerLoss
from .logit_mse import LogitMSE
from .prob_cosine import ProbCosine
from .soft_ce import SoftCrossEntropy, soft_cross_entropy
