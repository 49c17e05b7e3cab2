"""The metric keys each chapter's run must record (tests/test_notebooks.py checks them), for the
chapters whose code lives in their notebook. A chapter still with a module in ``kdhelpers.chapters``
declares its keys there (``METRIC_KEYS``) until its code moves into its notebook."""

METRIC_KEYS = {
    "temperature": {"grad_formula_max_abs_err", "t2_scaled_grad_norm_ratio_T1_T20",
                    "unscaled_grad_norm_ratio_T1_T20", "logit_matching_rel_err_T100"},
}
