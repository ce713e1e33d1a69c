"""The anchor network's activity, the anchor command and the CLI."""
import json

import numpy as np
import pytest

from sims import anchor, cli


def test_anchor_activity_matches_brian2():
    """Brian2 (perf-anchors 2.2): 5.6 Hz (E 5.06, I 7.87) at dt 0.5 ms, Poisson-level CV."""
    res = anchor.run(anchor.AnchorParams(N=5000, T_s=1.5, dt_ms=0.5))
    assert res["rate_all_hz"] == pytest.approx(5.6, abs=0.25)
    assert res["rate_E_hz"] == pytest.approx(5.06, abs=0.3)
    assert res["rate_I_hz"] == pytest.approx(7.87, abs=0.45)
    # asynchronous irregular: CV of the 5 ms count near the independent-Poisson level
    poisson_cv = 1 / np.sqrt(res["rate_all_hz"] * 5000 * 0.005)
    assert res["pop_cv_5ms"] < 1.6 * poisson_cv
    assert res["events_per_s"] == pytest.approx(res["spikes"] * 100 / res["sim_wall_s"])


def test_anchor_json_line_has_the_benchmark_keys(capsys):
    assert anchor.main(["--N", "600", "--T", "0.1", "--json"]) == 0
    d = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for k in ("rtf", "rate_all_hz", "rate_E_hz", "rate_I_hz", "events_per_s", "neuron_steps_per_s",
              "peak_rss_mb", "pop_cv_5ms", "spikes", "compile_s"):
        assert k in d, k
    assert d["N"] == 600 and d["spikes"] > 0


def test_anchor_summary_writes_a_raster(tmp_path, capsys):
    assert cli.main(["anchor", "--N", "500", "--T", "0.2", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "rate" in out and "RTF" in out
    png = tmp_path / "anchor_raster_N500.png"
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_help_and_unknown(capsys):
    assert cli.main([]) == 0
    assert "anchor" in capsys.readouterr().out
    assert cli.main(["frobnicate"]) == 2


def test_idle_bench_runs(capsys):
    from sims import idle_bench
    assert idle_bench.main(["--N", "2000", "--T", "0.5"]) == 0
    d = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert d["N"] == 2000 and 0.3 < d["rate_hz"] < 2.0
