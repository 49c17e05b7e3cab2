"""The metric keys each chapter's run must record (tests/test_notebooks.py checks them), for the
chapters whose code lives in their notebook. A chapter still with a module in ``kdhelpers.chapters``
declares its keys there (``METRIC_KEYS``) until its code moves into its notebook."""

METRIC_KEYS = {
    "byot": {f"byot_{k}_acc{s}" for k in ("baseline", "deepest", "exit1", "ensemble") for s in ("", "_std")},
    "mnist_hinton": {"teacher_test_errors", "student_hard_test_errors", "student_hard_test_errors_std",
                     "student_distilled_test_errors", "student_distilled_test_errors_std",
                     *(f"width{w}_T{t}_test_errors" for w in (30, 300, 800) for t in (1, 2, 3, 4, 8, 20))},
    "mnist_only78": {"only78_hard_error_rate", "only78_distilled_error_rate", "only78_bias_shift_val",
                     "only78_bias_tuned_error_rate", "only78_bias_shift_testchosen",
                     "only78_bias_tuned_error_rate_testchosen"},
    "quickstart": {"teacher_test_accuracy", "student_test_accuracy", "distilled_test_accuracy"},
    "mnist_omit3": ({f"omit3_{k}{suffix}" for suffix in ("", "_testchosen")
                     for k in ("bias_tuned_errors_total", "bias_tuned_errors_on_3s")}
                    | {"omit3_hard_errors_total", "omit3_hard_errors_on_3s", "omit3_distilled_errors_total",
                       "omit3_distilled_errors_on_3s", "omit3_bias_shift_val", "omit3_bias_shift_testchosen"}),
    "self_reverse_online": {f"{m}_acc{s}" for s in ("", "_std") for m in
                            ("weak_teacher", "reverse_baseline", "reverse_kd", "reverse_tuned",
                             "born_again_gen0", "born_again_gen1", "born_again_gen2",
                             "dml_independent", "dml_mutual")},
    "temperature": {"grad_formula_max_abs_err", "t2_scaled_grad_norm_ratio_T1_T20",
                    "unscaled_grad_norm_ratio_T1_T20", "logit_matching_rel_err_T100"},
}
