"""The chapter quickstart: Hinton et al.'s MNIST experiment in one short notebook, which writes its
helpers out inline (it imports no chapter module); here are what the book and the tests read of it:
the paper's numbers it is set beside (those of :mod:`kdhelpers.chapters.mnist_hinton`), its results
overview rows and the metric keys it must record.
"""
from __future__ import annotations

from .mnist_hinton import REFERENCES as _HINTON

# The paper's numbers (§3, test errors out of 10,000), by this chapter's metric keys
REFERENCES = {"teacher_test_errors": _HINTON["teacher_test_errors"],
              "student_test_errors": _HINTON["student_hard_test_errors"],
              "distilled_test_errors": _HINTON["student_distilled_test_errors"]}
# the results overview's rows: (experiment, reference, metric key, unit)
HEADLINES = [
    ("Quickstart: teacher 1200-1200 (dropout, jitter), test errors", str(REFERENCES["teacher_test_errors"]),
     "teacher_test_errors", "errors"),
    ("Quickstart: student 800-800 on soft targets alone at T = 20, test errors", str(REFERENCES["distilled_test_errors"]),
     "distilled_test_errors", "errors"),
]
# the metric keys the chapter must record (tests/test_notebooks.py)
METRIC_KEYS = {"teacher_test_accuracy", "student_test_accuracy", "distilled_test_accuracy"}
