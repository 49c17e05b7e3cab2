"""The chapter mnist_omit3: a transfer set without a single 3 (Hinton et al. 2015, §3): the
paper's numbers and the chapter's metric keys. Its hypotheses are declared and judged in the
notebook.

The teacher and the students are the shared MNIST setup (:mod:`kdbook.mnist`), the bias shift
the generic one (:mod:`kdhelpers.bias`).
"""
from __future__ import annotations

from kdbook.references import Ref

# The paper's numbers (§3): cited by the results overview
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

