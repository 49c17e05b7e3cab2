"""Protocol cards: what a source did, what this chapter does, and why they differ.

A chapter that reproduces a source shows one card at its top. Its columns are built with
:func:`describe` from the very objects the code trains with (budgets, model configs, losses), so
a card cannot drift from the code; the source's own column quotes the source, and marks what it
leaves unsaid as "not stated". :class:`Card` refuses to render while a row differs from the
source's column without a one-line reason::

    published = kd.protocol.describe(data="MNIST, 60k train / 10k test", budget=B_SRC, loss=L_SRC,
                                     seeds="one run", not_stated=("schedule",))
    ours = kd.protocol.describe(data="MNIST, 55k train / 5k validation / 10k test", budget=B, loss=L,
                                seeds="3 seeds")
    kd.protocol.Card({"as published": published, "this chapter": ours},
                     deviations={"seeds": "one run cannot separate a 0.2-point effect from noise"})
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd

from .cost import Plan
from kdhelpers.models.registry import build_model, count_params

NOT_STATED = "not stated"
FIELDS = ("data", "teacher", "teacher training", "teacher during distillation", "student", "optimiser", "learning rate", "schedule", "batch", "epochs",
          "augmentation", "temperature", "weights", "loss", "other", "precision", "seeds", "selection")


def _model_text(cfg) -> str:
    if cfg is None or isinstance(cfg, str):
        return cfg

    arch = dict(cfg).get("arch", "?")
    text = {"mlp": lambda c: "MLP " + "-".join(map(str, c["hidden"]))
            + (f", dropout {c['dropout']:g}" if c.get("dropout") else "")
            + (f" (input {c['input_dropout']:g})" if c.get("input_dropout") else "")}.get(arch, lambda c: arch)(cfg)
    return f"{text} ({count_params(build_model(cfg)):,} parameters)"


def _loss_text(loss) -> dict:
    if loss is None:
        return {"loss": "cross-entropy on the labels", "temperature": "—", "weights": "—"}
    if isinstance(loss, str):
        return {"loss": loss}
    out = {"loss": getattr(loss, "formula", type(loss).__name__)}
    if hasattr(loss, "temperature"):
        out["temperature"] = f"{loss.temperature:g}"
    if hasattr(loss, "alpha"):
        out["weights"] = f"α = {loss.alpha:g} on the soft term, {1 - loss.alpha:g} on the labels"
    return out


def budget_line(budget) -> str:
    """One line for a whole budget (the teacher's, in a card about students)."""
    d = budget.describe()
    parts = [d["optimiser"], f"lr {d['learning rate']}", d["schedule"], f"batch {d['batch']}", f"{d['epochs']} epochs"]
    if d["augmentation"] != "none":
        parts.append(d["augmentation"])
    if d["other"] != "—":
        parts.append(d["other"])
    return ", ".join(parts)


def describe(*, data=None, teacher=None, student=None, budget=None, teacher_budget=None, loss=None, seeds=None,
             selection=None, not_stated=(), **extra) -> dict:
    """The card rows of one protocol. ``teacher``/``student`` are model configs (or text),
    ``budget`` a :class:`kdhelpers.Budget` (the student's, or the only one), ``teacher_budget`` the
    teacher's (one line), ``loss`` a
    :mod:`kdhelpers.losses` module (or text). ``extra`` adds or overrides rows by name (use
    underscores for spaces: ``learning_rate="1e-3 (Keras default)"``); ``not_stated`` marks rows
    the source is silent about."""
    rows: dict = {}
    if data is not None:
        rows["data"] = data
    if teacher is not None:
        rows["teacher"] = _model_text(teacher)
    if teacher_budget is not None:
        rows["teacher training"] = budget_line(teacher_budget)
    if student is not None:
        rows["student"] = _model_text(student)
    if budget is not None:
        d = budget.describe()
        rows.update({"optimiser": d["optimiser"], "learning rate": d["learning rate"], "schedule": d["schedule"],
                     "batch": str(d["batch"]), "epochs": str(d["epochs"]), "augmentation": d["augmentation"],
                     "other": d["other"], "precision": d["precision"]})
    if loss is not None or "loss" not in extra:
        rows.update(_loss_text(loss) if loss is not None else {})
    if seeds is not None:
        rows["seeds"] = str(seeds)
    if selection is not None:
        rows["selection"] = selection
    for key, value in extra.items():
        rows[key.replace("_", " ")] = str(value)
    for key in not_stated:
        if key not in FIELDS:
            raise ValueError(f"unknown card row {key!r}; rows: {FIELDS}")
        rows[key] = NOT_STATED
    unknown = set(rows) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown card rows {sorted(unknown)}; rows: {FIELDS}")
    return rows


class Card:
    """A protocol card: one column per protocol, the source's first. ``deviations`` maps a row
    (or ``"column: row"``) to the reason another column differs from the source there; only the
    reasons of rows that differ are shown (a profile may agree with the source where another does not)."""

    def __init__(self, columns: dict, deviations: dict | None = None, *, title: str = "Protocol card"):
        if len(columns) < 2:
            raise ValueError("a card compares at least two protocols (the source's first)")
        self.columns, self.deviations, self.title = dict(columns), dict(deviations or {}), title
        names = list(self.columns)
        self.rows = [f for f in FIELDS if any(f in c for c in self.columns.values())]
        # a row the source's column lacks is one the source is silent about
        self.columns[names[0]] = first = {r: self.columns[names[0]].get(r, NOT_STATED) for r in self.rows}
        missing, self.differences = [], []
        for name in names[1:]:
            for row in self.rows:
                src, ours = first.get(row, "—"), self.columns[name].get(row, "—")
                if src == ours or src == NOT_STATED:
                    continue
                reason = self.deviations.get(f"{name}: {row}", self.deviations.get(row))
                if reason is None:
                    missing.append(f"{name}: {row} ({src!r} → {ours!r})")
                else:
                    self.differences.append((name, row, reason))
        if missing:
            raise ValueError("every deviation from the source needs its reason; missing for " + "; ".join(missing))

    @classmethod
    def versus(cls, source: str, published: dict, ours: dict, run, *, ours_label: str = "this chapter",
               deviations: dict | None = None, title: str = "Protocol card") -> "Card":
        """The usual card: ``source``'s protocol as published beside ours in the run's profile."""
        return cls({f"{source}, as published": published, f"{ours_label} ({run.profile} profile)": ours}, deviations,
                   title=title)

    def table(self):
        return pd.DataFrame({name: [col.get(r, "—") for r in self.rows] for name, col in self.columns.items()},
                            index=self.rows)

    def _repr_html_(self) -> str:
        t = self.table()
        head = "".join(f"<th>{html.escape(c)}</th>" for c in ["", *t.columns])
        body = "".join("<tr><th>" + html.escape(r) + "</th>" + "".join(
            f"<td>{html.escape(str(v))}</td>" for v in t.loc[r]) + "</tr>" for r in t.index)
        devs = "".join(f"<li><b>{html.escape(row)}</b> ({html.escape(name)}): {html.escape(reason)}</li>"
                       for name, row, reason in self.differences)
        devs = f"<p>Deviations from the source, and why:</p><ul>{devs}</ul>" if devs else \
            "<p>No deviations from the source.</p>"
        return (f"<p><b>{html.escape(self.title)}</b></p><table class='kd-protocol-card'><thead><tr>{head}"
                f"</tr></thead><tbody>{body}</tbody></table>{devs}")

    def __repr__(self) -> str:
        lines = [self.title, self.table().to_string()]
        lines += [f"- {row} ({name}): {reason}" for name, row, reason in self.differences]
        return "\n".join(lines)


# --------------------------------------------------------------------------- a chapter's protocol, declared once
PROFILE_KEYS = {"smoke", "cpu", "full"}


def per_profile(value, run):
    """``value`` itself, or its entry for the run's profile when it is ``{"smoke": …, "cpu": …, "full": …}``."""
    return run.pick(**value) if isinstance(value, dict) and set(value) == PROFILE_KEYS else value


@dataclass(frozen=True)
class Protocol:
    """A chapter's protocol as one record, as torchdistill and mdistiller declare theirs: the data,
    the networks by role (``"teacher"``, ``"student"``, …: model configs), their budgets by role, the
    distillation loss and the number of seeds; any of them per profile (``{"smoke": …, "cpu": …,
    "full": …}``). The chapter's helpers train from it (:meth:`model`, :meth:`budget`: the configs
    and budgets that key the model cache), its card's column comes from it (:meth:`column`), and its
    cost plan (:meth:`plan`)."""
    data: object
    models: dict
    budgets: dict
    loss: object = None
    seeds: object = field(default_factory=lambda: {"smoke": 2, "cpu": 3, "full": 3})
    input_shape: tuple | None = None

    def model(self, role: str, run, **changes) -> dict:
        """The config of ``role`` in the run's profile, with ``changes`` (e.g. another width)."""
        if role not in self.models:
            raise ValueError(f"no network {role!r} in this protocol; roles: {sorted(self.models)}")
        return {**per_profile(self.models[role], run), **changes}

    def budget(self, role: str, run):
        if role not in self.budgets:
            raise ValueError(f"no budget {role!r} in this protocol; roles: {sorted(self.budgets)}")
        return per_profile(self.budgets[role], run)

    def seed_list(self, run, first: int | None = None) -> list[int]:
        """The seeds of a comparison: ``first`` (default the run's seed) and the next ones."""
        first = run.seed if first is None else first
        return list(range(first, first + per_profile(self.seeds, run)))

    def column(self, run, *, teacher: str | None = "teacher", student: str = "student", loss=None, **extra) -> dict:
        """The card column of this protocol in the run's profile (:func:`describe`); ``extra``
        adds or overrides rows."""
        n = per_profile(self.seeds, run)
        rows = dict(data=per_profile(self.data, run), student=self.model(student, run),
                    budget=self.budget(student, run), loss=loss if loss is not None else per_profile(self.loss, run),
                    seeds=f"{n} seeds" if n > 1 else "one run")
        if teacher is not None:
            rows.update(teacher=self.model(teacher, run), teacher_budget=self.budget(teacher, run))
        return describe(**{**rows, **extra})

    def plan(self, run, jobs, *, samples: int):
        """The chapter's :class:`kdbook.cost.Plan`: ``jobs`` are ``(what, role, count)`` or
        ``(what, role, count, teacher_role)`` trainings of ``samples`` examples each."""
        plan = Plan(run)
        for what, role, count, *teacher in jobs:
            plan.add(what, self.model(role, run), self.budget(role, run), samples=samples,
                     input_shape=self.input_shape, count=count,
                     teacher=self.model(teacher[0], run) if teacher else None)
        return plan
