"""Every architecture of the book, registered by name where it is defined (see :mod:`kdhelpers.models.registry`).

Importing this package imports every model module, so :func:`build_model` knows every arch
whatever else has been imported.
"""
from .registry import ARCHS, build_model, count_params, register
from .mlp import MLP, Dropout
from .cifar import CifarResNet, CifarVGG
from .tutorial import DeepNN, LightNN, TeacherFeatures
from .ensemble import EnsembleMLP
from .keras import HarvardCNN, KerasConvNet, KerasMLP, TorontoCNN
from .cifar_small import HeResNet, WideResNet
from .airbench import AirbenchNet
from .pretrained import TorchvisionNet
