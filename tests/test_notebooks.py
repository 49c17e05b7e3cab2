"""Every chapter runs end to end (smoke profile) and the book builds from committed outputs."""
import html
import json
import os
import re
import subprocess
import sys
import time

import nbformat
import pytest

from kdhelpers.infra.cache import atomic_write_text
from kdhelpers.infra.regression import compare_smoke, run_notebook
from kdhelpers.infra.results import glue_values

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SMOKE_REFERENCE = json.loads((ROOT / "tests" / "smoke_reference.json").read_text())
GLUE = re.compile(r"\{glue:text\}`([^`:]+)(?::([^`]*))?`")
PROVENANCE = {"notebook", "profile", "seeds", "device", "versions", "git_commit", "wall_time_s", "metrics"}
# The metric keys each chapter's issue asks for.
EXPECTED_KEYS = {
    "quickstart": {"teacher_test_accuracy", "student_test_accuracy", "distilled_test_accuracy"},
    "mnist_hinton": {"teacher_test_errors", "student_hard_test_errors", "student_hard_test_errors_std",
                     "student_distilled_test_errors", "student_distilled_test_errors_std",
                     *(f"width{w}_T{t}_test_errors" for w in (30, 300, 800) for t in (1, 2, 3, 4, 8, 20))},
    "mnist_omit3": {f"omit3_{k}{suffix}" for suffix in ("", "_testchosen") for k in
                    ("bias_tuned_errors_total", "bias_tuned_errors_on_3s")}
                   | {"omit3_hard_errors_total", "omit3_hard_errors_on_3s", "omit3_distilled_errors_total",
                      "omit3_distilled_errors_on_3s", "omit3_bias_shift_val", "omit3_bias_shift_testchosen"},
    "fake_data_temperature": {f"seedproto_cs{cs}_pi{pi}_{k}" for cs in ("0.2", "0.6", "1.0") for pi in ("0.5", "0.8", "1.0")
                              for k in ("teacher_acc", "student_acc", "T_opt",
                                        *(f"T{t}_acc" for t in ("1", "2", "2.5", "3", "4", "5", "10", "15", "20")))}
                             | {f"width{w}_T_opt" for w in (10, 30, 50, 100, 300)}
                             | {"width_trend_rho", "width_trend_rho_lo", "width_trend_rho_hi"},
    "temperature": {"grad_formula_max_abs_err", "t2_scaled_grad_norm_ratio_T1_T20",
                    "unscaled_grad_norm_ratio_T1_T20", "logit_matching_rel_err_T100"},
    "loss_variants": {f"{k}{s}" for s in ("_acc", "_acc_std") for k in
                      ("hard_only", *(f"{v}{h}" for h in ("", "_hard") for v in
                                      ("kl_T3", "kl_T20", "soft_ce_T3", "mse_logits", "cosine_probs_T3")))}
                     | {f"{k}_tuned_{s}" for k in ("hard", "kl_T3", "kl_T20", "mse_logits") for s in ("acc", "acc_std", "lr")},
    "early_stopping_kd": {f"teacher_epoch{e}_{w}_acc" for e in (1, 2) for w in ("teacher", "student")}
                         | {"best_teacher_epoch", "hard_student_acc", "hard_student_acc_std",
                            "best_minus_last_student_acc", "best_minus_last_student_acc_std"},
    "self_reverse_online": {f"{m}_acc{s}" for s in ("", "_std") for m in
                            ("weak_teacher", "reverse_baseline", "reverse_kd", "reverse_tuned", "born_again_gen0",
                             "born_again_gen1",
                             "born_again_gen2", "dml_independent", "dml_mutual")},
    "cifar_feature_kd": {f"{k}{s}" for s in ("", "_std") for k in
                         ("teacher_acc", "student_ce_acc", "student_kd_acc", "student_cosine_acc",
                          "student_regressor_acc")},
    "cifar_resnet_vgg": {"teacher_resnet_acc", "teacher_vgg_acc", "student_scratch_acc", "student_scratch_acc_std",
                         *(f"kd_{t}_best_acc{s}" for t in ("resnet", "vgg") for s in ("", "_std")),
                         *(f"kd_{t}_T{T}_beta{b}_acc" for t in ("resnet", "vgg") for T in (3, 5, 7, 10)
                           for b in (0.5, 0.7)),
                         *(f"{k}_{m}" for k in ("params", "gflops", "latency_ms_b1")
                           for m in ("resnet_teacher", "vgg_teacher", "resnet_student"))},
    "byot": {f"byot_{k}_acc{s}" for k in ("baseline", "deepest", "exit1", "ensemble") for s in ("", "_std")},
    "keras_distiller": {f"keras_{k}_acc{s}" for k in ("teacher", "student_scratch", "student_kd",
                                                       "student_kd_swapped_alpha") for s in ("", "_std")},
    "sources_harvard": {f"seedproto_{k}{s}" for s in ("", "_std") for k in
                        ("dense_teacher_errors", "cnn_teacher_errors", "hard_errors", "dense_distilled_errors",
                         "cnn_distilled_errors", "mix_errors", "omit3_distilled_acc_3s", "omit3_bias_init_acc_3s",
                         "omit3_posthoc_acc_3s", "only78_distilled_acc", "only78_bias_init_acc",
                         "only78_posthoc_acc")},
    "sources_unsw_toronto": {f"seedproto_{k}" for k in
                             ("unsw_teacher_acc", "unsw_student_acc", *(f"unsw_kd_T{T}_acc" for T in (5, 7, 10)),
                              "toronto_teacher_acc", "toronto_hard_acc", "toronto_grid_range",
                              "toronto_cells_above_hard")} | {"toronto_fixed_best_acc"},
    "mnist_only78": {"only78_hard_error_rate", "only78_distilled_error_rate", "only78_bias_shift_val",
                     "only78_bias_tuned_error_rate", "only78_bias_shift_testchosen",
                     "only78_bias_tuned_error_rate_testchosen"},
}


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_parameters_cell(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    assert 'profile = "auto"' in params[0].source and "seed =" in params[0].source


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_has_cpu_outputs_and_results(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), "commit the notebook executed"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"], "error output committed"
    results = json.loads((ROOT / "results" / f"{nb_path.stem}.json").read_text())
    assert results["profile"] in ("cpu", "full"), "committed outputs must come from a real run"
    assert PROVENANCE <= results.keys()
    assert EXPECTED_KEYS.get(nb_path.stem, set()) <= results["metrics"].keys()


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_smoke_profile_and_matches_the_smoke_reference(nb_path, tmp_path):
    start = time.perf_counter()
    results = run_notebook(nb_path, tmp_path, profile="smoke", results_dir=tmp_path / "results")
    print(f"{nb_path.stem}: smoke run {time.perf_counter() - start:.1f} s")
    assert results["profile"] == "smoke" and PROVENANCE <= results.keys()
    assert results["precision"] == "float32", "smoke runs compute in float32 on every machine"
    assert results["metrics"], "the notebook recorded no metrics"
    assert EXPECTED_KEYS.get(nb_path.stem, set()) <= results["metrics"].keys()
    off = compare_smoke(SMOKE_REFERENCE, nb_path.stem, results["metrics"])
    assert not off, "smoke run off its reference (`make smoke-reference` rewrites it on purpose):\n" + "\n".join(off)


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_full_profile_dry_run(nb_path, tmp_path, monkeypatch):
    """The full profile's code path (full-size models, data, budgets, grids, figures), 2 batches per
    loop: the only place it runs on a machine without a GPU."""
    monkeypatch.setenv("KD_AMP", "1")  # exercise the mixed-precision path where the CPU has one
    start = time.perf_counter()
    results = run_notebook(nb_path, tmp_path, profile="full", results_dir=tmp_path / "results",
                           extra_env={"KD_DRY_RUN": "1"})
    print(f"{nb_path.stem}: full-profile dry run {time.perf_counter() - start:.1f} s")
    assert results["profile"] == "full" and results["dry_run"] is True
    assert EXPECTED_KEYS.get(nb_path.stem, set()) <= results["metrics"].keys()
    assert results["claims"], "the chapter declares no claims"
    # where `make dry-run` keeps them: the full plan's FLOPs, for kdhelpers/plans.json (the "auto" profile)
    kept = ROOT / "_build" / "dry-run" / "results" / f"{nb_path.stem}.json"
    atomic_write_text(kept, json.dumps(results))  # creates the folder; a reader never sees half a file


def _page_text(path):
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", path.read_text(), flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", text))


def test_book_builds_without_warnings_and_every_chapter_shows_its_recorded_numbers(tmp_path):
    jb = os.path.join(os.path.dirname(sys.executable), "jupyter-book")
    out = subprocess.run([jb, "build", str(ROOT), "--path-output", str(tmp_path), "-W", "--keep-going"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    html_dir = tmp_path / "_build" / "html"
    assert (html_dir / "index.html").exists() or (html_dir / "book" / "intro.html").exists()
    for nb_path in NOTEBOOKS:
        text = _page_text(html_dir / "notebooks" / f"{nb_path.stem}.html")
        values = glue_values(json.loads((ROOT / "results" / f"{nb_path.stem}.json").read_text()))
        glued = {m for c in nbformat.read(nb_path, as_version=4).cells if c.cell_type == "markdown"
                 for m in GLUE.findall(c.source)}
        assert glued, f"{nb_path.stem}: the prose glues no recorded number"
        for key, fmt in glued:
            expected = format(values[key], fmt or "")
            assert expected in text, f"{nb_path.stem}: glued {key} = {expected!r} is not on the built page"
