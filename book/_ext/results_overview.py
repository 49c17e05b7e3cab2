"""Sphinx extension: writes ``book/results.md`` from ``results/*.json`` before the book is read.

The paper's (or earlier reports') numbers are typed here once, with their source; ours are read
from the results files the notebooks wrote. A missing results file or metric fails the build, so
the overview can never show a number that no run produced.
"""
from __future__ import annotations

import json
from pathlib import Path

from sphinx.errors import ExtensionError

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "book" / "results.md"

# (chapter, experiment, reference number and where it comes from, our metric key, unit)
HEADLINES = [
    ("mnist_hinton", "Teacher 1200-1200 (dropout, jitter), test errors", "67 (Hinton et al. 2015)",
     "teacher_test_errors", "errors"),
    ("mnist_hinton", "Student 800-800, hard labels", "146 (Hinton et al. 2015)",
     "student_hard_test_errors", "errors"),
    ("mnist_hinton", "Student 800-800, distilled at T = 20", "74 (Hinton et al. 2015)",
     "student_distilled_test_errors", "errors"),
    ("quickstart", "Quickstart: teacher 1200-1200 (dropout, jitter), test errors", "67 (Hinton et al. 2015)",
     "teacher_test_errors", "errors"),
    ("quickstart", "Quickstart: student 800-800 on soft targets alone at T = 20, test errors",
     "74 (Hinton et al. 2015)", "distilled_test_errors", "errors"),
    ("mnist_omit3", "No 3s in the transfer set: errors on the 1010 test 3s", "133 (Hinton et al. 2015)",
     "omit3_distilled_errors_on_3s", "errors"),
    ("mnist_omit3", "… after raising the class-3 bias (chosen on validation)", "14 (Hinton et al. 2015, bias chosen on test)",
     "omit3_bias_tuned_errors_on_3s", "errors"),
    ("mnist_only78", "Only 7s and 8s in the transfer set: test error rate", "47.3 % (Hinton et al. 2015)",
     "only78_distilled_error_rate", "%"),
    ("mnist_only78", "… after lowering the 7/8 biases (chosen on validation)", "13.2 % (Hinton et al. 2015, bias chosen on test)",
     "only78_bias_tuned_error_rate", "%"),
    ("temperature", "Soft-gradient norm, T = 1 over T = 20, with the T² factor", "roughly unchanged (Hinton et al. 2015)",
     "t2_scaled_grad_norm_ratio_T1_T20", "ratio"),
    ("temperature", "… without the T² factor", "grows as T² (Hinton et al. 2015)",
     "unscaled_grad_norm_ratio_T1_T20", "ratio"),
    ("temperature", "Soft gradient vs logit matching at T = 100, relative error", "→ 0 as T grows (Hinton et al. 2015)",
     "logit_matching_rel_err_T100", "ratio"),
    ("fake_data_temperature", "Synthetic cs0.2/pi0.5, 2×50 student on hard labels: the tutorial's protocol rerun",
     "94.12 % (Harvard tutorial, one run)", "seedproto_cs0.2_pi0.5_student_acc", "%"),
    ("fake_data_temperature", "… distilled at T = 2, rerun", "98.01 % (Harvard tutorial, one run)",
     "seedproto_cs0.2_pi0.5_T2_acc", "%"),
    ("fake_data_temperature", "Best T over the 9 data sets, rerun: lowest", "2.5 (Harvard tutorial: 2.5–5 everywhere)",
     "seedproto_cells_T_opt_min", "ratio"),
    ("fake_data_temperature", "… highest", "5 (Harvard tutorial)", "seedproto_cells_T_opt_max", "ratio"),
    ("fake_data_temperature", "Best T for a 10-unit student (teacher 3×400)", "suspected to grow with width (tutorial)",
     "width10_T_opt", "ratio"),
    ("fake_data_temperature", "Best T for a 300-unit student", "suspected to grow with width (tutorial)",
     "width300_T_opt", "ratio"),
    ("cifar_resnet_vgg", "ResNet-style teacher (for ResNet50), airbench recipe, 20 epochs",
     "80.96 % (UNSW report, ImageNet-pretrained ResNet50)", "teacher_resnet_acc", "%"),
    ("cifar_resnet_vgg", "VGG-style teacher (for VGG16), airbench94's net, 20 epochs", "85.93 % (UNSW report, pretrained VGG16)",
     "teacher_vgg_acc", "%"),
    ("cifar_resnet_vgg", "ResNet-style student (for ResNet18) from scratch, the students' budget",
     "59.11 % (UNSW report: 30 epochs, a tenth of the rate)", "student_scratch_acc", "%"),
    ("cifar_resnet_vgg", "… distilled from the ResNet-style teacher (best T, β on validation)",
     "77.60 % (UNSW report, best on test)", "kd_resnet_best_acc", "%"),
    ("cifar_resnet_vgg", "… distilled from the VGG-style teacher", "77.22 % (UNSW report)", "kd_vgg_best_acc", "%"),
    ("cifar_feature_kd", "DeepNN teacher", "≈ 75 % (PyTorch tutorial)", "teacher_acc", "%"),
    ("cifar_feature_kd", "LightNN, cross-entropy only", "≈ 70 % (PyTorch tutorial)", "student_ce_acc", "%"),
    ("cifar_feature_kd", "LightNN, soft targets (T = 2)", "≈ 70–71 % (PyTorch tutorial)", "student_kd_acc", "%"),
    ("cifar_feature_kd", "LightNN, FitNets-style regressor", "≈ 70–71 % (PyTorch tutorial)",
     "student_regressor_acc", "%"),
    ("loss_variants", "KL at τ = 3, each loss at its own tuned rate", "74.84 % (Kim et al. 2021, CIFAR-100 WRN)",
     "kl_T3_tuned_acc", "%"),
    ("loss_variants", "… KL at τ = 20", "75.42 % (Kim et al. 2021)", "kl_T20_tuned_acc", "%"),
    ("loss_variants", "… MSE between logits", "75.58 % (Kim et al. 2021)", "mse_logits_tuned_acc", "%"),
    ("early_stopping_kd", "Student from the best (validation) teacher epoch minus from the last, points",
     "+0.18 (Toronto report, one run, epoch 4 picked on test); > 0 (Cho & Hariharan 2019)",
     "best_minus_last_student_acc", "pts"),
    ("self_reverse_online", "Reverse KD: hard-label student", "91.88 % (ResNet20, CIFAR-10)",
     "reverse_baseline_acc", "%"),
    ("self_reverse_online", "… taught by a weaker teacher, T and α tuned on validation",
     "92.50 % (ResNet20 taught by ResNet11, CIFAR-10)", "reverse_tuned_acc", "%"),
    ("self_reverse_online", "Born-again generation 1", "—", "born_again_gen1_acc", "%"),
    ("self_reverse_online", "Deep mutual learning, two nets", "—", "dml_mutual_acc", "%"),
    ("byot", "Network without exits", "87.5 % (short report, ResNet50 on CIFAR-10, one run)", "byot_baseline_acc", "%"),
    ("byot", "… with exits, self-distilled: deepest exit", "90.5 % (short report)", "byot_deepest_acc", "%"),
    ("sources_harvard", "Dense teacher 1200-1200, its protocol rerun: test errors", "168 (Harvard tutorial, one run)",
     "seedproto_dense_teacher_errors", "errors"),
    ("sources_harvard", "20-20 student, hard labels, rerun", "368 (Harvard tutorial)", "seedproto_hard_errors", "errors"),
    ("sources_harvard", "20-20 distilled from the dense teacher at T = 3, rerun", "331 (Harvard tutorial)",
     "seedproto_dense_distilled_errors", "errors"),
    ("sources_harvard", "Omit-3, class-3 bias +3.5 before training: % of test 3s right, rerun",
     "56.1 (Harvard tutorial)", "seedproto_omit3_bias_init_acc_3s", "%"),
    ("sources_harvard", "… the paper's shift after training, chosen on test half A, measured on half B", "—",
     "seedproto_omit3_posthoc_acc_3s", "%"),
    ("sources_unsw_toronto", "UNSW: student without a teacher, its protocol rerun", "91.69 % (UNSW report, one run)",
     "seedproto_unsw_student_acc", "%"),
    ("sources_unsw_toronto", "UNSW: distilled at T = 10, rerun", "92.04 % (UNSW report)", "seedproto_unsw_kd_T10_acc", "%"),
    ("sources_unsw_toronto", "Toronto: student without a teacher, rerun", "97.20 % (Toronto report, one run)",
     "seedproto_toronto_hard_acc", "%"),
    ("sources_unsw_toronto", "Toronto: spread of the grid cells, rerun (points; cpu: 12 of the 30 cells)",
     "0.71 (Toronto report, 30 cells)",
     "seedproto_toronto_grid_range", "ratio"),
    ("keras_distiller", "Keras example: teacher, 5 epochs", "≈ 97.6 % (Keras example)", "keras_teacher_acc", "%"),
    ("keras_distiller", "… student from scratch, 3 epochs", "≈ 97.6 % (Keras example)", "keras_student_scratch_acc", "%"),
    ("keras_distiller", "… student distilled, Keras alpha = 0.1 (α = 0.9)", "≈ 98.1 % (Keras example)",
     "keras_student_kd_acc", "%"),
]


def _toc_chapters() -> set[str]:
    """The notebooks the table of contents builds; a chapter held back in ``drafts/`` has no row."""
    import yaml

    toc, found = yaml.safe_load((ROOT / "_toc.yml").read_text()), set()

    def walk(node):
        if isinstance(node, dict):
            if str(node.get("file", "")).startswith("notebooks/"):
                found.add(node["file"].removeprefix("notebooks/"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(toc)
    return found


IN_BOOK = _toc_chapters()  # read once, from this repository (tests move ROOT to a scratch tree)


def headlines() -> list[tuple]:
    """The rows of :data:`HEADLINES` whose chapter is in the book."""
    return [h for h in HEADLINES if h[0] in IN_BOOK]


def _load(chapter: str) -> dict:
    path = ROOT / "results" / f"{chapter}.json"
    if not path.exists():
        raise ExtensionError(f"results overview: {path.relative_to(ROOT)} is missing; "
                             f"run `make reproduce NOTEBOOKS=notebooks/{chapter}.ipynb`")
    return json.loads(path.read_text())


def _ours(metrics: dict, key: str, unit: str, chapter: str) -> str:
    if key not in metrics:
        raise ExtensionError(f"results overview: results/{chapter}.json has no metric {key!r}")
    value, std = metrics[key], metrics.get(f"{key}_std")
    if std == 0:  # one run reused across seeds (e.g. a single teacher): no spread to show
        std = None
    if unit == "ratio":  # temperatures, ratios and relative errors: a few significant digits
        return f"{value:.3g}" + ("" if std is None else f" ± {std:.2g}")
    fmt = "{:.0f}" if unit == "errors" and float(value).is_integer() else "{:.1f}"
    if unit == "pts":  # a difference of accuracies: keep its sign and one more digit
        fmt = "{:+.2f}"
    text = fmt.format(value) if std is None else f"{fmt.format(value)} ± {std:.2f}" if unit == "pts" \
        else f"{value:.1f} ± {std:.1f}"
    return text + (" %" if unit == "%" else "")


def render() -> str:
    lines = ["# Results overview", "",
             "Every number in the *ours* column is read from `results/<chapter>.json` when the book is",
             "built: those files are written by the notebooks themselves (see {doc}`how_to_run`). The",
             "reference column is the paper's or the earlier report's number, typed once with its source.",
             "Profiles: `cpu` is the reduced laptop budget, `full` the paper's budget on a GPU; a ± is the",
             "standard deviation over seeds.", ""]
    chapters = list(dict.fromkeys(h[0] for h in headlines()))  # in HEADLINES order
    for chapter in chapters:
        res = _load(chapter)
        seeds = len(res.get("seeds") or [])
        # One short table per chapter keeps the columns readable; the line above it says where
        # the numbers come from (chapter, profile, seeds, date of the run).
        lines += [f"{{doc}}`../notebooks/{chapter}` · profile `{res['profile']}` · "
                  f"{seeds} seed{'s' if seeds != 1 else ''} · run {res['date'][:10]}"]
        # in the same paragraph as the chapter link, so the link stays right above the table
        lines += _currency(chapter) + [""]
        lines += ["| experiment | reference | ours |", "|---|---|---|"]
        for ch, label, reference, key, unit in headlines():
            if ch == chapter:
                lines.append(f"| {label} | {reference} | **{_ours(res['metrics'], key, unit, chapter)}** |")
        lines.append("")
        lines += _claims(chapter, res)
    return "\n".join(lines)


def _changes(chapter: str) -> list[str]:
    from kdhelpers.infra.fingerprint import changes

    return changes(ROOT, chapter)


def _currency(chapter: str) -> list[str]:
    """A line saying that the chapter's recorded run is not current, and what changed since."""
    what = _changes(chapter)
    if not what:
        return []
    if what[0].startswith("no fingerprint"):
        return ["· *not fingerprinted: this run predates the record of what produced a run, so whether "
                "the code has changed since is not known.*"]
    return [f"· **stale:** changed since this run: {', '.join(what)}. "
            f"`make reproduce NOTEBOOKS=notebooks/{chapter}.ipynb` brings it up to date."]


def mark_stale_chapter(app, doctree) -> None:
    """A warning at the top of a chapter whose recorded run is stale, saying what changed."""
    from docutils import nodes

    doc = app.env.docname
    if not doc.startswith("notebooks/") or doc.removeprefix("notebooks/") not in IN_BOOK:
        return
    chapter = doc.removeprefix("notebooks/")
    if not (ROOT / "results" / f"{chapter}.json").exists():
        return
    what = _changes(chapter)
    if not what or what[0].startswith("no fingerprint"):
        return
    note = nodes.warning()
    note += nodes.paragraph(text=f"The numbers of this chapter come from a run whose code has changed since: "
                                 f"{', '.join(what)}. Re-run it (make reproduce NOTEBOOKS=notebooks/"
                                 f"{chapter}.ipynb) to bring it up to date.")
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None:
        doctree.insert(0, note)
    else:  # below the title
        section.insert(1, note)


def _claims(chapter: str, res: dict) -> list[str]:
    """The chapter's declared claims with their outcome in the recorded run: ✓ holds, ✗ does not
    hold (a documented negative result says so), · not checked in this profile."""
    claims = res.get("claims") or []
    if not claims:
        raise ExtensionError(f"results overview: results/{chapter}.json declares no claims; "
                             f"re-run the chapter with the current kdhelpers")
    lines = [f"Claims of {{doc}}`../notebooks/{chapter}`, checked on the numbers of this run:", "",
             "| | claim | measured against | numbers |", "|---|---|---|---|"]
    for c in claims:
        mark = {True: "✓", False: "✗", None: "·"}[c["holds"]]
        note = " *(documented negative result)*" if c.get("negative") else ""
        detail = (c["detail"] or "not checked in this profile").replace("|", "\\|")
        lines.append(f"| {mark} | {c['text']}{note} | {c['against']} | {detail} |")
    return lines + [""]


def write_page(app=None, config=None) -> None:
    text = render()
    if not PAGE.exists() or PAGE.read_text() != text:  # leave mtime alone when nothing changed
        PAGE.write_text(text)


def setup(app):
    # Before sphinx-external-toc reads _toc.yml (priority 500), so the page exists when it looks.
    app.connect("config-inited", write_page, priority=100)
    app.connect("doctree-read", mark_stale_chapter)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
