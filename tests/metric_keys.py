"""The metric keys each chapter's run must record (tests/test_notebooks.py checks them)."""

METRIC_KEYS = {
    "byot": {f"byot_{k}_acc{s}" for k in ("baseline", "deepest", "exit1", "ensemble") for s in ("", "_std")},
    "cifar_feature_kd": {f"{k}{s}" for s in ("", "_std") for k in
                         ("teacher_acc", "student_ce_acc", "student_kd_acc", "student_cosine_acc",
                          "student_regressor_acc")},
    "cifar_resnet_vgg": ({"teacher_resnet_acc", "teacher_vgg_acc", "student_scratch_acc",
                          "student_scratch_acc_std"}
                         | {f"kd_{t}_best_acc{s}" for t in ("resnet", "vgg") for s in ("", "_std")}
                         | {f"kd_{t}_T{T}_beta{b}_acc" for t in ("resnet", "vgg") for T in (3, 5, 7, 10)
                            for b in (0.5, 0.7)}
                         | {f"{k}_{m}" for k in ("params", "gflops", "latency_ms_b1")
                            for m in ("resnet_teacher", "vgg_teacher", "resnet_student")}),
    "fake_data_temperature": (
        {f"seedproto_cs{cs}_pi{pi}_{k}" for cs in ("0.2", "0.6", "1.0") for pi in ("0.5", "0.8", "1.0")
         for k in ("teacher_acc", "student_acc", "T_opt",
                   *(f"T{t}_acc" for t in ("1", "2", "2.5", "3", "4", "5", "10", "15", "20")))}
        | {f"width{w}_T_opt" for w in (10, 30, 50, 100, 300)}
        | {"width_trend_rho", "width_trend_rho_lo", "width_trend_rho_hi"}),
    "keras_distiller": {f"keras_{k}_acc{s}" for k in ("teacher", "student_scratch", "student_kd",
                                                      "student_kd_swapped_alpha")
                        for s in ("", "_std")},
    "loss_variants": ({f"{k}{s}" for s in ("_acc", "_acc_std") for k in
                       ("hard_only", *(f"{v}{h}" for h in ("", "_hard") for v in
                                       ("kl_T3", "kl_T20", "soft_ce_T3", "mse_logits", "cosine_probs_T3")))}
                      | {f"{k}_tuned_{s}" for k in ("hard", "kl_T3", "kl_T20", "mse_logits")
                         for s in ("acc", "acc_std", "lr")}
                      | {f"{a}_minus_{b}_tuned_{end}" for a, b in (("mse_logits", "kl_T3"), ("mse_logits", "kl_T20"),
                                                                   ("kl_T20", "kl_T3"), ("kl_T3", "hard"))
                         for end in ("lo95", "hi95")}),
    "early_stopping_kd": ({f"teacher_epoch{e}_{w}_acc" for e in (1, 2) for w in ("teacher", "student")}
                          | {"best_teacher_epoch", "hard_student_acc", "hard_student_acc_std",
                             "best_minus_last_student_acc", "best_minus_last_student_acc_std",
                             "early_teacher_epoch", "early_minus_last_student_acc",
                             "early_minus_last_student_acc_std", "first_teacher_epoch",
                             "last_teacher_epoch"}),
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
    "sources_unsw_toronto": ({f"seedproto_{k}" for k in
                              ("unsw_teacher_acc", "unsw_student_acc",
                               *(f"unsw_kd_T{T}_acc" for T in (5, 7, 10)), "toronto_teacher_acc",
                               "toronto_hard_acc", "toronto_grid_range", "toronto_cells_above_hard",
                               "toronto_grid_minus_hard", "toronto_grid_minus_hard_lo95",
                               "toronto_grid_minus_hard_hi95")}
                             | {"toronto_fixed_best_acc"}),
    "sources_harvard": {f"seedproto_{k}{s}" for s in ("", "_std") for k in
                        ("dense_teacher_errors", "cnn_teacher_errors", "hard_errors",
                         "dense_distilled_errors", "cnn_distilled_errors", "mix_errors",
                         "omit3_distilled_acc_3s", "omit3_bias_init_acc_3s", "omit3_posthoc_acc_3s",
                         "only78_distilled_acc", "only78_bias_init_acc", "only78_posthoc_acc")},
    "self_reverse_online": {f"{m}_acc{s}" for s in ("", "_std") for m in
                            ("weak_teacher", "reverse_baseline", "reverse_kd", "reverse_tuned",
                             "born_again_gen0", "born_again_gen1", "born_again_gen2",
                             "dml_independent", "dml_mutual")},
    "temperature": {"grad_formula_max_abs_err", "t2_scaled_grad_norm_ratio_T1_T20",
                    "unscaled_grad_norm_ratio_T1_T20", "logit_matching_rel_err_T100"},
}
