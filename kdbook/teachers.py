"""The book's trained teachers, shipped with it as ``safetensors`` files (never a pickle).

``teachers/manifest.json`` lists each file by the cache key the model cache already computes (a
hash of everything that determines the model: config, budget, profile, seed, data, precision),
with its sha256, size, training cost and provenance. :func:`kdbook.cache.load_or_train`
looks for a model in this order:

1. the local model cache (``$KD_CACHE_DIR``);
2. the book's file: ``<repository>/teachers/<file>``, or, without the repository (e.g. in Colab),
   ``$KD_TEACHERS_URL/<file>`` (default: the repository's ``main`` branch on GitHub), downloaded
   once into the cache; its sha256 is checked against the manifest before it is read;
3. training.

Step 2 also takes the book's teacher when only the precision it was trained in differs from this
machine's (a bf16-trained file on a CPU without bf16): the teacher is a given of its chapters, and
retraining it would cost an hour. It keeps its own key, and the run's ledger records its precision.

A file whose sha256 or tensors do not match its manifest entry raises :class:`ShippedTeacherError`
naming the file: it is never replaced by a silent retrain. ``KD_TEACHERS=0`` skips step 2 (a cold
run, and ``make teachers``, which retrains them all and rewrites the manifest).
"""
from __future__ import annotations

import hashlib
import json
import os
import urllib.request
from pathlib import Path

import torch

MANIFEST = "manifest.json"
DEFAULT_URL = "https://raw.githubusercontent.com/kd-book/kd-book/main/teachers"
MAX_BYTES = 80_000_000  # the whole shipped set stays small enough to clone with the book


class ShippedTeacherError(RuntimeError):
    """A shipped teacher file that does not match its manifest entry."""


def enabled() -> bool:
    """False with ``KD_TEACHERS=0``: the local cache, then training, as before the book shipped teachers."""
    return os.environ.get("KD_TEACHERS", "1").strip().lower() not in ("0", "false", "no", "off")


def repo_dir() -> Path:
    """``$KD_TEACHERS_DIR``, else ``teachers/`` beside the ``kdhelpers`` package (the repository)."""
    env = os.environ.get("KD_TEACHERS_DIR")
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[1] / "teachers"


def base_url() -> str:
    return os.environ.get("KD_TEACHERS_URL", DEFAULT_URL).rstrip("/")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _offline() -> bool:
    return os.environ.get("KD_OFFLINE", "0") == "1"


_MANIFESTS: dict[str, dict] = {}


def manifest() -> dict:
    """``{key: entry}`` from the repository's manifest, else the one at :func:`base_url` (read once
    per process); ``{}`` when neither can be read (offline, no repository): models are then trained."""
    local = repo_dir() / MANIFEST
    where = str(local) if local.exists() else f"{base_url()}/{MANIFEST}"
    if where not in _MANIFESTS:
        try:
            if local.exists():
                text = local.read_text()
            elif _offline():
                text = '{"teachers": []}'
            else:
                with urllib.request.urlopen(where, timeout=20) as r:
                    text = r.read().decode()
            entries = json.loads(text)["teachers"]
        except Exception as err:  # no network, no file: the book trains its teachers as before
            print(f"the book's teachers are not reachable ({type(err).__name__}: {err}); training instead")
            entries = []
        _MANIFESTS[where] = {e["key"]: e for e in entries}
    return _MANIFESTS[where]


def _file_for(entry: dict, cache: Path) -> Path:
    """The shipped file on this machine: the repository's, else downloaded once into ``cache``."""
    local = repo_dir() / entry["file"]
    if local.exists():
        return local
    target = cache / "book-teachers" / entry["file"]
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        urllib.request.urlretrieve(f"{base_url()}/{entry['file']}", part)
        os.replace(part, target)
    return target


def entry_for(name: str, key: str, parts: dict | None = None, key_of=None) -> dict | None:
    """The manifest's entry for ``key``; else the book's teacher that differs from ``parts`` only in
    the precision it was trained in (``computed_in``), if ``key_of(its parts)`` is its key (the same
    cache format, not a dry run). A teacher is a given of the chapters that use it: a CPU without
    bf16 loads the bf16-trained file, and its ledger says so, rather than retraining it for an hour."""
    entry = manifest().get(key)
    if entry is not None:
        return entry if entry.get("name") == name else None
    if parts is None or key_of is None:
        return None
    ours = {k: v for k, v in json.loads(json.dumps(parts, sort_keys=True)).items() if k != "computed_in"}
    for e in manifest().values():
        theirs = {k: v for k, v in (e.get("parts") or {}).items() if k != "computed_in"}
        if e.get("name") == name and theirs == ours and key_of(e["parts"]) == e["key"]:
            return e
    return None


def load_shipped(name: str, key: str, build, cache: Path, parts: dict | None = None, key_of=None):
    """``(model, entry)`` from the book's file for ``key`` (or for ``parts`` at another precision:
    :func:`entry_for`), or ``None`` when the book ships none (or shipping is off). Raises
    :class:`ShippedTeacherError` if the file is not the one the manifest describes: a wrong sha256,
    or tensors that do not fit ``build()``."""
    if not enabled():
        return None
    entry = entry_for(name, key, parts, key_of)
    if entry is None:
        return None
    try:
        path = _file_for(entry, cache)
    except Exception as err:
        print(f"{name}: the book's file {entry['file']} is not reachable ({type(err).__name__}: {err}); training instead")
        return None
    digest = sha256_of(path)
    if digest != entry["sha256"]:
        raise ShippedTeacherError(
            f"{path}: sha256 {digest[:12]}… does not match the manifest's {entry['sha256'][:12]}…; the file is "
            "corrupt or not the one the manifest describes. Restore it (git checkout teachers/, or delete a "
            "downloaded copy), or retrain with `make teachers`.")
    from safetensors.torch import load_file  # imported here: only a run that loads a shipped file needs it

    model = build()
    try:
        model.load_state_dict(load_file(str(path)))
    except Exception as err:
        raise ShippedTeacherError(f"{path}: its tensors do not fit the model of key {key} ({err})") from None
    return model, entry


def export(models: list[dict], out: Path, commit: str | None) -> dict:
    """Write each ``{"name", "key", "model", "seconds", "device", "precision", "parts", "chapter"}`` as
    ``<out>/<name>-<key>.safetensors`` and (atomically) ``<out>/manifest.json``; returns the manifest."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for m in models:
        file = f"{m['name']}-{m['key']}.safetensors"
        state = {k: v.detach().cpu().contiguous() for k, v in m["model"].state_dict().items()}
        tmp = out / f".{file}.tmp"
        save_file(state, str(tmp), metadata={"key": m["key"], "name": m["name"]})
        os.replace(tmp, out / file)
        entries.append({"name": m["name"], "key": m["key"], "file": file, "chapter": m["chapter"],
                        "sha256": sha256_of(out / file), "bytes": (out / file).stat().st_size,
                        "training_s": m["seconds"], "device": m["device"], "precision": m["precision"],
                        # the commit that trained it, as the cache recorded it (caches older than that record: None)
                        "commit": m.get("commit"), "exported_at_commit": commit, "parts": m["parts"],
                        **({"history": m["history"]} if m.get("history") else {})})
    total = sum(e["bytes"] for e in entries)
    if total > MAX_BYTES:
        raise ValueError(f"the shipped teachers add up to {total / 1e6:.1f} MB, over the {MAX_BYTES / 1e6:.0f} MB bound")
    payload = {"about": "The book's trained teachers: see kdbook/teachers.py. `make teachers` rewrites this.",
               "total_bytes": total, "teachers": entries}
    tmp = out / f".{MANIFEST}.tmp"  # written beside it, then renamed: a reader never sees half a manifest
    tmp.write_text(json.dumps(payload, indent=1) + "\n")
    os.replace(tmp, out / MANIFEST)
    _MANIFESTS.clear()
    return payload
