"""The one decision rule (kdbook.hypotheses), and every committed results file judged by it."""
import json
import re

import numpy as np
import pytest
from scipy import stats

import kdbook as kb
from kdbook import hypotheses as Hy
from kdbook.render import verdicts_html
from kdbook.results import glue_values

from conftest import ROOT

RESULTS = sorted((ROOT / "results").glob("*.json"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
GLUE = re.compile(r"\{glue:text\}`([^`:]+)(?::[^`]*)?`")


# ---------------------------------------------------------------------- A beats B
def _beats(**kw):
    return kb.beats("x", "A has fewer errors than B", a="A", b="B", source="a paper", lower_is_better=True, **kw)


def test_paired_interval_is_scipys_t_interval_of_the_per_seed_differences():
    a, b = [85, 88, 83], [163, 160, 167]
    d = [y - x for x, y in zip(a, b)]  # fewer errors is better: the gain is b − a
    lo, hi = stats.t.interval(0.95, 2, loc=np.mean(d), scale=stats.sem(d))
    out = Hy.judge_beats(_beats().args, a, b)
    assert out["verdict"] == Hy.A_BETTER and out["gain"] == pytest.approx(np.mean(d))
    assert (out["low"], out["high"]) == pytest.approx((lo, hi))


@pytest.mark.parametrize("a, b, verdict", [
    ([10, 11, 12], [20, 21, 22], Hy.A_BETTER),
    ([20, 21, 22], [10, 11, 12], Hy.B_BETTER),
    ([10, 14, 12], [12, 11, 13], Hy.NO_DIFFERENCE),
    ([10, 10, 10], [10, 10, 10], Hy.NO_DIFFERENCE),  # no spread and no gain: nothing shown
])
def test_the_three_verdicts(a, b, verdict):
    assert Hy.judge_beats(_beats().args, a, b)["verdict"] == verdict


def test_higher_is_better_flips_the_sign_and_unpaired_uses_welch():
    h = kb.beats("acc", "A is more accurate", a="A", b="B", source="s")
    assert Hy.judge_beats(h.args, [90, 91, 92], [80, 81, 83])["verdict"] == Hy.A_BETTER
    u = kb.beats("acc", "A is more accurate", a="A", b="B", source="s", paired=False)
    out = Hy.judge_beats(u.args, [90, 91, 92, 90], [80, 81, 83])
    ci = stats.ttest_ind([90, 91, 92, 90], [80, 81, 83], equal_var=False).confidence_interval(0.95)
    assert (out["low"], out["high"]) == pytest.approx((ci.low, ci.high))


def test_a_paired_comparison_needs_one_pair_per_seed():
    with pytest.raises(ValueError, match="one A and one B per seed"):
        Hy.judge_beats(_beats().args, [1, 2, 3], [1, 2])


# ---------------------------------------------------------------------- reproducing a figure
def _rep(figure, measure="errors", total=10_000):
    return kb.reproduces("r", "we get the paper's figure", figure=figure, measure=measure, total=total, source="p")


def test_reproduced_inside_the_interval_or_within_ten_percent_of_the_error_rate():
    assert Hy.judge_reproduces(_rep(74).args, [70, 78, 75])["verdict"] == Hy.REPRODUCED  # inside
    assert Hy.judge_reproduces(_rep(74).args, [80, 80, 81])["verdict"] == Hy.REPRODUCED  # 8 % off, outside
    out = Hy.judge_reproduces(_rep(146).args, [160, 163, 167])
    assert out["verdict"] == Hy.NOT_REPRODUCED and not out["inside"] and out["relative"] > 0.1
    # the example: 98.23 ± 0.16 % against 98.0 % differs by 11 % in error rate, yet 98.0 is
    # inside the interval of [98.05, 98.23, 98.41]: reproduced
    assert Hy.judge_reproduces(_rep(98.0, "accuracy").args, [98.05, 98.23, 98.41])["verdict"] == Hy.REPRODUCED


def test_bad_declarations_fail_at_once():
    with pytest.raises(ValueError, match="measure"):
        kb.reproduces("r", "t", figure=1, measure="loss", source="s")
    with pytest.raises(ValueError, match="total"):
        kb.reproduces("r", "t", figure=1, measure="errors", source="s")
    with pytest.raises(ValueError, match="expect"):
        kb.beats("b", "t", a="A", b="B", source="s", expect="holds")
    with pytest.raises(ValueError, match="duplicate"):
        kb.Hypotheses(_rep(1), _rep(2))


def test_every_declared_hypothesis_must_be_judged_or_said_not_measured():
    H = kb.Hypotheses(_rep(74), _beats())
    H.judge("r", ours=[74, 75, 76])
    with pytest.raises(ValueError, match="never judged: x"):
        H.records()
    H.not_measured("x", "needs a file this copy does not have")
    [rep, missing] = H.records()
    assert missing["verdict"] == Hy.NOT_MEASURED and "file" in Hy.describe(missing)
    assert Hy.agrees(rep) is True and Hy.agrees(missing) is None


def test_the_table_is_html_with_coloured_marks_and_words():
    H = kb.Hypotheses(_rep(74), _beats())
    H.judge("r", ours=[90, 91, 92])
    H.judge("x", a=[85, 88, 83], b=[163, 160, 167])
    out = verdicts_html(H.records())
    assert "<table" in out and "|---|" not in out
    assert "unlike the source" in out and "as the source says" in out  # colour is never the only signal
    assert "A better" in out and "not reproduced" in out and "95 % interval" in out


# ---------------------------------------------------------------------- committed results
@pytest.mark.parametrize("path", RESULTS, ids=lambda p: p.stem)
def test_committed_results_state_their_hypotheses_and_each_verdict_is_what_its_samples_give(path):
    payload = json.loads(path.read_text())
    assert not payload.get("dry_run"), f"{path.name} was written by a dry run"
    assert payload.get("hypotheses"), f"{path.name} states no hypotheses: re-run the chapter"
    for h in payload["hypotheses"]:
        assert Hy.rejudge(h) == h["verdict"], f"{path.stem}: {h['id']} stored as {h['verdict']!r}"
        n = len(h.get("values") or h.get("a_values") or [0, 0, 0])
        assert h["verdict"] == Hy.NOT_MEASURED or n >= 1


def test_an_edited_sample_changes_the_verdict_the_check_computes():
    payload = json.loads(RESULTS[0].read_text())
    [h] = [h for h in payload["hypotheses"] if h["verdict"] != Hy.NOT_MEASURED][:1]
    if h["kind"] == "beats":
        h["a_values"], h["b_values"] = h["b_values"], h["a_values"]  # swap A and B
        assert Hy.rejudge(h) != h["verdict"] or h["verdict"] == Hy.NO_DIFFERENCE
    else:
        h["values"] = [v * 3 + 100 for v in h["values"]]
        assert Hy.rejudge(h) == Hy.NOT_REPRODUCED


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_glue_key_is_recorded_and_the_result_box_states_a_verdict(nb):
    """The prose glues only what the run recorded; the box at the top states at least one verdict
    (the verdict table under the run shows all of them)."""
    import nbformat

    payload = json.loads((ROOT / "results" / f"{nb.stem}.json").read_text())
    cells = nbformat.read(nb, as_version=4).cells
    glued = {k for c in cells if c.cell_type == "markdown" for k in GLUE.findall(c.source)}
    values = glue_values(payload)
    assert glued <= values.keys(), f"glued but not recorded: {sorted(glued - values.keys())}"
    box = next((c.source for c in cells[:3] if c.cell_type == "markdown" and "{admonition}" in c.source), "")
    assert any(f"hyp_{h['id']}" in box for h in payload["hypotheses"]), f"{nb.stem}: no verdict in the result box"
