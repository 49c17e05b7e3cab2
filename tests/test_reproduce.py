"""make reproduce's runner: chapters longest first by their recorded cold cost (less the shipped teachers they load), two at a time."""
import json

from kdhelpers.infra import reproduce


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
