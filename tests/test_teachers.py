"""The book's shipped teachers: loading order (cache, book file, training), sha256 checks, the manifest."""
import json
import re

import pytest

from kdbook.chapter import load
import torch
from safetensors.torch import load_file

import kdhelpers as kd
import kdbook as kb
from kdhelpers import train as train_module
from kdhelpers.data import TensorData
from kdbook import teachers as shipping
from kdhelpers.models import build_model
from conftest import ROOT, load_script

MLP = {"arch": "mlp", "hidden": [32], "in_features": 16}
BUDGET = kd.Budget(epochs=2, batch_size=50, lr=0.05)


def _toy(n=300):
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 10, (n,), generator=g)
    x = torch.randint(0, 255, (n, 1, 4, 4), generator=g, dtype=torch.uint8)
    return TensorData(x, y, name=f"toyship{n}")


def _teacher(run):
    return kb.trained("toy-teacher", MLP, _toy(), BUDGET, run=run, seed=0, device="cpu")


@pytest.fixture
def book(tmp_path, monkeypatch):
    """A toy book: one teacher trained into one cache and exported as the book's file; then a fresh,
    empty cache, as on a reader's machine."""
    monkeypatch.setenv("KD_CACHE_DIR", str(tmp_path / "cache-a"))
    monkeypatch.setenv("KD_TEACHERS", "0")
    run = kb.Run(profile="smoke", device="cpu")
    teacher = _teacher(run)
    key = run.key_of(teacher)
    out = tmp_path / "teachers"
    shipping.export([{"name": "toy-teacher", "key": key, "model": teacher, "chapter": "toy", "seconds": 1.5,
                      "device": "cpu", "precision": "float32", "commit": None, "parts": {}}], out, None)
    monkeypatch.setenv("KD_TEACHERS", "1")
    monkeypatch.setenv("KD_TEACHERS_DIR", str(out))
    monkeypatch.setenv("KD_CACHE_DIR", str(tmp_path / "cache-b"))
    shipping._MANIFESTS.clear()
    yield out, key, {k: v.clone() for k, v in teacher.state_dict().items()}
    shipping._MANIFESTS.clear()


def _no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("trained although the book ships this model")
    monkeypatch.setattr(train_module, "fit", refuse)


def _same(model, state):
    return all(torch.equal(model.state_dict()[k], v) for k, v in state.items())


def test_a_shipped_teacher_loads_from_the_book_not_by_training(book, monkeypatch, capsys):
    out, key, state = book
    _no_training(monkeypatch)
    run = kb.Run(profile="smoke", device="cpu")
    model = _teacher(run)
    assert _same(model, state) and run.key_of(model) == key
    assert "loaded from the book's teachers" in capsys.readouterr().out
    entry = run.ledger[key]
    assert entry["hit"] and entry["from_book"] and entry["seconds"] == 1.5  # its training cost still counts
    # copied into the local cache: the next run reads the cache, not the book's file
    (out / f"toy-teacher-{key}.safetensors").unlink()
    run2 = kb.Run(profile="smoke", device="cpu")
    assert _same(_teacher(run2), state) and run2.ledger[key]["hit"]


def test_a_corrupt_book_file_is_an_error_naming_it_never_a_silent_retrain(book, monkeypatch):
    out, key, _ = book
    _no_training(monkeypatch)
    path = out / f"toy-teacher-{key}.safetensors"
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF  # one flipped byte in a weight
    path.write_bytes(bytes(raw))
    with pytest.raises(shipping.ShippedTeacherError, match=re.escape(path.name) + ".*sha256"):
        _teacher(kb.Run(profile="smoke", device="cpu"))


def test_a_book_file_with_the_wrong_tensors_is_an_error(book, monkeypatch):
    out, key, _ = book
    _no_training(monkeypatch)
    path = out / f"toy-teacher-{key}.safetensors"
    from safetensors.torch import save_file
    save_file({"something": torch.zeros(3)}, str(path))
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["teachers"][0]["sha256"] = shipping.sha256_of(path)  # a consistent manifest, a wrong model
    (out / "manifest.json").write_text(json.dumps(manifest))
    shipping._MANIFESTS.clear()
    with pytest.raises(shipping.ShippedTeacherError, match="do not fit"):
        _teacher(kb.Run(profile="smoke", device="cpu"))


def test_without_the_repository_the_file_comes_from_the_url_and_is_checked(book, tmp_path, monkeypatch):
    out, key, state = book
    _no_training(monkeypatch)
    monkeypatch.setenv("KD_TEACHERS_DIR", str(tmp_path / "no-repository"))
    monkeypatch.setenv("KD_TEACHERS_URL", out.as_uri())  # file:// stands in for GitHub
    monkeypatch.setenv("KD_OFFLINE", "0")
    shipping._MANIFESTS.clear()
    assert _same(_teacher(kb.Run(profile="smoke", device="cpu")), state)
    assert (tmp_path / "cache-b" / "book-teachers" / f"toy-teacher-{key}.safetensors").exists()


def test_kd_teachers_0_trains_as_before(book, monkeypatch):
    monkeypatch.setenv("KD_TEACHERS", "0")
    run = kb.Run(profile="smoke", device="cpu")
    _teacher(run)
    assert not next(iter(run.ledger.values()))["hit"]


def _ship_as_trained_in(precision, tmp_path, monkeypatch, **change):
    """The toy teacher, trained here, shipped as if trained in ``precision`` on another machine (its
    parts and key say so), with any other part changed by ``change``; returns (key, state)."""
    from kdbook.cache import cache_key
    monkeypatch.setenv("KD_CACHE_DIR", str(tmp_path / "cache-a"))
    monkeypatch.setenv("KD_TEACHERS", "0")
    run = kb.Run(profile="smoke", device="cpu")
    teacher = _teacher(run)
    ours = json.loads(torch.load(tmp_path / "cache-a" / f"toy-teacher-{run.key_of(teacher)}.pt",
                                 weights_only=True)["parts"])
    parts = {**ours, "computed_in": precision, **change}
    key = cache_key(parts)
    shipping.export([{"name": "toy-teacher", "key": key, "model": teacher, "chapter": "toy", "seconds": 900.0,
                      "device": "cpu", "precision": precision, "commit": None, "parts": parts}],
                    tmp_path / "teachers", None)
    monkeypatch.setenv("KD_TEACHERS", "1")
    monkeypatch.setenv("KD_TEACHERS_DIR", str(tmp_path / "teachers"))
    monkeypatch.setenv("KD_CACHE_DIR", str(tmp_path / "cache-b"))
    shipping._MANIFESTS.clear()
    return ours["computed_in"], key, {k: v.clone() for k, v in teacher.state_dict().items()}


def test_a_teacher_shipped_from_a_bf16_cpu_loads_on_a_float32_one(tmp_path, monkeypatch, capsys):
    """Only the precision differs (most CPUs have no bf16): the book's file is used, under its own
    key, and the ledger says what it was trained in; it is not retrained for an hour."""
    here, key, state = _ship_as_trained_in("bfloat16 autocast", tmp_path, monkeypatch)
    assert here == "float32"  # the smoke profile computes in float32 on every CPU
    _no_training(monkeypatch)
    run = kb.Run(profile="smoke", device="cpu")
    model = _teacher(run)
    assert _same(model, state) and run.key_of(model) == key  # students key on the teacher they got
    assert "trained in bfloat16 autocast" in capsys.readouterr().out
    assert run.ledger[key]["from_book"] and run.ledger[key]["precision"] == "bfloat16 autocast"
    assert run.ledger[key]["seconds"] == 900.0
    shipping._MANIFESTS.clear()


def test_a_shipped_teacher_that_differs_in_more_than_precision_is_not_used(tmp_path, monkeypatch):
    _ship_as_trained_in("bfloat16 autocast", tmp_path, monkeypatch, seed=1)
    run = kb.Run(profile="smoke", device="cpu")
    _teacher(run)
    assert [e["hit"] for e in run.ledger.values()] == [False]  # trained: another seed is another teacher
    shipping._MANIFESTS.clear()


MANIFEST = json.loads((ROOT / "teachers" / "manifest.json").read_text())


def test_the_shipped_set_is_small_and_every_file_is_the_one_its_manifest_names():
    entries = MANIFEST["teachers"]
    total = sum((ROOT / "teachers" / e["file"]).stat().st_size for e in entries)
    assert total == MANIFEST["total_bytes"] <= shipping.MAX_BYTES
    files = {p.name for p in (ROOT / "teachers").glob("*.safetensors")}
    assert files == {e["file"] for e in entries}, "a file without a manifest entry, or the reverse"
    for e in entries:
        assert shipping.sha256_of(ROOT / "teachers" / e["file"]) == e["sha256"], e["file"]
        assert e["training_s"] > 0 and e["precision"] and e["chapter"]


def chapter_definitions(chapter):
    """A chapter's own code: its notebook's cells tagged `define`."""
    return load(chapter)


@pytest.mark.parametrize("entry", MANIFEST["teachers"], ids=lambda e: e["file"])
def test_each_shipped_teacher_fits_its_config_and_is_the_one_its_chapter_uses(entry):
    chapter_definitions(entry["chapter"])  # a chapter may register its own arch
    model = build_model(entry["parts"]["model"])
    model.load_state_dict(load_file(str(ROOT / "teachers" / entry["file"])))  # strict: every tensor fits
    notebook = ROOT / "notebooks" / f"{entry['chapter']}.ipynb"
    if not notebook.exists():  # held back in drafts/: it has no committed run on the current code
        assert (ROOT / "drafts" / notebook.name).exists(), f"{entry['chapter']} is neither a chapter nor a draft"
        return
    # the chapter's committed run asked the cache for exactly this key
    assert f"{entry['name']}-{entry['key']}" in notebook.read_text()


def test_make_teachers_trains_each_registered_teacher_and_writes_a_manifest(tmp_path, monkeypatch):
    """`make teachers` (kdbook.build_teachers.build) on a toy registry: trained afresh, exported,
    with the training time and the commit the cache recorded; the export then loads as the book's file."""
    from kdbook import build_teachers as book

    monkeypatch.setenv("KD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(book, "SHIPPED", {"toy": lambda run: [_teacher(run)]})
    payload = book.build(tmp_path / "out", profile="smoke")
    (entry,) = payload["teachers"]
    # training_s is recorded (the cache rounds to 0.01 s: a toy on a fast CPU can record 0.00)
    assert entry["chapter"] == "toy" and entry["training_s"] >= 0 and entry["parts"]["model"] == MLP
    assert entry["commit"] is None or len(entry["commit"].split("+")[0]) == 40
    assert shipping.sha256_of(tmp_path / "out" / entry["file"]) == entry["sha256"]
    monkeypatch.setenv("KD_TEACHERS", "1")
    monkeypatch.setenv("KD_TEACHERS_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("KD_CACHE_DIR", str(tmp_path / "empty"))
    shipping._MANIFESTS.clear()
    _no_training(monkeypatch)
    run = kb.Run(profile="smoke", device="cpu")
    _teacher(run)
    assert run.ledger[entry["key"]]["from_book"]
    shipping._MANIFESTS.clear()


def test_the_how_to_run_pages_cost_table_is_the_one_the_committed_results_give():
    book_cost = load_script("benchmarks/book_cost.py")
    assert (ROOT / "book" / "reproduce_cost.md").read_text() == book_cost.markdown(), \
        "rewrite it: python benchmarks/book_cost.py --markdown book/reproduce_cost.md"


def test_the_how_to_run_pages_whole_book_run_is_the_recorded_one():
    book_cost = load_script("benchmarks/book_cost.py")
    record = json.loads(book_cost.RUN_RECORD.read_text())
    assert (ROOT / "book" / "reproduce_run.md").read_text() == book_cost.run_markdown(record), \
        "rewrite it: python benchmarks/book_cost.py --run-markdown book/reproduce_run.md"
    # the record names chapters of this book, once each, and its wall covers every chapter's own span
    ran = [c["notebook"] for c in record["chapters"]]
    chapters_and_drafts = {p.stem for folder in ("notebooks", "drafts") for p in (ROOT / folder).glob("*.ipynb")}
    assert len(ran) == len(set(ran)) and set(ran) <= chapters_and_drafts
    assert all(c["start_s"] + c["wall_s"] <= record["wall_s"] + 1 for c in record["chapters"])
    assert set(record["not_run"]) == {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")} - set(ran)


def test_the_run_record_counts_finished_chapters_only(tmp_path):
    """book_run_record.py: times from the first start; a chapter still running at the end is not_run."""
    rec_mod = load_script("benchmarks/book_run_record.py")
    log = tmp_path / "_build" / "reproduce" / "queues.tsv"
    log.parent.mkdir(parents=True)
    log.write_text("A\tsources_harvard\tstart\t1000\nB\ttemperature\tstart\t1004\n"
                   "B\ttemperature\tend\t1020\t0\t16\nB\tmnist_omit3\tstart\t1020\n"
                   "B\tmnist_omit3\tend\t1300\t1\t280\nB\tmnist_only78\tstart\t1300\n")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "temperature.json").write_text(json.dumps({"cost": {"trained_now": 0, "training_flops": 5.0}}))
    r = rec_mod.record(tmp_path, {"temperature": "a note"}, "test")
    rows = {c["notebook"]: c for c in r["chapters"]}
    assert set(rows) == {"temperature", "mnist_omit3"} and r["wall_s"] == 300
    assert (rows["temperature"]["lane"], rows["temperature"]["start_s"], rows["temperature"]["wall_s"]) == ("B", 4, 16)
    assert rows["temperature"]["trained_now"] == 0 and rows["temperature"]["note"] == "a note"
    assert rows["mnist_omit3"]["exit"] == 1 and rows["mnist_omit3"]["training_flops"] is None  # failed: no cost read
    assert {"sources_harvard", "mnist_only78"} <= set(r["not_run"]) and "temperature" not in r["not_run"]


def test_colab_fetches_the_teachers_from_the_books_own_repository():
    url = re.search(r"repository:\s*\n\s*url:\s*(\S+)", (ROOT / "_config.yml").read_text()).group(1)
    owner_repo = url.removeprefix("https://github.com/").rstrip("/")
    assert shipping.DEFAULT_URL == f"https://raw.githubusercontent.com/{owner_repo}/main/teachers"
