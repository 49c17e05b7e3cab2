"""The chapter mnist_only78: a transfer set of 7s and 8s only (Hinton et al. 2015, §3), its protocol
record (the shared MNIST one, with five times the student epochs) and its claims.

The teacher and the students are the shared MNIST setup (:mod:`kdhelpers.mnist`), the bias shift
the generic one (:mod:`kdhelpers.bias`).
"""
from __future__ import annotations

from dataclasses import replace

from .. import mnist
from ..budget import Budget
from .. import bias
from ..infra import claims as C
from ..infra.run import Run
from ..infra.references import Ref

# The paper's numbers (§3): cited by the claims and the results overview
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

# The shared MNIST protocol (:data:`kdhelpers.mnist.PROTOCOL`: teacher, 800-800 students, T = 20, seeds) on
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


def claims():
    """The verdicts of the chapter mnist_only78."""
    paper = "Hinton et al. (2015)"
    distilled, tuned = REFERENCES["only78_distilled_error_rate"], REFERENCES["only78_bias_tuned_error_rate"]
    return [
        C.at_least("hard_only_78", "only78_hard_error_rate", 75,
                   "a student trained on the hard labels of 7s and 8s gets at least 75 % of the test set wrong",
                   against="it can only answer 7 or 8 (about 20 % of the test set)", fmt=".1f"),
        C.at_most("distilled_beats_paper", "only78_distilled_error_rate", {"cpu": distilled.value, "full": distilled.value},
                  f"distilled from 7s and 8s alone, the student's test error is at most the paper's {distilled.number}",
                  against=f"{paper}: {distilled.number}", fmt=".1f"),
        C.at_most("bias_fixes_78", "only78_bias_tuned_error_rate", {"cpu": 18, "full": 15},
                  "after lowering the 7 and 8 biases by a shift chosen on validation, the test error is at most "
                  "18 % (cpu) / 15 % (full)", against=f"{paper}: {tuned.number}, shift chosen on test", fmt=".2f"),
        bias.honest_claim("only78_bias_tuned_error_rate", "error rate", fmt=".2f"),
    ]


def student_budget(run: Run) -> Budget:
    """The protocol's student budget: the shared one with five times the epochs."""
    return PROTOCOL.budget("student", run)
