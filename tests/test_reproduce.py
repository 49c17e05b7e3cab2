"""make reproduce's runner: chapters longest first by their recorded cold cost (less the shipped teachers they load), two at a time."""
import json
import subprocess

from kdbook import reproduce


def test_the_queue_runs_the_longest_recorded_chapter_first(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    for name, cold in (("a", 60.0), ("b", 3000.0)):
        (results / f"{name}.json").write_text(json.dumps({"cost": {"cold_time_s": cold}}))
    nbs = [tmp_path / f"{n}.ipynb" for n in ("a", "new", "b")]
    assert [reproduce.recorded_cost(nb, results) for nb in nbs] == [60.0, 0.0, 3000.0]
    assert [nb.stem for nb in sorted(nbs, key=lambda nb: -reproduce.recorded_cost(nb, results))] == ["b", "a", "new"]


def test_a_shipped_teacher_the_notebook_loads_is_not_queued_as_training(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    for name, cold in (("cifar", 9000.0), ("grid", 5000.0)):
        (results / f"{name}.json").write_text(json.dumps({"cost": {"cold_time_s": cold}}))
    (tmp_path / "cifar.ipynb").write_text('"loaded resnet-teacher-0123456789abcdef.safetensors"')
    (tmp_path / "grid.ipynb").write_text("{}")
    shipped = {"0123456789abcdef": {"name": "resnet-teacher", "key": "0123456789abcdef", "training_s": 6000.0}}
    nbs = [tmp_path / "cifar.ipynb", tmp_path / "grid.ipynb"]
    assert [reproduce.recorded_cost(nb, results, shipped) for nb in nbs] == [3000.0, 5000.0]
    assert [reproduce.recorded_cost(nb, results) for nb in nbs] == [9000.0, 5000.0]  # KD_TEACHERS=0: trained
    assert [nb.stem for nb in sorted(nbs, key=lambda nb: -reproduce.recorded_cost(nb, results, shipped))] == ["grid", "cifar"]


def test_the_run_logs_each_chapters_queue_start_and_end_for_the_record(tmp_path, monkeypatch):
    """benchmarks/book_run_record.py rebuilds the run from queues.tsv: two queues, every chapter once."""
    import importlib.util
    import subprocess
    import time
    from pathlib import Path

    (tmp_path / "results").mkdir()
    nbs = []
    for name in ("a", "b", "c"):
        nb = tmp_path / "notebooks" / f"{name}.ipynb"
        nb.parent.mkdir(exist_ok=True)
        nb.write_text("{}")
        nbs.append(str(nb))

    def fake_papermill(cmd, **kw):  # papermill stand-in: a chapter that takes a moment and succeeds
        time.sleep(0.05)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(reproduce.subprocess, "run", fake_papermill)
    assert reproduce.main(["--profile", "cpu", "--jobs", "2", "--results", "results", *nbs]) == 0
    spec = importlib.util.spec_from_file_location(
        "book_run_record", Path(__file__).resolve().parents[1] / "benchmarks" / "book_run_record.py")
    rec = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rec)
    _, rows = rec.parse_log(tmp_path / "_build" / "reproduce" / "queues.tsv")
    assert sorted(r["notebook"] for r in rows) == ["a", "b", "c"]
    assert {r["lane"] for r in rows} <= {"A", "B"} and all(r["exit"] == 0 and r["end"] >= r["start"] for r in rows)


def test_a_lone_chapter_gets_every_core(tmp_path, monkeypatch, capsys):
    nb = tmp_path / "notebooks" / "a.ipynb"
    nb.parent.mkdir()
    nb.write_text("{}")
    seen = []

    def fake_papermill(cmd, env=None, **kw):  # records the threads the chapter was given
        seen.append(env["OMP_NUM_THREADS"])
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(reproduce.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(reproduce.subprocess, "run", fake_papermill)
    assert reproduce.main(["--profile", "cpu", "--jobs", "2", "--results", "results", str(nb)]) == 0
    assert seen == ["2"] and "1 at a time, 2 thread(s) each" in capsys.readouterr().out
