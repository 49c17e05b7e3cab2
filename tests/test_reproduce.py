"""make reproduce's runner: chapters longest first by their recorded cold cost, two at a time."""
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
