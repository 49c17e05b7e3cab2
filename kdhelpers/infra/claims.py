"""Claims: the statements a chapter's prose makes about its numbers, declared once and checked
everywhere (in the notebook, in ``make test`` against the committed results, in ``make reproduce``'s
regression report and on the results overview page).

A claim is data, not code: a kind from a small vocabulary, the metric keys it compares and its
thresholds, per profile or for every profile. It is stored with its outcome in
``results/<chapter>.json``, so tests re-evaluate it from the file alone::

    kd.claims.at_most("teacher_errors", "teacher_test_errors", {"cpu": 85, "full": 70},
                      "the teacher makes at most 85 test errors (cpu) / 70 (full)",
                      against="the paper's 67 errors")
    kd.claims.better("kd_beats_hard", "student_distilled_test_errors", "student_hard_test_errors",
                     "the distilled 800-800 beats the hard-label 800-800 by more than 2 seeds' std",
                     against="our hard-label students", k=2, lower_is_better=True)

Thresholds (``bound``, ``lo``/``hi``, ``k``, ``tol``) are either one value, which holds in every
profile, or a dict ``{"cpu": …, "full": …}``; a profile without a value is not checked (the smoke
profile, by default). ``negative=True`` marks a documented negative result: the chapter reports
that the claim does **not** hold (e.g. a source's claim we could not reproduce), so the regression
tests expect it to fail and flag it if it starts to hold.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from numbers import Real

KINDS = ("at_most", "at_least", "between", "better", "close")
HOLDS, FAILS, UNCHECKED = "holds", "does not hold", "not checked"


@dataclass(frozen=True)
class Claim:
    """One checkable statement. Build it with :func:`at_most`, :func:`at_least`, :func:`between`,
    :func:`better` or :func:`close` rather than directly."""
    id: str
    kind: str
    args: dict
    text: str
    against: str
    negative: bool = False
    fmt: str = ".4g"

    def __post_init__(self):
        if not isinstance(self.id, str) or not self.id.replace("_", "").isalnum():
            raise ValueError(f"claim id must be letters, digits and _, got {self.id!r}")
        if self.kind not in KINDS:
            raise ValueError(f"unknown claim kind {self.kind!r}; known: {KINDS}")
        if not self.text or not self.against:
            raise ValueError(f"claim {self.id!r} needs its statement (text) and what it is measured against")

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, metrics: dict, profile: str) -> "Outcome":
        """The outcome of this claim on ``metrics`` of a run in ``profile``."""
        return _EVAL[self.kind](self, metrics, profile)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Claim":
        return cls(**{k: d[k] for k in ("id", "kind", "args", "text", "against", "negative", "fmt") if k in d})


@dataclass(frozen=True)
class Outcome:
    """``holds`` is True, False, or None (not checked in this profile)."""
    holds: bool | None
    numbers: dict = field(default_factory=dict)
    detail: str = ""

    @property
    def verdict(self) -> str:
        return UNCHECKED if self.holds is None else HOLDS if self.holds else FAILS


# ---------------------------------------------------------------------- constructors
def _threshold(value, name):
    """A number, or {profile: number}; checked here so a typo fails at declaration time."""
    items = value.items() if isinstance(value, dict) else [("every", value)]
    for prof, v in items:
        if prof not in ("every", "smoke", "cpu", "full"):
            raise ValueError(f"{name}: unknown profile {prof!r} (use smoke, cpu, full)")
        if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(v):
            raise ValueError(f"{name} must be a finite number, got {v!r}")
    return dict(value) if isinstance(value, dict) else value


def _metric(key, name):
    if not isinstance(key, str) or not key:
        raise ValueError(f"{name} must be a metric key (a string), got {key!r}")
    return key


def at_most(id, metric, bound, text, *, against, negative=False, fmt=".4g") -> Claim:
    """metric ≤ bound."""
    return Claim(id, "at_most", {"metric": _metric(metric, "metric"), "bound": _threshold(bound, "bound")},
                 text, against, negative, fmt)


def at_least(id, metric, bound, text, *, against, negative=False, fmt=".4g") -> Claim:
    """metric ≥ bound."""
    return Claim(id, "at_least", {"metric": _metric(metric, "metric"), "bound": _threshold(bound, "bound")},
                 text, against, negative, fmt)


def between(id, metric, lo, hi, text, *, against, negative=False, fmt=".4g") -> Claim:
    """lo ≤ metric ≤ hi."""
    return Claim(id, "between", {"metric": _metric(metric, "metric"), "lo": _threshold(lo, "lo"),
                                 "hi": _threshold(hi, "hi")}, text, against, negative, fmt)


def better(id, a, b, text, *, against, k=0.0, lower_is_better=False, negative=False,
           profiles=("cpu", "full"), fmt=".4g") -> Claim:
    """Metric ``a`` beats metric ``b`` by more than ``k`` × the larger of their seed stds
    (``<key>_std`` metrics, 0 where absent). ``b`` may be a number (a paper's figure).
    ``profiles`` lists where it is checked when ``k`` is one number."""
    k = _threshold(k, "k") if isinstance(k, dict) else {p: k for p in profiles}
    _threshold(k, "k")
    if not isinstance(b, (str, Real)) or isinstance(b, bool):
        raise ValueError(f"b must be a metric key or a number, got {b!r}")
    return Claim(id, "better", {"a": _metric(a, "a"), "b": b, "k": k, "lower_is_better": bool(lower_is_better)},
                 text, against, negative, fmt)


def close(id, a, b, text, *, against, k=1.0, tol=0.0, negative=False, profiles=("cpu", "full"),
          fmt=".4g") -> Claim:
    """|a − b| ≤ max(tol, k × the larger of their seed stds): the two agree within noise."""
    k = _threshold(k, "k") if isinstance(k, dict) else {p: k for p in profiles}
    _threshold(k, "k")
    return Claim(id, "close", {"a": _metric(a, "a"), "b": b, "k": k, "tol": float(tol)},
                 text, against, negative, fmt)


# ---------------------------------------------------------------------- evaluation
def _for_profile(value, profile):
    if isinstance(value, dict):
        return value.get(profile, value.get("every"))
    return value


def _get(metrics, key, claim):
    if isinstance(key, Real) and not isinstance(key, bool):
        return float(key)
    if key not in metrics:
        raise KeyError(f"claim {claim.id!r} needs metric {key!r}, which the run did not record")
    return float(metrics[key])


def _std(metrics, key):
    return float(metrics.get(f"{key}_std", 0.0)) if isinstance(key, str) else 0.0


def _f(x, fmt):
    return format(x, fmt)


def _eval_bound(claim, metrics, profile, op):
    a = claim.args
    bound = _for_profile(a["bound"], profile)
    if bound is None:
        return Outcome(None)
    v = _get(metrics, a["metric"], claim)
    holds = v <= bound if op == "≤" else v >= bound
    sign = op if holds else {"≤": ">", "≥": "<"}[op]
    return Outcome(holds, {a["metric"]: v, "bound": bound},
                   f"{a['metric']} = {_f(v, claim.fmt)} {sign} {_f(bound, claim.fmt)}")


def _eval_between(claim, metrics, profile):
    a = claim.args
    lo, hi = _for_profile(a["lo"], profile), _for_profile(a["hi"], profile)
    if lo is None or hi is None:
        return Outcome(None)
    v = _get(metrics, a["metric"], claim)
    holds = lo <= v <= hi
    where = "in" if holds else "outside"
    return Outcome(holds, {a["metric"]: v, "lo": lo, "hi": hi},
                   f"{a['metric']} = {_f(v, claim.fmt)} {where} [{_f(lo, claim.fmt)}, {_f(hi, claim.fmt)}]")


def _pair(claim, metrics, profile):
    """None where the claim is not checked in ``profile``; else its k, both values with their
    stds, their text and the numbers to store."""
    a = claim.args
    k = _for_profile(a["k"], profile)
    if k is None:
        return None
    va, vb = _get(metrics, a["a"], claim), _get(metrics, a["b"], claim)
    sa, sb = _std(metrics, a["a"]), _std(metrics, a["b"])
    fa = _f(va, claim.fmt) + (f" ± {_f(sa, claim.fmt)}" if sa else "")
    fb = _f(vb, claim.fmt) + (f" ± {_f(sb, claim.fmt)}" if sb else "")
    name_b = a["b"] if isinstance(a["b"], str) else "reference"
    numbers = {a["a"]: va, name_b: vb}
    if sa:
        numbers[f"{a['a']}_std"] = sa
    if sb:
        numbers[f"{name_b}_std"] = sb
    return k, va, vb, max(sa, sb), fa, fb, numbers


def _eval_better(claim, metrics, profile):
    a, pair = claim.args, _pair(claim, metrics, profile)
    if pair is None:
        return Outcome(None)
    k, va, vb, sd, fa, fb, numbers = pair
    gain = (vb - va) if a["lower_is_better"] else (va - vb)
    margin = k * sd
    holds = gain > margin
    need = f"{_f(k, 'g')} × {_f(sd, claim.fmt)} = {_f(margin, claim.fmt)}" if k else "0"
    return Outcome(holds, {**numbers, "gain": gain, "margin": margin},
                   f"{a['a']} = {fa} vs {a['b']} = {fb}: gain {_f(gain, claim.fmt)} "
                   f"{'>' if holds else '≤'} {need}")


def _eval_close(claim, metrics, profile):
    a, pair = claim.args, _pair(claim, metrics, profile)
    if pair is None:
        return Outcome(None)
    k, va, vb, sd, fa, fb, numbers = pair
    diff, allowed = abs(va - vb), max(a["tol"], k * sd)
    holds = diff <= allowed
    return Outcome(holds, {**numbers, "difference": diff, "allowed": allowed},
                   f"{a['a']} = {fa} vs {a['b']} = {fb}: |difference| {_f(diff, claim.fmt)} "
                   f"{'≤' if holds else '>'} {_f(allowed, claim.fmt)}")


_EVAL = {"at_most": lambda c, m, p: _eval_bound(c, m, p, "≤"),
         "at_least": lambda c, m, p: _eval_bound(c, m, p, "≥"),
         "between": _eval_between, "better": _eval_better, "close": _eval_close}


# ---------------------------------------------------------------------- checking stored results
def evaluate_all(claims, metrics: dict, profile: str) -> list[dict]:
    """Every claim with its outcome, as stored in ``results/<chapter>.json``."""
    ids = [c.id for c in claims]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise ValueError(f"duplicate claim ids: {sorted(dupes)}")
    out = []
    for c in claims:
        if not isinstance(c, Claim):
            raise TypeError(f"claims must be kd.claims.Claim objects, got {type(c).__name__}")
        o = c.evaluate(metrics, profile)
        out.append({**c.to_dict(), "holds": o.holds, "verdict": o.verdict, "numbers": o.numbers,
                    "detail": o.detail})
    return out


def expected(stored: dict) -> bool:
    """What a sound run gives: True for a claim, False for a documented negative result."""
    return not stored.get("negative", False)


def failures(payload: dict, chapter: str | None = None) -> list[str]:
    """Re-evaluate every claim stored in a results payload from its own metrics; one message per
    claim whose outcome is not the expected one (a claim that fails, or a documented negative
    result that now holds), naming the chapter, the claim and the numbers compared."""
    chapter = chapter or payload.get("notebook", "?")
    metrics, profile, out = payload.get("metrics", {}), payload.get("profile", "?"), []
    for stored in payload.get("claims", []):
        claim = Claim.from_dict(stored)
        try:
            o = claim.evaluate(metrics, profile)
        except KeyError as err:
            out.append(f"{chapter}: claim {claim.id!r}: {err.args[0]}")
            continue
        if o.holds is None:
            continue
        if o.holds != expected(stored):
            what = ("does not hold" if expected(stored) else
                    "holds, but the chapter documents it as a negative result")
            out.append(f"{chapter}: claim {claim.id!r} ({claim.text}) {what}: {o.detail} "
                       f"[{claim.kind}, profile {profile}, against {claim.against}]")
    return out
