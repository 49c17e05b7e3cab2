"""The chapter mnist_only78: a transfer set of 7s and 8s only (Hinton et al. 2015, §3), its protocol
record (the shared MNIST one, with five times the student epochs). Its hypotheses are declared and
judged in the notebook.

The teacher and the students are the shared MNIST setup (:mod:`kdbook.mnist`), the bias shift
the generic one (:mod:`kdhelpers.bias`).
"""
from __future__ import annotations

from dataclasses import replace

from kdhelpers.budget import Budget
from kdbook import mnist
from kdbook.run import Run
from kdbook.references import Ref

# The paper's numbers (§3): cited by the results overview
REFERENCES = {"only78_distilled_error_rate": Ref(47.3, "Hinton et al. 2015", unit="%"),
              "only78_bias_tuned_error_rate": Ref(13.2, "Hinton et al. 2015", "bias chosen on test", unit="%")}
# the results overview's rows: (experiment, reference, metric key, unit)
HEADLINES = [
    ("Only 7s and 8s in the transfer set: test error rate", str(REFERENCES["only78_distilled_error_rate"]),
     "only78_distilled_error_rate", "%"),
    ("… after lowering the 7/8 biases (chosen on validation)", str(REFERENCES["only78_bias_tuned_error_rate"]),
     "only78_bias_tuned_error_rate", "%"),
]
# the metric keys the chapter must record (tests/test_notebooks.py)
METRIC_KEYS = {"only78_hard_error_rate", "only78_distilled_error_rate", "only78_bias_shift_val",
               "only78_bias_tuned_error_rate", "only78_bias_shift_testchosen", "only78_bias_tuned_error_rate_testchosen"}

# The shared MNIST protocol (:data:`kdbook.mnist.PROTOCOL`: teacher, 800-800 students, T = 20, seeds) on
# a transfer set of the 7s and 8s, with five times the student epochs: the 7&8 transfer set is a fifth
# of the images, so the students make the same number of updates.
PROTOCOL = replace(
    mnist.PROTOCOL,
    data={p: f"MNIST: the 7s and 8s of {n - val:,} training images ({val:,} more held out for validation); "
             f"{test:,} test images"
          for p, n, val, test in (("smoke", mnist.SMOKE_TRAIN, 500, mnist.SMOKE_TEST), ("cpu", 60_000, 5000, 10_000),
                                  ("full", 60_000, 5000, 10_000))},
    budgets={**mnist.PROTOCOL.budgets, "student": {
        p: b.replace(epochs=5 * b.epochs) for p, b in mnist.PROTOCOL.budgets["student"].items()}})  # per profile


def student_budget(run: Run) -> Budget:
    """The protocol's student budget: the shared one with five times the epochs."""
    return PROTOCOL.budget("student", run)
