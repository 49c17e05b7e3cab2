#!/usr/bin/env python
"""The Keras ``Distiller`` example of the lecture slides, run as its own code: the reference that
``notebooks/keras_distiller.ipynb`` sets beside its PyTorch rewrite.

The code below is the slides' (``../shared/sources/001_*``, "Topic 3: Knowledge Distillation"),
copied as printed: the ``Distiller`` with its ``compute_loss``, both networks, the teacher trained
5 epochs, the student distilled 3 epochs at ``alpha=0.1, temperature=10``, Adam with Keras's
defaults and ``fit``'s default batch size (32). Beside it, as the keras.io example that the slides
come from does, a clone of the student trained from scratch on the labels for the same 3 epochs.
As in the example and in the book's rewrite, one teacher teaches every student seed: it is trained
once (``--teacher-seed``) and kept in the model cache (``$KD_CACHE_DIR``), and each student seed then
starts from a fresh copy of it and builds, distils and trains its students afresh. A fresh copy,
because the Distiller trains its teacher too: in Keras 3 the teacher's weights are among the
Distiller's trainable weights and ``compute_loss`` calls it inside the gradient, so ``fit`` steps it
through the soft term (``benchmarks/keras_step_compare.py`` measures it: 97.6 % → 22.4 % test
accuracy in 20 steps). That is the code as printed, and this script runs it as printed.

What differs from the slides, and why:

* MNIST is read from the raw files under ``$KD_DATA_DIR/MNIST/raw`` (the files the book reads)
  instead of ``keras.datasets.mnist.load_data()``, which downloads. The arrays are the same.
* The teacher and each student seed call ``keras.utils.set_random_seed(seed)`` first (Python, NumPy
  and the backend), so a run can be repeated; the slides set no seed.

It runs Keras 3 on its torch backend (``KERAS_BACKEND=torch``) in float32 on one thread, and
appends every seed's numbers, as soon as the seed ends, to ``benchmarks/results/keras_reference.json``
(an atomic write). It is slow on a CPU (the 256/512 teacher at batch 32 in float32 costs 105 TFLOP,
about 50 min on one thread of a 2-core machine; each student seed about 10 min, most of it the
teacher's forward pass on every batch) and is not part of ``make test``.

Variants (``--variant``, one or more; each seed runs the variants in turn, so a run cut short leaves
them balanced):

* ``printed``: the code as printed, the teacher moving (``benchmarks/results/keras_reference.json``);
* ``frozen``: the same code with one line added, ``teacher.trainable = False`` before the distiller is
  compiled, as Keras users freeze a model (``keras_reference_frozen.json``);
* ``builtin``: Keras's own ``keras.distillation.Distiller`` (Keras >= 3.15), written as its docstring
  shows it: ``Distiller(teacher, student, distillation_losses=LogitsDistillation(temperature=10),
  student_loss_weight=0.1)``, compiled with the example's Adam, sparse cross-entropy on the labels and
  accuracy metric (``keras_reference_builtin.json``). Its ``student_loss_weight`` weights the hard
  term, ``(1 - student_loss_weight)`` the distillation term (``keras/src/distillation/distiller.py``,
  ``compute_loss``), exactly as the example's ``alpha`` does, so 0.1 is the example's weighting (the
  book's α = 0.9). The Distiller freezes the teacher itself (``self.teacher.trainable = False`` in
  ``__init__``). But ``LogitsDistillation``'s default loss, the string ``"kl_divergence"``, becomes the
  *function* ``keras.losses.kl_divergence``, not a ``keras.losses.KLDivergence`` instance, and only an
  instance takes the softmax-and-T² branch of ``LogitsDistillation.compute_loss``: the default applies
  ``kl_divergence`` (which clips both arguments to [1e-7, 1]) to the temperature-scaled *logits* and
  does not multiply by T² (``tests/test_keras_api.py`` checks it). That is what a Keras user gets, and
  this variant runs it;
* ``builtin_kl``: the same with ``LogitsDistillation(temperature=10, loss=keras.losses.KLDivergence())``,
  Hinton's soft term (``keras_reference_builtin_kl.json``; ``tests/test_keras_api.py`` shows it steps
  as the ``frozen`` variant does).

Every variant records the teacher's test accuracy after the distillation too (``teacher_after_acc``),
so the drift of a moving teacher is measured. ``--limit N`` trains on the first N training images and
tests on the first N test images, with a teacher of its own that is not cached, and writes nothing:
it checks the code path in a minute.

Usage::

    pip install -e .[keras]
    KD_DATA_DIR=../shared/data python benchmarks/keras_reference.py --seeds 0 1 2
    KD_DATA_DIR=../shared/data python benchmarks/keras_reference.py --variant frozen builtin --seeds 0 1 2
    KD_DATA_DIR=../shared/data python benchmarks/keras_reference.py --variant frozen builtin --limit 512 --seeds 0
"""
import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
OUT = RESULTS / "keras_reference.json"
VARIANTS = ("printed", "frozen", "builtin", "builtin_kl")


def out_path(variant: str) -> Path:
    """``keras_reference.json`` for the code as printed (the runs recorded first), else ``keras_reference_<variant>.json``."""
    return OUT if variant == "printed" else RESULTS / f"keras_reference_{variant}.json"
MNIST_FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
               "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}


def load_mnist(root: Path):
    """The four idx files, as ``keras.datasets.mnist.load_data()`` returns them (uint8 arrays)."""
    raw = root / "MNIST" / "raw"
    missing = [str(raw / f) for f in MNIST_FILES.values() if not (raw / f).exists()]
    if missing:
        raise SystemExit("MNIST not found; put these files there (or point KD_DATA_DIR at a folder "
                         "that has them):\n  " + "\n  ".join(missing))

    def idx(name):
        data = (raw / name).read_bytes()
        ndim = data[3]
        shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
        return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)

    return ((idx(MNIST_FILES["x_train"]), idx(MNIST_FILES["y_train"])),
            (idx(MNIST_FILES["x_test"]), idx(MNIST_FILES["y_test"])))


def networks():
    """The slides' classes and networks, as printed."""
    import keras
    from keras import layers, ops

    # ---------------------------------------------------------------- the slides' code, as printed
    class Distiller(keras.Model):
        def __init__(self, student, teacher):
            super().__init__()
            self.teacher = teacher
            self.student = student

        def compile(
                self,
                optimizer,
                metrics,
                student_loss_fn,
                distillation_loss_fn,
                alpha=0.1,
                temperature=3,
        ):
            super().compile(optimizer=optimizer, metrics=metrics)
            self.student_loss_fn = student_loss_fn
            self.distillation_loss_fn = distillation_loss_fn
            self.alpha = alpha
            self.temperature = temperature

        def compute_loss(
                self, x=None, y=None, y_pred=None, sample_weight=None, allow_empty=False
        ):
            teacher_pred = self.teacher(x, training=False)
            student_loss = self.student_loss_fn(y, y_pred)

            distillation_loss = self.distillation_loss_fn(
                ops.softmax(teacher_pred / self.temperature, axis=1),
                ops.softmax(y_pred / self.temperature, axis=1),
            ) * (self.temperature**2)

            loss = self.alpha * student_loss + (1 - self.alpha) * distillation_loss
            return loss

        def call(self, x):
            return self.student(x)

    def make_teacher():
        # Create the teacher
        teacher = keras.Sequential(
            [
                keras.Input(shape=(28, 28, 1)),
                layers.Conv2D(256, (3, 3), strides=(2, 2), padding="same"),
                layers.LeakyReLU(negative_slope=0.2),
                layers.MaxPooling2D(pool_size=(2, 2), strides=(1, 1), padding="same"),
                layers.Conv2D(512, (3, 3), strides=(2, 2), padding="same"),
                layers.Flatten(),
                layers.Dense(10),
            ],
            name="teacher",
        )
        return teacher

    def make_student():
        # Create the student
        student = keras.Sequential(
            [
                keras.Input(shape=(28, 28, 1)),
                layers.Conv2D(16, (3, 3), strides=(2, 2), padding="same"),
                layers.LeakyReLU(negative_slope=0.2),
                layers.MaxPooling2D(pool_size=(2, 2), strides=(1, 1), padding="same"),
                layers.Conv2D(32, (3, 3), strides=(2, 2), padding="same"),
                layers.Flatten(),
                layers.Dense(10),
            ],
            name="student",
        )
        return student
    # ------------------------------------------------------------------------------------------
    return Distiller, make_teacher, make_student


def data(root: Path):
    (x_train, y_train), (x_test, y_test) = load_mnist(root)  # keras.datasets.mnist.load_data() downloads

    # Normalize data (the slides' code)
    x_train = x_train.astype("float32") / 255.0
    x_train = np.reshape(x_train, (-1, 28, 28, 1))

    x_test = x_test.astype("float32") / 255.0
    x_test = np.reshape(x_test, (-1, 28, 28, 1))
    return x_train, y_train, x_test, y_test


def teacher_model(seed: int, root: Path, cache: Path, limit: int | None = None):
    """The teacher trained 5 epochs as the slides do, or loaded from ``cache`` (a Keras weights file).
    Returns ``(teacher, info, path)``: ``path`` is the weights file every student seed starts a fresh copy
    from. With ``limit``, trained on the first ``limit`` images and kept in a temporary folder, not the cache."""
    import keras

    _, make_teacher, _ = networks()
    x_train, y_train, x_test, y_test = data(root)
    if limit:
        x_train, y_train, x_test, y_test = x_train[:limit], y_train[:limit], x_test[:limit], y_test[:limit]
        cache = Path(tempfile.mkdtemp(prefix="keras-reference-limit-"))
    keras.utils.set_random_seed(seed)
    teacher = make_teacher()
    # Train teacher as usual
    teacher.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    path = cache / f"keras-reference-teacher-seed{seed}-keras{keras.__version__}.weights.h5"
    info = path.with_suffix(".json")
    if path.exists() and info.exists():
        teacher.load_weights(path)
        seconds = json.loads(info.read_text())["seconds"]
        print(f"teacher: loaded from the cache ({path.name})")
    else:
        # Train and evaluate teacher on data.
        t0 = time.perf_counter()
        teacher.fit(x_train, y_train, epochs=5, verbose=2)
        seconds = round(time.perf_counter() - t0, 1)
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.tmp.weights.h5")
        teacher.save_weights(tmp)
        os.replace(tmp, path)
        info.write_text(json.dumps({"seconds": seconds}))
    _, teacher_acc = teacher.evaluate(x_test, y_test, verbose=0)
    return teacher, {"seed": seed, "acc": 100 * float(teacher_acc), "seconds": seconds}, path


def fresh_teacher(path: Path):
    """A fresh copy of the trained teacher (its weights file), compiled as the slides compile it: every
    student seed and variant starts from one, because the printed Distiller trains its teacher too."""
    import keras

    _, make_teacher, _ = networks()
    teacher = make_teacher()
    teacher.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    teacher.load_weights(path)
    return teacher


def distiller_for(variant: str, student, teacher):
    """The compiled distiller of ``variant`` (see the module's docstring)."""
    import keras

    if variant in ("printed", "frozen"):
        Distiller, _, _ = networks()
        if variant == "frozen":
            teacher.trainable = False  # the one line added to the printed code
        # Initialize and compile distiller
        distiller = Distiller(student=student, teacher=teacher)
        distiller.compile(
            optimizer=keras.optimizers.Adam(),
            metrics=[keras.metrics.SparseCategoricalAccuracy()],
            student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            distillation_loss_fn=keras.losses.KLDivergence(),
            alpha=0.1,
            temperature=10,
        )
        return distiller
    if variant in ("builtin", "builtin_kl"):
        # Keras's own API: student_loss_weight weights the hard term, as the example's alpha does
        logits = (keras.distillation.LogitsDistillation(temperature=10) if variant == "builtin" else
                  keras.distillation.LogitsDistillation(temperature=10, loss=keras.losses.KLDivergence()))
        distiller = keras.distillation.Distiller(teacher=teacher, student=student, distillation_losses=logits,
                                                 student_loss_weight=0.1)
        distiller.compile(
            optimizer=keras.optimizers.Adam(),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.SparseCategoricalAccuracy()],
        )
        return distiller
    raise ValueError(f"unknown variant {variant!r}; one of {VARIANTS}")


def students(seed: int, teacher, root: Path, variant: str = "printed", limit: int | None = None) -> dict:
    """One student seed: the ``variant``'s distillation, and a clone trained from scratch (keras.io's);
    then the teacher's test accuracy after the distillation."""
    import keras

    x_train, y_train, x_test, y_test = data(root)
    if limit:
        x_train, y_train, x_test, y_test = x_train[:limit], y_train[:limit], x_test[:limit], y_test[:limit]
    _, _, make_student = networks()
    keras.utils.set_random_seed(seed)
    student = make_student()
    # Clone student for later comparison (the keras.io example's scratch student)
    student_scratch = keras.models.clone_model(student)

    distiller = distiller_for(variant, student, teacher)
    n_trainable = sum(int(np.prod(w.shape)) for w in distiller.trainable_weights)

    # Distill teacher to student
    t0 = time.perf_counter()
    distiller.fit(x_train, y_train, epochs=3, verbose=2)
    distill_s = time.perf_counter() - t0

    # Evaluate student on test dataset
    distilled_acc = distiller.evaluate(x_test, y_test, verbose=0, return_dict=True)["sparse_categorical_accuracy"]
    # the teacher after the distillation: moved by fit (printed) or not (frozen, builtin)
    _, teacher_after = teacher.evaluate(x_test, y_test, verbose=0)

    # Train student as done usually (the keras.io example's comparison)
    student_scratch.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    t0 = time.perf_counter()
    student_scratch.fit(x_train, y_train, epochs=3, verbose=2)
    scratch_s = time.perf_counter() - t0
    _, scratch_acc = student_scratch.evaluate(x_test, y_test, verbose=0)
    return {"seed": seed, "student_scratch_acc": 100 * float(scratch_acc), "student_kd_acc": 100 * float(distilled_acc),
            "teacher_after_acc": 100 * float(teacher_after), "distiller_trainable_params": n_trainable,
            "seconds": {"distill": round(distill_s, 1), "scratch": round(scratch_s, 1)}}


def write(record: dict, out: Path = OUT) -> None:
    from kdhelpers.io import atomic_write_text  # the book's one atomic write (it makes the folder)
    atomic_write_text(out, json.dumps(record, indent=1) + "\n")


def summarise(runs: list[dict]) -> dict:
    out = {}
    for key in ("student_scratch_acc", "student_kd_acc", "teacher_after_acc"):
        v = np.array([r[key] for r in runs if key in r], dtype=float)
        if not len(v):
            continue
        out[key] = float(v.mean())
        out[f"{key}_std"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    out["n_seeds"] = len(runs)
    return out


WHAT = {
    "printed": "the slides' Keras Distiller example run as its own code (benchmarks/keras_reference.py): "
               "teacher 5 epochs, student distilled 3 epochs at alpha=0.1 (Keras's alpha weights the hard "
               "term), temperature=10, Adam defaults, batch 32 (the Keras 3 Distiller steps the teacher "
               "too); a clone of the student trained 3 epochs from scratch; one trained teacher, a fresh "
               "copy for every student seed. Test accuracy in %.",
    "frozen": "the slides' Keras Distiller example with one line added, teacher.trainable = False before the "
              "distiller is compiled (benchmarks/keras_reference.py --variant frozen): otherwise as printed, "
              "teacher 5 epochs, student distilled 3 epochs at alpha=0.1 (hard term), temperature=10, Adam "
              "defaults, batch 32; a clone of the student trained 3 epochs from scratch; one trained teacher, "
              "a fresh copy for every student seed; teacher_after_acc: the teacher after the distillation. "
              "Test accuracy in %.",
    "builtin": "Keras's own keras.distillation.Distiller(teacher, student, distillation_losses="
               "LogitsDistillation(temperature=10), student_loss_weight=0.1) (benchmarks/keras_reference.py "
               "--variant builtin): student_loss_weight weights the hard term as the example's alpha does; the "
               "Distiller freezes the teacher; LogitsDistillation's default loss 'kl_divergence' resolves to the "
               "function keras.losses.kl_divergence, which it applies to the temperature-scaled logits (clipped "
               "to [1e-7, 1]) without softmax and without T^2 (only a KLDivergence instance gets those). Same "
               "teacher, student, data, Adam defaults, batch 32, 3 epochs; a scratch clone as in the example. "
               "Test accuracy in %.",
    "builtin_kl": "Keras's own keras.distillation.Distiller with LogitsDistillation(temperature=10, "
                  "loss=keras.losses.KLDivergence()) and student_loss_weight=0.1: T^2 * KL of the softened "
                  "distributions, the example's loss, teacher frozen (benchmarks/keras_reference.py --variant "
                  "builtin_kl). Otherwise as the builtin variant. Test accuracy in %.",
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="student seeds")
    p.add_argument("--variant", nargs="+", action="extend", choices=VARIANTS,
                   help="which distillation(s); repeatable (default: printed)")
    p.add_argument("--teacher-seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (one per job on a 2-core machine)")
    p.add_argument("--limit", type=int, default=None,
                   help="train on the first N training images and test on the first N test images, a quick check "
                        "of the code path: its teacher is not cached and nothing is recorded")
    a = p.parse_args(argv)
    variants = list(dict.fromkeys(a.variant or ["printed"]))
    import keras
    import torch

    if keras.backend.backend() != "torch":
        raise SystemExit(f"run with KERAS_BACKEND=torch (got {keras.backend.backend()!r})")
    if any(v.startswith("builtin") for v in variants) and not hasattr(keras, "distillation"):
        raise SystemExit(f"the builtin variants need keras.distillation (Keras >= 3.15; this is {keras.__version__})")
    torch.set_num_threads(a.threads)
    root = Path(os.environ.get("KD_DATA_DIR", "data")).expanduser().resolve()
    cache = Path(os.environ.get("KD_CACHE_DIR", Path.home() / ".cache" / "kdhelpers")).expanduser()
    t0 = time.perf_counter()
    _, t_info, t_path = teacher_model(a.teacher_seed, root, cache, a.limit)
    print(f"teacher: {t_info}", flush=True)
    runs, records = {}, {}
    for v in variants:
        record = {} if a.limit or not out_path(v).exists() else json.loads(out_path(v).read_text())
        same_teacher = record.get("teacher", {}).get("seed") == a.teacher_seed
        runs[v] = [r for r in record.get("runs", []) if same_teacher and r["seed"] not in a.seeds]
    for seed in a.seeds:
        for v in variants:  # seed by seed, the variants in turn: a run cut short leaves them balanced
            # a fresh copy of the trained teacher for every seed and variant: the printed Distiller's fit trains
            # the teacher too (Keras 3: its weights are among the Distiller's trainable weights)
            teacher = fresh_teacher(t_path)
            run = students(seed, teacher, root, v, a.limit)
            runs[v] = sorted([r for r in runs[v] if r["seed"] != seed] + [run], key=lambda r: r["seed"])
            print(f"{v}, student seed {seed}: {run}", flush=True)
            records[v] = {
                "what": WHAT[v], "variant": v,
                "keras": keras.__version__, "backend": keras.backend.backend(), "torch": torch.__version__,
                "precision": "float32", "threads": a.threads, "cpu": platform.processor() or platform.machine(),
                "teacher": t_info, "summary": {"teacher_acc": t_info["acc"], **summarise(runs[v])}, "runs": runs[v],
            }
            if a.limit:
                print(f"--limit {a.limit}: not recorded", flush=True)
            else:
                write(records[v], out_path(v))
    for v, record in records.items():
        print(v, json.dumps(record["summary"], indent=1))
    print(f"wall time: {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
