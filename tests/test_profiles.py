import kdbook as kb
import pytest
import torch

from kdbook.profiles import pick, resolve_profile


def test_auto_is_full_with_cuda_else_cpu(monkeypatch):
    monkeypatch.delenv("KD_PROFILE", raising=False)
    assert resolve_profile("auto") == ("full" if torch.cuda.is_available() else "cpu")


def test_kd_profile_overrides_auto_but_not_an_explicit_choice(monkeypatch):
    monkeypatch.setenv("KD_PROFILE", "smoke")
    assert resolve_profile("auto") == "smoke"
    assert resolve_profile("full") == "full"


def test_unknown_profile_lists_the_valid_ones(monkeypatch):
    with pytest.raises(ValueError, match="smoke, cpu, full"):
        resolve_profile("fast")
    monkeypatch.setenv("KD_PROFILE", "gpu")
    with pytest.raises(ValueError, match="'gpu' \\(from \\$KD_PROFILE\\).*smoke, cpu, full"):
        resolve_profile("auto")


def test_pick_chooses_by_profile():
    assert pick("smoke", smoke=1, cpu=2, full=3) == 1
    assert pick("cpu", smoke=1, cpu=2, full=3) == 2


@pytest.mark.parametrize("native_bf16", [True, False])
def test_cpu_mixed_precision_only_with_native_bf16_and_kd_amp_0_turns_it_off(monkeypatch, native_bf16):
    from kdhelpers import device

    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: native_bf16)
    monkeypatch.setenv("KD_AMP", "1")
    assert device.amp_dtype("cpu") == (torch.bfloat16 if native_bf16 else None)
    assert device.amp_dtype("cpu", "float32") is None
    assert device.amp_dtype("meta") is None
    monkeypatch.setenv("KD_AMP", "0")
    assert device.amp_dtype("cpu") is None
    with pytest.raises(ValueError, match="precision"):
        device.amp_dtype("cpu", "bf16")  # "float16" is a precision (fp16 with a scaler); "bf16" is no name


def test_smoke_profile_runs_in_float32(monkeypatch):
    from kdhelpers import device
    import kdhelpers as kd

    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setenv("KD_AMP", "1")
    run = kb.setup("t", "smoke")
    assert device.amp_dtype("cpu", run.precision_for(None)) is None
    run = kb.setup("t", "cpu")
    assert device.amp_dtype("cpu", run.precision_for(None)) == torch.bfloat16


def test_kd_progress_0_hides_bars_unless_asked_for(monkeypatch):
    from kdhelpers.device import show_progress

    monkeypatch.setenv("KD_PROGRESS", "0")
    assert show_progress() is False and show_progress(True) is True
    monkeypatch.delenv("KD_PROGRESS")
    assert show_progress() is True and show_progress(False) is False


# ---------------------------------------------------------------------- "auto" by time
from kdbook import profiles as P  # noqa: E402

PLAN = {"cpu": 2.0e15, "full": 6.0e17}  # a chapter's training FLOPs per profile
T4, A100, LAPTOP = 8e12, 60e12, 0.25e12  # achieved training FLOP/s (injected, as a probe would measure)


@pytest.mark.parametrize("rate, budget_min, expected", [
    (A100, 240, "full"),    # 6e17 / 6e13 = 167 min: fits four hours
    (A100, 20, "cpu"),      # but not twenty minutes
    (T4, 20, "cpu"),        # 2e15 / 8e12 = 4 min
    (LAPTOP, 200, "cpu"),   # 2e15 / 2.5e11 = 133 min: fits, full does not
])
def test_auto_picks_the_largest_profile_that_fits_the_time(rate, budget_min, expected):
    profile, why = P.choose(PLAN, rate, budget_min * 60)
    assert profile == expected and "fits" in why


def test_when_nothing_fits_auto_runs_cpu_and_says_so():
    profile, why = P.choose(PLAN, LAPTOP, 20 * 60)
    assert profile == "cpu" and "nothing fits" in why and "KD_TIME_BUDGET" in why


def test_auto_profile_reads_the_budget_the_plan_and_kd_profile(monkeypatch):
    monkeypatch.delenv("KD_PROFILE", raising=False)
    monkeypatch.setenv("KD_TIME_BUDGET", "240")
    assert P.auto_profile("ch", A100, plans={"ch": PLAN})[0] == "full"
    monkeypatch.setenv("KD_TIME_BUDGET", "20")
    assert P.auto_profile("ch", A100, plans={"ch": PLAN})[0] == "cpu"
    assert "no recorded plan" in P.auto_profile("other", A100, plans={"ch": PLAN})[1]
    monkeypatch.setenv("KD_PROFILE", "smoke")
    assert P.auto_profile("ch", A100, plans={"ch": PLAN}) == ("smoke", "from $KD_PROFILE")
    monkeypatch.setenv("KD_TIME_BUDGET", "soon")
    monkeypatch.delenv("KD_PROFILE")
    with pytest.raises(ValueError, match="KD_TIME_BUDGET"):
        P.auto_profile("ch", A100, plans={"ch": PLAN})


def test_the_device_probe_measures_a_rate_only_when_a_plan_needs_it(monkeypatch):
    from kdbook.cost import device_rate

    monkeypatch.delenv("KD_PROFILE", raising=False)
    assert device_rate("cpu") > 1e9
    probed = []
    P.auto_profile("other", lambda: probed.append(1) or A100, plans={"ch": PLAN})
    assert probed == []  # no recorded plan: no probe


def test_every_chapter_has_a_recorded_plan_for_auto():
    """Without a chapter's cpu and full FLOPs in plans.json, ``auto`` falls back to full on any GPU
    (hours on a T4): `python -m kdbook.profiles results _build/dry-run/results` after `make dry-run`."""
    import json
    from pathlib import Path

    from kdbook.fingerprint import chapters

    plans = json.loads(P.PLANS.read_text())
    root = Path(__file__).resolve().parents[1]
    missing = [c for c in chapters(root) if not {"cpu", "full"} <= set(plans.get(c, {}))]
    assert not missing, f"no cpu+full plan for {missing}"
    # the full budget is never smaller than the laptop one
    assert all(p["full"] >= p["cpu"] > 0 for p in plans.values()), plans
