"""The verdict table and the result box as HTML: myst-nb renders an HTML output as it is (its
Markdown outputs are CommonMark, which has no tables), and so do Colab and Jupyter."""
from __future__ import annotations

from html import escape

from .hypotheses import agrees, describe, verdict_words

# The published book; links in outputs must work in Colab too, so they are absolute.
BOOK_URL = "https://kd-book.github.io/kd-book"
RULE_URL = f"{BOOK_URL}/book/judging.html"

_MARKS = {True: ("✓", "#1a7f37", "as the source says"),
          False: ("✗", "#b35900", "unlike the source"),
          None: ("–", "#6e7781", "not measured here")}


def mark(stored: dict) -> str:
    """A coloured mark with its meaning in words (colour is never the only signal)."""
    sign, colour, words = _MARKS[agrees(stored)]
    return (f'<span style="color:{colour};font-weight:bold" title="{words}">{sign}</span> '
            f'<span style="color:{colour}">{words}</span>')


def verdicts_html(judged: list[dict]) -> str:
    """One row per hypothesis: mark, the hypothesis in words with its source, our verdict and the
    numbers it rests on."""
    rows = []
    for h in judged:
        verdict = verdict_words(h)
        rows.append(
            "<tr>"
            f'<td style="white-space:nowrap;text-align:left">{mark(h)}</td>'
            f'<td style="text-align:left">{escape(h["text"])}<br><small>{escape(h["source"])}</small></td>'
            f'<td style="text-align:left"><b>{escape(verdict)}</b></td>'
            f'<td style="text-align:left">{escape(describe(h))}</td>'
            "</tr>")
    head = ('<tr><th></th><th style="text-align:left">hypothesis (source)</th>'
            '<th style="text-align:left">our verdict</th><th style="text-align:left">the numbers</th></tr>')
    return (f'<p><b>Verdicts of this run</b>, judged by <a href="{RULE_URL}">one rule, stated in advance</a>.</p>'
            f'<table class="kd-verdicts">{head}{"".join(rows)}</table>')
