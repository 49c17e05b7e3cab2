"""The architectures two or more chapters use, registered by name where they are defined (see
:mod:`kdhelpers.models.registry`).

Importing this package registers all of them. A network only one chapter uses is defined and
registered on that chapter's page; :func:`kdbook.chapter.load` registers it outside the notebook.
"""
from .registry import ARCHS, build_model, count_params, register
from .mlp import MLP, Dropout
from .ensemble import EnsembleMLP
from .keras import HarvardCNN, KerasMLP, TorontoCNN
from .cifar_small import HeResNet, WideResNet
