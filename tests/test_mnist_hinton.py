"""The mnist_hinton chapter's protocol card says what Hinton et al. (2015) §3 state, and no more."""
import pytest

import kdbook as kb
from kdbook.chapter import load

H = load("mnist_hinton")  # the chapter's cells tagged `define`


@pytest.mark.parametrize("profile", ["smoke", "cpu", "full"])
def test_the_published_teacher_names_dropout_and_constraints_but_no_rates(profile):
    table = H.card(kb.Run(profile=profile)).table()  # Card refuses to build while a differing row has no reason
    published, ours = table.loc["teacher"].iloc[0], table.loc["teacher"].iloc[1]
    # §3: "strongly regularized using dropout and weight-constraints as described in [5]" (Hinton et al. 2012)
    assert "dropout and weight constraints as in Hinton et al. (2012)" in published
    assert "rates not stated" in published and "0.5" not in published and "0.2" not in published
    assert "MLP 1200-1200" in published and "MLP 1200-1200" in ours
    assert ("dropout 0.5 (input 0.2)" if profile == "full" else "dropout 0.3 (input 0.1)") in ours
