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

Usage::

    pip install -e .[keras]
    KD_DATA_DIR=../shared/data python benchmarks/keras_reference.py --seeds 0 1 2
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

OUT = Path(__file__).resolve().parent / "results" / "keras_reference.json"
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


def teacher_model(seed: int, root: Path, cache: Path):
    """The teacher trained 5 epochs as the slides do, or loaded from ``cache`` (a Keras weights file)."""
    import keras

    _, make_teacher, _ = networks()
    x_train, y_train, x_test, y_test = data(root)
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
    return teacher, {"seed": seed, "acc": 100 * float(teacher_acc), "seconds": seconds}


def students(seed: int, teacher, root: Path) -> dict:
    """One student seed: the slides' distillation, and a clone trained from scratch (keras.io's)."""
    import keras

    Distiller, _, make_student = networks()
    x_train, y_train, x_test, y_test = data(root)
    keras.utils.set_random_seed(seed)
    student = make_student()
    # Clone student for later comparison (the keras.io example's scratch student)
    student_scratch = keras.models.clone_model(student)

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

    # Distill teacher to student
    t0 = time.perf_counter()
    distiller.fit(x_train, y_train, epochs=3, verbose=2)
    distill_s = time.perf_counter() - t0

    # Evaluate student on test dataset
    distilled_acc = distiller.evaluate(x_test, y_test, verbose=0, return_dict=True)["sparse_categorical_accuracy"]

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
            "seconds": {"distill": round(distill_s, 1), "scratch": round(scratch_s, 1)}}


def write(record: dict) -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=OUT.parent, prefix=f".{OUT.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    os.replace(tmp, OUT)


def summarise(runs: list[dict]) -> dict:
    out = {}
    for key in ("student_scratch_acc", "student_kd_acc"):
        v = np.array([r[key] for r in runs], dtype=float)
        out[key] = float(v.mean())
        out[f"{key}_std"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    out["n_seeds"] = len(runs)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="student seeds")
    p.add_argument("--teacher-seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (one per job on a 2-core machine)")
    a = p.parse_args(argv)
    import keras
    import torch

    if keras.backend.backend() != "torch":
        raise SystemExit(f"run with KERAS_BACKEND=torch (got {keras.backend.backend()!r})")
    torch.set_num_threads(a.threads)
    root = Path(os.environ.get("KD_DATA_DIR", "data")).expanduser().resolve()
    cache = Path(os.environ.get("KD_CACHE_DIR", Path.home() / ".cache" / "kdhelpers")).expanduser()
    _, t_info = teacher_model(a.teacher_seed, root, cache)
    print(f"teacher: {t_info}", flush=True)
    record = json.loads(OUT.read_text()) if OUT.exists() else {}
    same_teacher = record.get("teacher", {}).get("seed") == a.teacher_seed
    runs = [r for r in record.get("runs", []) if same_teacher and r["seed"] not in a.seeds]
    for seed in a.seeds:
        # a fresh copy of the trained teacher for every seed: the Distiller's fit trains the teacher too
        # (Keras 3: its weights are among the Distiller's trainable weights), so a reused one is not the same
        teacher, _ = teacher_model(a.teacher_seed, root, cache)
        runs.append(students(seed, teacher, root))
        runs.sort(key=lambda r: r["seed"])
        print(f"student seed {seed}: {next(r for r in runs if r['seed'] == seed)}", flush=True)
        record = {
            "what": "the slides' Keras Distiller example run as its own code (benchmarks/keras_reference.py): "
                    "teacher 5 epochs, student distilled 3 epochs at alpha=0.1 (Keras's alpha weights the hard "
                    "term), temperature=10, Adam defaults, batch 32 (the Keras 3 Distiller steps the teacher "
                    "too); a clone of the student trained 3 epochs from scratch; one trained teacher, a fresh "
                    "copy for every student seed. Test accuracy in %.",
            "keras": keras.__version__, "backend": keras.backend.backend(), "torch": torch.__version__,
            "precision": "float32", "threads": a.threads, "cpu": platform.processor() or platform.machine(),
            "teacher": t_info, "summary": {"teacher_acc": t_info["acc"], **summarise(runs)}, "runs": runs,
        }
        write(record)
    print(json.dumps(record["summary"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
