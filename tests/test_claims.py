"""Claims: the vocabulary, and the committed results checked against their own claims."""
import copy
import json
import re

import pytest

from kdhelpers.infra import claims as C
from kdhelpers.infra.results import glue_values

from conftest import ROOT

RESULTS = sorted((ROOT / "results").glob("*.json"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
GLUE = re.compile(r"\{glue:text\}`([^`:]+)(?::[^`]*)?`")


# ---------------------------------------------------------------------- the vocabulary
def test_bounds_per_profile_and_unchecked_elsewhere():
    c = C.at_most("teacher", "errors", {"cpu": 85, "full": 70}, "teacher ≤ 85 / 70", against="paper: 67")
    assert c.evaluate({"errors": 80}, "cpu").holds is True
    assert c.evaluate({"errors": 80}, "full").holds is False
    assert c.evaluate({"errors": 80}, "smoke").holds is None
    o = c.evaluate({"errors": 90}, "cpu")
    assert o.holds is False and o.detail == "errors = 90 > 85" and o.numbers == {"errors": 90, "bound": 85}
    every = C.at_least("acc", "acc", 90, "acc ≥ 90 everywhere", against="x")
    assert every.evaluate({"acc": 95}, "smoke").holds is True


def test_between_and_close():
    b = C.between("t", "T_opt", 2, 5, "T_opt in [2, 5]", against="tutorial")
    assert b.evaluate({"T_opt": 2}, "cpu").holds and not b.evaluate({"T_opt": 1}, "cpu").holds
    assert "outside [2, 5]" in b.evaluate({"T_opt": 1}, "cpu").detail
    c = C.close("c", "a", "b", "a and b agree", against="b", k=1)
    assert c.evaluate({"a": 1.0, "a_std": 0.5, "b": 1.4}, "cpu").holds
    assert not c.evaluate({"a": 1.0, "a_std": 0.1, "b": 1.4}, "cpu").holds
    assert c.evaluate({"a": 1.0, "b": 9.0}, "smoke").holds is None


def test_better_uses_the_larger_std_and_the_direction():
    c = C.better("kd", "kd_err", "hard_err", "kd beats hard by > 2 std", against="hard labels", k=2,
                 lower_is_better=True)
    m = {"kd_err": 92.0, "kd_err_std": 5.3, "hard_err": 161.0, "hard_err_std": 5.6}
    o = c.evaluate(m, "cpu")
    assert o.holds and o.numbers["gain"] == pytest.approx(69.0) and o.numbers["margin"] == pytest.approx(11.2)
    assert "gain 69 > 2 × 5.6 = 11.2" in o.detail
    assert not c.evaluate({**m, "kd_err": 152.0}, "cpu").holds  # gain 9 < 11.2
    paper = C.better("p", "acc", 97.5, "beats the paper's 97.5", against="paper")
    assert paper.evaluate({"acc": 97.6}, "cpu").holds and not paper.evaluate({"acc": 97.5}, "cpu").holds


def test_claims_round_trip_through_json():
    c = C.better("kd", "a", "b", "a beats b", against="b", k={"cpu": 2, "full": 1}, negative=True)
    assert C.Claim.from_dict(json.loads(json.dumps(c.to_dict()))) == c


@pytest.mark.parametrize("make, match", [
    (lambda: C.at_most("bad id!", "m", 1, "t", against="a"), "claim id"),
    (lambda: C.at_most("x", "m", {"laptop": 1}, "t", against="a"), "unknown profile"),
    (lambda: C.at_most("x", "m", float("nan"), "t", against="a"), "finite"),
    (lambda: C.at_most("x", "m", 1, "", against="a"), "statement"),
    (lambda: C.better("x", "m", None, "t", against="a"), "metric key or a number"),
])
def test_bad_claims_fail_at_declaration(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_missing_metric_and_duplicate_ids_are_errors():
    c = C.at_most("x", "m", 1, "t", against="a")
    with pytest.raises(KeyError, match="needs metric 'm'"):
        c.evaluate({}, "cpu")
    with pytest.raises(ValueError, match="duplicate"):
        C.evaluate_all([c, c], {"m": 0}, "cpu")


def test_negative_results_are_expected_to_fail():
    c = C.at_least("x", "m", 5, "m ≥ 5 (the source's claim)", against="source", negative=True)
    payload = {"notebook": "ch", "profile": "cpu", "metrics": {"m": 1},
               "claims": C.evaluate_all([c], {"m": 1}, "cpu")}
    assert C.failures(payload) == []
    payload["metrics"]["m"] = 7
    [msg] = C.failures(payload)
    assert "holds, but the chapter documents it as a negative result" in msg


# ---------------------------------------------------------------------- committed results
@pytest.mark.parametrize("path", RESULTS, ids=lambda p: p.stem)
def test_committed_results_satisfy_their_own_claims(path):
    payload = json.loads(path.read_text())
    assert not payload.get("dry_run"), f"{path.name} was written by a dry run"
    assert payload.get("claims"), f"{path.name} declares no claims: re-run the chapter"
    failures = C.failures(payload, path.stem)
    assert not failures, "\n".join(failures)
    # the stored outcomes are the ones the stored metrics give (nobody edited one without the other)
    for stored in payload["claims"]:
        again = C.Claim.from_dict(stored).evaluate(payload["metrics"], payload["profile"])
        assert again.holds == stored["holds"], f"{path.stem}: claim {stored['id']} stored as {stored['holds']}"


def test_a_metric_that_breaks_a_claim_fails_with_chapter_claim_and_numbers():
    payload = json.loads((ROOT / "results" / "mnist_hinton.json").read_text())
    bound_claims = [c for c in payload["claims"] if c["kind"] == "at_most" and c["holds"] is True]
    assert bound_claims, "mnist_hinton should declare an upper bound (the teacher's errors)"
    claim = bound_claims[0]
    key, bound = claim["args"]["metric"], C._for_profile(claim["args"]["bound"], payload["profile"])
    broken = copy.deepcopy(payload)
    broken["metrics"][key] = bound + 10
    [msg] = C.failures(broken, "mnist_hinton")
    assert msg.startswith("mnist_hinton: claim ")
    assert claim["id"] in msg and f"{bound + 10:g}" in msg and f"{bound:g}" in msg, msg


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_claim_is_glued_into_its_chapter_and_every_glue_key_is_recorded(nb):
    import nbformat

    payload = json.loads((ROOT / "results" / f"{nb.stem}.json").read_text())
    cells = nbformat.read(nb, as_version=4).cells
    glued = {k for c in cells if c.cell_type == "markdown" for k in GLUE.findall(c.source)}
    values = glue_values(payload)
    assert glued <= values.keys(), f"glued but not recorded: {sorted(glued - values.keys())}"
    unglued = [c["id"] for c in payload["claims"] if f"claim_{c['id']}" not in glued]
    assert not unglued, f"{nb.stem}: claims the prose never states: {unglued}"


def test_the_verdicts_block_shows_every_claim_with_its_mark_and_numbers():
    """What a Colab reader sees (no glued prose there): every verdict, ✓/✗, with the numbers."""
    from kdhelpers.infra.results import verdicts_markdown

    metrics = {"a": 98.6, "a_std": 0.1, "b": 97.0, "errors": 90}
    stored = C.evaluate_all([
        C.better("kd_beats_hard", "a", "b", "distilled beats hard | labels", against="our students", k=2),
        C.at_most("few_errors", "errors", {"cpu": 80}, "at most 80 errors", against="the paper's 74", negative=True),
        C.at_most("full_only", "errors", {"full": 70}, "at most 70 errors", against="the paper"),
    ], metrics, "cpu")
    md = verdicts_markdown(stored).splitlines()
    assert md[0] == "**Verdicts of this run**" and len(md) == 2 + 2 + 3
    assert md[4].startswith("| ✓ | distilled beats hard \\| labels: **holds** |") and "gain 1.6" in md[4]
    assert md[5].startswith("| ✗ | at most 80 errors: **does not hold** *(documented negative result)*")
    assert "errors = 90 > 80" in md[5] and md[5].endswith("| the paper's 74 |")
    assert md[6].startswith("| · | at most 70 errors: **not checked** | — |")
