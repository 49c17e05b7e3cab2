"""The book's machinery, apart from the method: runs and profiles, the model cache and the shipped
teachers, results and their fingerprints, hypotheses and the one decision rule, protocol cards,
cost plans, regression reports and ``make reproduce``. It imports the method (``kdhelpers``); the
method never imports it. A notebook imports both::

    import kdhelpers as kd   # data, models, losses, fit, evaluate: the method
    import kdbook as kb      # setup, trained (fit through the cache), hypotheses, record
"""
from . import cache, cost, fingerprint, mnist, parallel, plotting, protocol, results, stats
from .batched import Request, trained_together
from .cache import load_or_compute, load_or_train
from .cost import Plan
from .hypotheses import Hypotheses, beats, interval, reproduces
from .profiles import PROFILES, pick, resolve_profile
from .protocol import Card, Protocol
from .results import VERSION as __version__, glue, load, load_benchmark, record, setup
from .run import Run, current
from .stats import mean_std
from .train import trained, trained_as
