"""The chapter mnist_omit3: a transfer set without a single 3 (Hinton et al. 2015, §3), its claims.

The teacher and the students are the shared MNIST setup (:mod:`kdhelpers.mnist`), the bias shift
the generic one (:mod:`kdhelpers.bias`).
"""
from __future__ import annotations

from .. import bias
from ..infra import claims as C
from ..infra.references import Ref

# The paper's numbers (§3): cited by the claims and the results overview
REFERENCES = {"omit3_distilled_errors_on_3s": Ref(133, "Hinton et al. 2015"),
              "omit3_bias_tuned_errors_on_3s": Ref(14, "Hinton et al. 2015", "bias chosen on test")}
# the results overview's rows: (experiment, reference, metric key, unit)
HEADLINES = [
    ("No 3s in the transfer set: errors on the 1010 test 3s", str(REFERENCES["omit3_distilled_errors_on_3s"]),
     "omit3_distilled_errors_on_3s", "errors"),
    ("… after raising the class-3 bias (chosen on validation)", str(REFERENCES["omit3_bias_tuned_errors_on_3s"]),
     "omit3_bias_tuned_errors_on_3s", "errors"),
]
# the metric keys the chapter must record (tests/test_notebooks.py)
METRIC_KEYS = ({f"omit3_{k}{suffix}" for suffix in ("", "_testchosen") for k in
                ("bias_tuned_errors_total", "bias_tuned_errors_on_3s")}
               | {"omit3_hard_errors_total", "omit3_hard_errors_on_3s", "omit3_distilled_errors_total",
                  "omit3_distilled_errors_on_3s", "omit3_bias_shift_val", "omit3_bias_shift_testchosen"})


def claims():
    """The verdicts of the chapter mnist_omit3."""
    paper = "Hinton et al. (2015)"
    return [
        C.at_least("hard_misses_3s", "omit3_hard_3s_missed_pct", 99,
                   "a student trained on hard labels without 3s misses at least 99 % of the test 3s",
                   against="a class absent from the labels cannot be predicted", fmt=".1f"),
        C.at_most("distilled_knows_3s", "omit3_distilled_3s_missed_pct", {"cpu": 20, "full": 20},
                  "the distilled student, with no 3 in its transfer set, misses at most 20 % of the test 3s "
                  "before any bias shift", against=f"{paper}: {REFERENCES['omit3_distilled_errors_on_3s'].number} of 1010 (13 %)", fmt=".1f"),
        C.at_most("bias_fixes_3s", "omit3_bias_tuned_errors_on_3s", {"cpu": 30, "full": 25},
                  "after raising the class-3 bias by a shift chosen on validation, at most 30 (cpu) / 25 (full) "
                  "test 3s are missed", against=f"{paper}: {REFERENCES['omit3_bias_tuned_errors_on_3s'].number}, shift chosen on test", fmt=".1f"),
        bias.honest_claim("omit3_bias_tuned_errors_total", "total errors"),
    ]
