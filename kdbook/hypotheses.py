"""Hypotheses and the book's one decision rule (``book/judging.md``, "How we judge a result").

A chapter states its source's hypotheses in plain words near its top, before any result, and
judges them at its end on the numbers of every seed. There are two kinds, and one rule for each,
the same in every chapter and every profile:

* :func:`beats` — *A beats B*. The difference over seeds (paired where the design pairs them: the
  same seed gives A and B the same initialisation and batch order), with its 95 % Student-t
  interval (``scipy.stats``). The verdict is "A better" when the interval lies above 0, "B better"
  when it lies below, else "no difference shown".
* :func:`reproduces` — *we reproduce the source's figure X*. X lies inside the 95 % t-interval of
  our mean, or our mean error rate (errors, or 100 − accuracy) is within 10 % of the source's.
  The verdict is "reproduced" or "not reproduced".

A verdict is a finding, whatever it is: the table says whether it agrees with the source, and the
regression check asks only that a re-run gives the same verdicts. Each judged hypothesis is stored
with its samples in ``results/<chapter>.json``, so a test re-judges it from the file alone::

    H = kb.Hypotheses(
        kb.beats("soft_beats_hard", "Soft targets at T = 20 give the 800-800 student fewer test "
                 "errors than the labels do", a="soft targets", b="hard labels", lower_is_better=True,
                 unit="errors", source="Hinton et al. (2015): 74 against 146 errors"),
        kb.reproduces("teacher", "The 1200-1200 teacher makes 67 test errors", figure=67,
                      measure="errors", total=10_000, source="Hinton et al. (2015)"))
    ...
    H.judge("soft_beats_hard", a=soft_errors, b=hard_errors)   # one number per seed each
    H.judge("teacher", ours=[teacher_errors])
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

A_BETTER, B_BETTER, NO_DIFFERENCE = "A better", "B better", "no difference shown"
REPRODUCED, NOT_REPRODUCED = "reproduced", "not reproduced"
NOT_MEASURED = "not measured here"
LEVEL = 0.95
MEASURES = ("errors", "error_rate", "accuracy")
RELATIVE = 0.10  # our error rate within 10 % of the source's counts as reproduced


@dataclass
class Hypothesis:
    """One hypothesis as declared (``kind``: "beats" or "reproduces"), and once judged, its samples
    and verdict. Build it with :func:`beats` or :func:`reproduces`."""
    id: str
    kind: str
    text: str
    source: str
    args: dict
    judged: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.id, str) or not self.id.replace("_", "").isalnum():
            raise ValueError(f"a hypothesis id is letters, digits and _, got {self.id!r}")
        if not self.text or not self.source:
            raise ValueError(f"hypothesis {self.id!r} needs its statement (text) and its source")

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "text": self.text, "source": self.source,
                "args": self.args, **self.judged}


def beats(id, text, *, a, b, source, lower_is_better=False, paired=True, unit="points", digits=1,
          expect=A_BETTER) -> Hypothesis:
    """A beats B. ``a``, ``b``: what the two are called in a sentence ("soft targets"); ``unit`` of the
    numbers ("errors", "% accuracy"); ``expect``: the verdict the source reports (default A better)."""
    if expect not in (A_BETTER, B_BETTER, NO_DIFFERENCE):
        raise ValueError(f"expect must be {A_BETTER!r}, {B_BETTER!r} or {NO_DIFFERENCE!r}, got {expect!r}")
    return Hypothesis(id, "beats", text, source, {"a": a, "b": b, "lower_is_better": bool(lower_is_better),
                                                  "paired": bool(paired), "unit": unit, "digits": int(digits),
                                                  "expect": expect})


def reproduces(id, text, *, figure, measure, source, total=None, digits=1) -> Hypothesis:
    """Our number reproduces the source's ``figure``. ``measure``: "errors" (of ``total`` test
    cases), "error_rate" (%) or "accuracy" (%)."""
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")
    if measure == "errors" and not total:
        raise ValueError("a figure in errors needs total=, the number of test cases")
    if isinstance(figure, bool) or not isinstance(figure, (int, float)) or not math.isfinite(figure):
        raise ValueError(f"figure must be a number, got {figure!r}")
    return Hypothesis(id, "reproduces", text, source, {"figure": float(figure), "measure": measure,
                                                       "total": total, "digits": int(digits),
                                                       "expect": REPRODUCED})


# ---------------------------------------------------------------------- the rule
def _numbers(values, name) -> list[float]:
    out = [float(v) for v in np.asarray(values, dtype=float).ravel()]
    if not out or not all(math.isfinite(v) for v in out):
        raise ValueError(f"{name} must be one or more finite numbers, got {values!r}")
    return out


def interval(values, level: float = LEVEL) -> tuple[float, float]:
    """The ``level`` Student-t interval of the mean of ``values`` (a point for one value or no spread)."""
    x = np.asarray(values, dtype=float)
    m = float(x.mean())
    if len(x) < 2 or float(x.std(ddof=1)) == 0.0:
        return m, m
    lo, hi = stats.t.interval(level, len(x) - 1, loc=m, scale=stats.sem(x))
    return float(lo), float(hi)


def judge_beats(args: dict, a, b) -> dict:
    """The verdict on A beats B, with the numbers it rests on. The gain is oriented so that > 0
    means A is better (fewer errors when ``lower_is_better``)."""
    a, b = _numbers(a, "a"), _numbers(b, "b")
    sign = -1.0 if args["lower_is_better"] else 1.0
    if args["paired"]:
        if len(a) != len(b):
            raise ValueError(f"a paired comparison needs one A and one B per seed, got {len(a)} and {len(b)}")
        gains = [sign * (x - y) for x, y in zip(a, b)]
        gain, (lo, hi) = float(np.mean(gains)), interval(gains)
    else:
        gain = sign * (float(np.mean(a)) - float(np.mean(b)))
        if len(a) < 2 or len(b) < 2 or (np.std(a) == 0 and np.std(b) == 0):
            lo = hi = gain  # no spread to build an interval from
        else:
            with warnings.catch_warnings():  # near-identical samples: scipy warns, the interval stands
                warnings.simplefilter("ignore", RuntimeWarning)
                ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(LEVEL)
            lo, hi = sorted((sign * float(ci.low), sign * float(ci.high)))
    verdict = A_BETTER if lo > 0 else B_BETTER if hi < 0 else NO_DIFFERENCE
    return {"a_values": a, "b_values": b, "gain": gain, "low": float(lo), "high": float(hi), "verdict": verdict}


def judge_reproduces(args: dict, ours) -> dict:
    """The verdict on our ``ours`` (one number per seed) against the source's figure."""
    ours = _numbers(ours, "ours")
    lo, hi = interval(ours)
    mean, figure = float(np.mean(ours)), args["figure"]
    rate = {"errors": lambda v: 100.0 * v / args["total"], "error_rate": lambda v: v,
            "accuracy": lambda v: 100.0 - v}[args["measure"]]
    inside = lo <= figure <= hi
    close = abs(rate(mean) - rate(figure)) <= RELATIVE * rate(figure)
    verdict = REPRODUCED if inside or close else NOT_REPRODUCED
    return {"values": ours, "mean": mean, "low": lo, "high": hi, "inside": inside, "within_10pct": close,
            "relative": (rate(mean) - rate(figure)) / rate(figure) if rate(figure) else None,
            "verdict": verdict}


def rejudge(stored: dict) -> str:
    """The verdict a stored hypothesis gives when judged again from its own samples."""
    if stored.get("verdict") in (None, NOT_MEASURED):
        return stored.get("verdict")
    if stored["kind"] == "beats":
        return judge_beats(stored["args"], stored["a_values"], stored["b_values"])["verdict"]
    return judge_reproduces(stored["args"], stored["values"])["verdict"]


def agrees(stored: dict) -> bool | None:
    """Whether the finding is what the source reports (None: not measured)."""
    v = stored.get("verdict")
    return None if v in (None, NOT_MEASURED) else v == stored["args"]["expect"]


# ---------------------------------------------------------------------- a chapter's hypotheses
class Hypotheses:
    """A chapter's hypotheses, declared together before the run and judged one by one after it."""

    def __init__(self, *hypotheses: Hypothesis):
        ids = [h.id for h in hypotheses]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate hypothesis ids: {sorted({i for i in ids if ids.count(i) > 1})}")
        if not all(isinstance(h, Hypothesis) for h in hypotheses):
            raise TypeError("Hypotheses takes kb.beats(...) and kb.reproduces(...) objects")
        self.items = {h.id: h for h in hypotheses}

    def __getitem__(self, id) -> Hypothesis:
        if id not in self.items:
            raise KeyError(f"no hypothesis {id!r}; this chapter declares {', '.join(self.items)}")
        return self.items[id]

    def judge(self, id, *, a=None, b=None, ours=None) -> dict:
        """Judge hypothesis ``id``: ``a`` and ``b`` (one number per seed) for beats, ``ours`` for
        reproduces. Returns the stored record."""
        h = self[id]
        h.judged = judge_beats(h.args, a, b) if h.kind == "beats" else judge_reproduces(h.args, ours)
        return h.to_dict()

    def not_measured(self, id, why: str) -> dict:
        """Say visibly that ``id`` could not be judged here (``why``: e.g. the file it needs is absent)."""
        self[id].judged = {"verdict": NOT_MEASURED, "why": why}
        return self[id].to_dict()

    def records(self) -> list[dict]:
        missing = [h.id for h in self.items.values() if not h.judged]
        if missing:
            raise ValueError(f"hypotheses declared but never judged: {', '.join(missing)} "
                             "(judge each, or say why it is not measured with .not_measured(id, why))")
        return [h.to_dict() for h in self.items.values()]


def verdict_words(stored: dict) -> str:
    """The verdict as the prose says it: "soft targets better" rather than "A better"."""
    v = stored.get("verdict")
    if stored["kind"] == "beats" and v in (A_BETTER, B_BETTER):
        return f"{stored['args']['a'] if v == A_BETTER else stored['args']['b']} better"
    return v


def describe(stored: dict) -> str:
    """The numbers of a verdict as a reader says them: "85.3 ± 3.5 errors against 163.3 ± 3.2
    (3 seeds); difference 78.0, 95 % interval [70.1, 85.9]"."""
    if stored.get("verdict") in (None, NOT_MEASURED):
        return stored.get("why", "")
    args, d = stored["args"], stored["args"]["digits"]

    def ms(v):
        return f"{np.mean(v):.{d}f}" + (f" ± {np.std(v, ddof=1):.{d}f}" if len(v) > 1 else "")
    unit = args.get("unit") or args.get("measure", "")
    unit = {"errors": "errors", "error_rate": "% error", "accuracy": "% accuracy"}.get(unit, unit)
    if stored["kind"] == "beats":
        na, nb = len(stored["a_values"]), len(stored["b_values"])
        seeds = f"{na} seed{'s' * (na != 1)}" if na == nb else f"{na} and {nb} seeds"
        return (f"{args['a']}: {ms(stored['a_values'])} {unit}, {args['b']}: {ms(stored['b_values'])} "
                f"({seeds}); {args['a']} {'ahead' if stored['gain'] >= 0 else 'behind'} by "
                f"{abs(stored['gain']):.{d}f}, 95 % interval [{stored['low']:.{d}f}, {stored['high']:.{d}f}]")
    n = len(stored["values"])
    side = "" if stored["verdict"] == REPRODUCED else (
        ", higher" if stored["mean"] > args["figure"] else ", lower")
    return (f"ours {ms(stored['values'])} {unit} ({n} seed{'s' * (n != 1)}{side}), 95 % interval "
            f"[{stored['low']:.{d}f}, {stored['high']:.{d}f}], against the source's {args['figure']:g}")
