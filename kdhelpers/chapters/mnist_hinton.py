"""The chapter mnist_hinton: Hinton et al. (2015) §3 on MNIST, its protocol card and its claims.

The teacher, the students and their budgets are the shared MNIST setup, :mod:`kdhelpers.mnist`.
"""
from __future__ import annotations

from ..infra.registry import build_model, count_params
from ..mnist import PROTOCOL, student_config
from ..infra import claims as C
from ..infra.run import Run
from ..infra.protocol import Card, describe
from ..infra.references import Ref

# The paper's numbers (§3, test errors out of 10,000): cited by the claims and the results overview
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
    the shared MNIST protocol record, :data:`kdhelpers.mnist.PROTOCOL`."""
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


def claims():
    """The verdicts of the chapter mnist_hinton, as claims on its metrics."""
    paper = "Hinton et al. (2015)"
    return [
        C.at_most("teacher_errors", "teacher_test_errors", {"cpu": 85, "full": 70},
                  "the teacher makes at most 85 test errors (cpu) / 70 (full)", against=f"{paper}: {REFERENCES['teacher_test_errors'].number} errors", fmt="g"),
        C.between("hard_student", "student_hard_test_errors", {"cpu": 130, "full": 120}, {"cpu": 170, "full": 160},
                  "the 800-800 student on hard labels makes 130–170 errors (cpu) / 120–160 (full)",
                  against=f"{paper}: {REFERENCES['student_hard_test_errors'].number} errors", fmt=".1f"),
        C.better("distilled_beats_hard", "student_distilled_test_errors", "student_hard_test_errors",
                 "soft targets at T = 20 alone beat hard labels by more than 2 seeds' std",
                 against="our hard-label 800-800 students", k=2, lower_is_better=True, fmt=".1f"),
        C.at_most("distilled_errors", "student_distilled_test_errors", {"cpu": 95, "full": 85},
                  "the distilled 800-800 makes at most 95 errors (cpu) / 85 (full)", against=f"{paper}: {REFERENCES['student_distilled_test_errors'].number} errors",
                  fmt=".1f"),
        C.close("hard_weight_within_noise", "student_distilled_hard01_test_errors", "student_distilled_test_errors",
                "a 0.1 weight on the labels changes the distilled 800-800's errors by no more than 2 seeds' std",
                against=f"{paper}: a considerably lower weight on the hard term was best", k=2, fmt=".1f"),
        C.close("plateau_800", "width800_T8_test_errors", "width800_T20_test_errors",
                "800 units: T = 8 and T = 20 agree within 2 seeds' std",
                against=f"{paper}: ≥ 300 units, all T above 8 similar", k=2, fmt=".1f"),
        C.close("plateau_300", "width300_T8_test_errors", "width300_T20_test_errors",
                "300 units: T = 8 and T = 20 agree within 2 seeds' std",
                against=f"{paper}: ≥ 300 units, all T above 8 similar", k=2, fmt=".1f"),
        # "significantly better": the 95 % interval of the per-seed difference (seeds pair students with the
        # same initialisation and batch order) lies above 0. Until 2026-12-04 these two were "by more than
        # 2 seeds' std", an effect size, not a significance: against T = 1 it sat at its bar (gain 31.7 vs
        # 30.6 on an AMD CPU, 30.2 vs 34.3 on an Intel one) and so flipped with the CPU
        C.at_least("small_beats_high_T", "width30_T20_minus_best_in_2.5_4_lo95", {"cpu": 0, "full": 0},
                   "30 units: the best T in 2.5–4 makes fewer errors than T = 20, significantly (the 95 % "
                   "interval of the per-seed difference lies above 0)",
                   against=f"{paper}: 2.5–4 significantly better for 30 units", fmt=".1f"),
        C.at_least("small_beats_T1", "width30_T1_minus_best_in_2.5_4_lo95", {"cpu": 0, "full": 0},
                   "30 units: the best T in 2.5–4 makes fewer errors than T = 1, significantly (the 95 % "
                   "interval of the per-seed difference lies above 0)",
                   against=f"{paper}: 2.5–4 significantly better for 30 units", fmt=".1f"),
        C.between("small_best_T_in_range", "width30_best_T", {"cpu": 2.5, "full": 2.5}, {"cpu": 4, "full": 4},
                  "30 units: the temperature with the fewest mean errors lies in [2.5, 4]",
                  against=f"{paper}: 2.5–4 for 30 units", fmt="g"),
        # cpu run of 2026-12-02: T = 3 (249.3 errors) edges out T = 2 (250.0); the run before had T = 2 first
        # by one error: the argmin moves within the seed std from one teacher to the next. What keeps the
        # verdict stable whichever temperature wins: T = 2 is level with the best of [2.5, 4]
        C.close("small_T2_level_with_best", "width30_T2_test_errors", "width30_best_in_2.5_4_test_errors",
                "30 units: T = 2 and the best T in 2.5–4 agree within 2 seeds' std",
                against=f"{paper}: 2.5–4 for 30 units", k=2, fmt=".1f"),
    ]
