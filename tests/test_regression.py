"""The regression report of `make reproduce` / the GPU workflow, and the smoke-reference comparison."""
import json

import pytest

import kdbook as kb
from kdbook import regression as R


def _payload(metrics, a, b, profile="cpu", name="ch"):
    H = kb.Hypotheses(kb.beats("kd", "kd beats hard", a="distilled", b="hard labels", source="a paper"))
    H.judge("kd", a=a, b=b)
    return {"notebook": name, "profile": profile, "date": "2026-11-23", "metrics": metrics,
            "hypotheses": H.records(), "cost": {"wall_time_s": 1.0}}


BETTER, SAME = ([98.0, 98.2, 98.4], [97.0, 97.1, 97.0]), ([97.0, 97.2, 97.1], [97.1, 97.0, 97.2])


def _write(folder, name, payload):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(payload))


def test_report_lists_every_metric_old_to_new_in_std_units_and_passes(tmp_path, capsys):
    _write(tmp_path / "before", "ch", _payload({"kd_acc": 98.0, "kd_acc_std": 0.2, "hard_acc": 97.0}, *BETTER))
    _write(tmp_path / "after", "ch", _payload({"kd_acc": 98.4, "kd_acc_std": 0.2, "hard_acc": 97.0, "new": 1}, *BETTER))
    code = R.report(tmp_path / "before", tmp_path / "after", ["ch"], tmp_path / "out")
    assert code == 0
    [rep] = json.loads((tmp_path / "out" / "report.json").read_text())
    rows = {r["metric"]: r for r in rep["metrics"]}
    assert rows["kd_acc"]["change"] == pytest.approx(0.4) and rows["kd_acc"]["change_in_std"] == pytest.approx(2.0)
    assert rows["new"]["old"] is None and "kd_acc_std" not in rows
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| kd_acc | 98 | 98.4 | 0.4 | +2.00 |" in md and "| ✓ | kd: kd beats hard | A better | A better |" in md
    assert "verdicts ✓" in capsys.readouterr().out


def test_a_changed_verdict_fails_whatever_it_is_and_merge_does_too(tmp_path, capsys):
    _write(tmp_path / "before", "ch", _payload({"kd_acc": 98.2}, *BETTER))
    _write(tmp_path / "after", "ch", _payload({"kd_acc": 97.1}, *SAME))
    assert R.report(tmp_path / "before", tmp_path / "after", ["ch"], tmp_path / "a") == 1
    assert "ch: kd: verdict changed, 'A better' → 'no difference shown'" in capsys.readouterr().err
    # a first run of a "no difference" finding is a finding, not a failure
    _write(tmp_path / "after2", "ok", _payload({"kd_acc": 97.1}, *SAME, name="ok"))
    assert R.report(tmp_path / "none", tmp_path / "after2", ["ok"], tmp_path / "b") == 0
    assert R.merge([tmp_path / "b" / "report.json"], tmp_path / "m1") == 0
    assert R.merge([tmp_path / "a" / "report.json", tmp_path / "b" / "report.json"], tmp_path / "m2") == 1
    merged = json.loads((tmp_path / "m2" / "report.json").read_text())
    assert [r["chapter"] for r in merged] == ["ch", "ok"]


def test_a_stored_verdict_its_samples_do_not_give_fails(tmp_path):
    payload = _payload({"kd_acc": 98.2}, *BETTER)
    payload["hypotheses"][0]["verdict"] = "B better"  # edited by hand
    _write(tmp_path / "after", "ch", payload)
    assert R.report(tmp_path / "none", tmp_path / "after", ["ch"], tmp_path / "a") == 1


def test_report_command_line(tmp_path):
    _write(tmp_path / "after", "ch", _payload({"kd_acc": 99.0, "hard_acc": 97.0}, *BETTER))
    assert R.main(["report", "--before", str(tmp_path / "x"), "--after", str(tmp_path / "after"),
                   "--out", str(tmp_path / "o"), "notebooks/ch.ipynb"]) == 0
    assert (tmp_path / "o" / "report.md").exists()


def test_smoke_comparison_is_exact_on_the_reference_machine_and_loose_elsewhere():
    ref = {"machine": R.machine(), "notebooks": {"ch": {"acc": 90.0, "params_x": 1000, "latency_ms_b1_x": 3.0}}}
    assert R.compare_smoke(ref, "ch", {"acc": 90.0, "params_x": 1000, "latency_ms_b1_x": 9.0}) == []
    [msg] = R.compare_smoke(ref, "ch", {"acc": 90.01, "params_x": 1000})
    assert "acc = 90.01, smoke reference 90" in msg and "same machine" in msg
    other = {**ref, "machine": {"cpu": "another"}}
    assert R.compare_smoke(other, "ch", {"acc": 91.0, "params_x": 1000}) == []
    assert R.compare_smoke(other, "ch", {"acc": 99.5, "params_x": 1000})  # 9.5 points is a real change
    assert R.compare_smoke(other, "ch", {"acc": 90.0, "params_x": 1001})  # parameter counts are exact
    assert "is new" in R.compare_smoke(ref, "ch", {"acc": 90.0, "params_x": 1000, "extra": 1})[0]
    assert "did not record" in R.compare_smoke(ref, "ch", {"acc": 90.0})[0]
    assert "no smoke reference" in R.compare_smoke(ref, "other", {})[0]


def test_a_measurement_over_epochs_is_not_held_like_a_count_of_epochs():
    # student_range_over_epochs (early_stopping_kd) differs across CPUs like any accuracy; an epoch count must not
    assert R.tolerance("student_range_over_epochs", same_machine=False) == (3.0, 0.0)
    assert R.tolerance("student_epochs", same_machine=False) == (0.0, 1e-9)


def test_merge_runs_as_a_script_without_torch(tmp_path):
    """The GPU workflow's merge job has no torch: `python kdbook/regression.py merge` must not need it."""
    import subprocess
    import sys

    from conftest import ROOT

    _write(tmp_path / "after", "ok", _payload({"kd_acc": 99.0, "hard_acc": 97.0}, *BETTER, name="ok"))
    assert R.report(tmp_path / "none", tmp_path / "after", ["ok"], tmp_path / "b") == 0
    fake = tmp_path / "notorch" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no torch on this runner')\n")
    run = subprocess.run([sys.executable, str(ROOT / "kdbook" / "regression.py"), "merge", "--out",
                          str(tmp_path / "m"), str(tmp_path / "b" / "report.json")],
                         capture_output=True, text=True, env={"PYTHONPATH": str(tmp_path / "notorch"), "PATH": ""})
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "m" / "report.md").read_text().startswith("# Regression report")


def test_a_rounding_level_metric_passes_any_machines_rounding_and_fails_a_real_disagreement():
    """keras_vs_book_loss_rel_diff measures float32 rounding: 1.5e-07 on the recording machine, 0 on
    another CPU (or with another thread count). Held to an absolute bound on every machine."""
    for machine in (R.machine(), {"cpu": "another"}):
        ref = {"machine": machine, "notebooks": {"ch": {"loss_rel_diff": 1.5e-7, "grad_max_abs_err": 1.1e-16}}}
        assert R.compare_smoke(ref, "ch", {"loss_rel_diff": 0.0, "grad_max_abs_err": 0.0}) == []
        assert R.compare_smoke(ref, "ch", {"loss_rel_diff": 4e-6, "grad_max_abs_err": 2e-16}) == []
        [msg] = R.compare_smoke(ref, "ch", {"loss_rel_diff": 2e-3, "grad_max_abs_err": 0.0})
        assert "measures rounding" in msg and "no longer agree" in msg


def test_the_rounding_rule_matches_only_rounding_level_metrics():
    import json

    from conftest import ROOT

    ref = json.loads((ROOT / "tests" / "smoke_reference.json").read_text())["notebooks"]
    matched = sorted(k for m in ref.values() for k in m if R.ROUNDING_LEVEL.search(k))
    assert matched == ["grad_formula_max_abs_err", "keras_vs_book_loss_rel_diff"]
    assert all(abs(m[k]) <= R.ROUNDING_BOUND for m in ref.values() for k in m if k in matched)


def test_each_notebook_is_exact_on_the_machine_that_recorded_its_own_entry():
    ref = {"machines": {"here": R.machine(), "there": {"cpu": "another"}},
           "notebooks": {"here": {"acc": 90.0}, "there": {"acc": 90.0}}}
    assert R.compare_smoke(ref, "here", {"acc": 90.5}) and "same machine" in R.compare_smoke(ref, "here", {"acc": 90.5})[0]
    assert R.compare_smoke(ref, "there", {"acc": 90.5}) == []  # another machine's entry: within tolerance


def test_results_go_to_a_folder_per_profile(monkeypatch, tmp_path):
    from kdbook import results

    monkeypatch.delenv("KD_RESULTS_DIR", raising=False)
    monkeypatch.setenv("KD_DRY_RUN", "0")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "_toc.yml").write_text("root: x\n")
    assert results.results_dir("cpu") == tmp_path / "results"
    assert results.results_dir("full") == tmp_path / "results" / "full"
    assert results.results_dir("smoke") == tmp_path / "results" / "smoke"


def test_the_report_compares_like_with_like_and_says_when_it_has_no_earlier_run(tmp_path):
    cpu = _payload({"kd_acc": 98.0, "hard_acc": 97.0}, *BETTER, profile="cpu")
    full = _payload({"kd_acc": 99.0, "hard_acc": 97.0}, *BETTER, profile="full")
    rep = R.chapter_report("ch", cpu, full)
    assert rep["before_date"] is None and all(m["old"] is None for m in rep["metrics"])
    assert "previous run: none of profile 'full'" in R.render([rep])
    same = R.chapter_report("ch", {**full, "metrics": {"kd_acc": 98.5, "hard_acc": 97.0}}, full)
    assert {m["metric"]: m["old"] for m in same["metrics"]}["kd_acc"] == 98.5
