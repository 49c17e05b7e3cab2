"""The chapter mnist_hinton: Hinton et al. (2015) §3 on MNIST, its protocol card. Its hypotheses
are declared and judged in the notebook.

The teacher, the students and their budgets are the shared MNIST setup, :mod:`kdbook.mnist`.
"""
from __future__ import annotations

from kdhelpers.models import build_model, count_params
from kdbook.mnist import PROTOCOL, student_config
from kdbook.run import Run
from kdbook.protocol import Card, describe
from kdbook.references import Ref

# The paper's numbers (§3, test errors out of 10,000): cited by the results overview
REFERENCES = {key: Ref(n, "Hinton et al. 2015") for key, n in
              (("teacher_test_errors", 67), ("student_hard_test_errors", 146), ("student_distilled_test_errors", 74))}
# the results overview's rows: (experiment, reference, metric key, unit)
HEADLINES = [(label, str(REFERENCES[key]), key, "errors") for label, key in (
    ("Teacher 1200-1200 (dropout, jitter), test errors", "teacher_test_errors"),
    ("Student 800-800, hard labels", "student_hard_test_errors"),
    ("Student 800-800, distilled at T = 20", "student_distilled_test_errors"))]
# the metric keys the chapter must record (tests/test_notebooks.py)
METRIC_KEYS = {"teacher_test_errors", "student_hard_test_errors", "student_hard_test_errors_std",
               "student_distilled_test_errors", "student_distilled_test_errors_std",
               *(f"width{w}_T{t}_test_errors" for w in (30, 300, 800) for t in (1, 2, 3, 4, 8, 20))}

PAPER_DATA = "MNIST: 60,000 training images, 10,000 test images"
# §3: "strongly regularized using dropout and weight-constraints as described in [5]" (their [5]: Hinton et al.
# 2012, the dropout paper), inputs jittered by up to two pixels; no dropout rate or constraint value is given
PAPER_TEACHER = (f"MLP 1200-1200 ({count_params(build_model(student_config('1200-1200'))):,} parameters), "
                 "dropout and weight constraints as in Hinton et al. (2012); rates not stated")


def card(run: Run):
    """The protocol card of Hinton et al. §3 beside this book's ``run`` (its profile): our column is
    the shared MNIST protocol record, :data:`kdbook.mnist.PROTOCOL`."""
    published = describe(
        data=PAPER_DATA, teacher=PAPER_TEACHER,
        teacher_training="jitter ±2 px, weight constraints (values, optimiser and epochs not stated)",
        student=student_config(800), loss=PROTOCOL.loss, seeds="one run",
        not_stated=("optimiser", "learning rate", "schedule", "batch", "epochs", "other", "precision", "selection"))
    ours = PROTOCOL.column(run, selection="none: every number is the last epoch's; teacher budget chosen on 5,000 "
                                          "held-out images")
    return Card({"Hinton et al. (2015)": published, f"this chapter ({run.profile} profile)": ours},
                deviations={
                    "data": "the smoke profile checks that the code runs, on 2,000 images",
                    "teacher": "the paper gives no dropout rates; the full profile uses the dropout paper's 0.5 "
                               "(hidden) and 0.2 (input), the cpu and smoke profiles 0.3/0.1, which learn faster: "
                               "0.3/0.1 for 150 epochs beat 0.5/0.2 for 300 on 5,000 held-out images "
                               "(benchmarks/mnist_teacher_budget.py)",
                    "teacher training": "the paper gives the regularisers but no optimiser, rate or epochs: "
                                        "these are ours; max-norm 3.5 is the dropout paper's range",
                    "seeds": "three seeds, six for the 30-unit students (cheap, and with the widest spread over seeds), "
                             "so a difference can be told from seed noise"},
                title="Hinton et al. (2015) §3 as published, and this chapter")

