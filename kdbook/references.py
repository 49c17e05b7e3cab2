"""A source's reference number, typed once in its chapter module (``REFERENCES``) and cited from there.

A chapter module (``kdhelpers.chapters.<name>``) declares, right after its imports:

- ``REFERENCES``: ``{name: Ref}``, the published numbers it is compared with, each with its source and
  any qualifier ("bias chosen on test"); its claims cite them in their ``against`` text;
- ``HEADLINES``: the rows of the book's results overview, ``(experiment, reference text, metric key, unit)``,
  the reference text built from ``REFERENCES`` (``book/_ext/results_overview.py`` collects them);
- ``METRIC_KEYS``: the metric keys the chapter must record (``tests/test_notebooks.py`` checks them).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Ref:
    """A published number, its ``source`` and a qualifier (``note``). ``value``: a number (printed as
    Python prints it: 63.0, 97.2), or its text as printed (``"77.60"``), or a phrase (``"roughly
    unchanged"``); ``unit`` ``"%"`` is printed after the number, ``approx`` puts a ≈ before it."""
    value: float | int | str
    source: str
    note: str = ""
    unit: str = ""
    approx: bool = False

    @property
    def number(self) -> str:
        """The number as printed, with its ≈ and its %: ``"≈ 75 %"``."""
        text = str(self.value)
        return ("≈ " if self.approx else "") + text + (" %" if self.unit == "%" else "")

    def cite(self, *notes: str) -> str:
        """``"14 (Hinton et al. 2015, bias chosen on test)"``; ``notes`` are added after the source,
        before the reference's own qualifier."""
        return f"{self.number} ({', '.join([self.source, *notes, *filter(None, [self.note])])})"

    def __str__(self) -> str:
        return self.cite()
