"""sims.predict end to end (tiny configuration), its JSON keys and its errors."""
import json
import os

import pytest

from sims import predict


def test_predict_tiny_run_json_and_figures(tmp_path, capsys):
    out = tmp_path / "p"
    rc = predict.main(["--N", "300", "--blocks", "250", "150", "--json", "--no-progress", "--quick",
                       "--out", str(out)])
    assert rc == 0
    s = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(s["timing_peak_error_ms"]) == {"c1", "c2", "c3", "c4", "c5"}
    assert isinstance(s["amplitude_vs_p_r"], float) and -1 <= s["amplitude_vs_p_r"] <= 1
    assert set(s["switch_recovery"]) == {"three_factor", "force", "force_reset"}
    for learner in s["switch_recovery"].values():
        assert set(learner) == {"timing", "probability", "identity"}
    assert set(s["cos_when_what"]) == {"centred", "uncentred"}
    # even this small run learns: amplitude tracks p, and centred coding is less aligned than uncentred
    assert s["amplitude_vs_p_r"] > 0.8
    assert s["cos_when_what"]["centred"] < s["cos_when_what"]["uncentred"]
    assert len(s["checks"]) == 11
    # check 11's geometry: with two identities the centred "what" span is one line (w_A = -w_B), so the
    # principal angle only repeats the largest cosine; with three it is a plane and says more
    g2 = s["geometry_per_block"]["centred"][0]
    assert abs(g2["principal_cos"] - g2["max_abs_cos"]) < 5e-3
    g3 = s["geometry_three_identities"]
    assert g3["identities"] == ["A", "B", "C"] and isinstance(g3["pass"], bool)
    c = g3["centred"]
    assert c["what_dims"][1] > 0.05 and c["what_dims"][2] < 1e-3       # two dimensions: the codes sum to zero
    assert c["principal_cos"] >= c["max_abs_cos"] - 1e-9
    assert len(g3["uncentred"]["what_dims"]) == 3 and g3["uncentred"]["what_dims"][2] > 1e-3
    # check 1 across trials is reported with its controls
    tb = s["timing_basis_trials"]
    assert set(tb) >= {"reservoir", "no_cue", "shuffled_time", "pass", "trial_to_trial_corr_at_ms"}
    pngs = sorted(os.listdir(out))
    assert "summary.json" in pngs and sum(p.endswith(".png") for p in pngs) >= 5
    assert json.loads((out / "summary.json").read_text())["amplitude_vs_p_r"] == s["amplitude_vs_p_r"]


def test_predict_bad_input_is_a_clear_error(capsys):
    assert predict.main(["--N", "5", "--no-progress", "--no-figures"]) == 2
    assert "n_neurons" in capsys.readouterr().err
    assert predict.main(["--alpha", "-1", "--no-progress", "--no-figures"]) == 2
    assert "alpha_when" in capsys.readouterr().err


@pytest.mark.slow
def test_quick_suite_meets_checks_1_to_11(tmp_path, capsys):
    assert predict.main(["--quick", "--json", "--no-progress", "--out", str(tmp_path)]) == 0
    s = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert all(s["checks"].values()), s["checks"]
    assert s["amplitude_vs_p_r"] >= 0.9
    assert abs(s["cos_when_what"]["centred"]) <= 0.2 and abs(s["cos_when_what"]["uncentred"]) >= 0.4
