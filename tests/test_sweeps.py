"""Experiments as data: `ember run` records a run (manifest + result), `ember sweep` runs a grid on a
local Ray, resumably, records failures, retries a lost worker, and gives the same results on one
worker as on two."""
import json
import os
import subprocess
import sys

import pytest

from sims import experiments as X

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cli(*args, timeout=300):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "sims.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_ember_run_writes_result_and_a_complete_manifest_last(tmp_path):
    r = _cli("run", "probe", "--set", "x=3", "--seed", "2", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    run_dir = json.loads(r.stdout.strip().splitlines()[-1])["run_dir"]
    assert json.load(open(os.path.join(run_dir, "result.json"))) == {"y": 8.0, "x": 3.0}
    m = json.load(open(os.path.join(run_dir, "manifest.json")))
    assert m["experiment"] == "probe" and m["seed"] == 2 and m["config"]["x"] == 3.0 and m["status"] == "complete"
    for key in ("git", "versions", "machine", "start", "end", "wall_s", "peak_rss_mb"):
        assert key in m, key
    assert set(m["git"]) == {"commit", "dirty"} and m["versions"]["numpy"] and m["versions"]["python"]
    assert X.is_complete(run_dir)
    # the same experiment, config and seed land in the same directory
    assert os.path.basename(run_dir) == X.run_id("probe", X.make_config(X.get("probe"), {"x": 3}), 2)


def test_a_run_that_raises_is_recorded_as_failed(tmp_path):
    r = _cli("run", "probe", "--set", "fail=true", "--out", str(tmp_path))
    assert r.returncode == 1 and "asked to fail" in r.stderr
    (d,) = os.listdir(tmp_path)
    m = json.load(open(tmp_path / d / "manifest.json"))
    assert m["status"] == "failed" and "asked to fail" in m["error"] and not X.is_complete(str(tmp_path / d))


@pytest.mark.parametrize("args, text", [
    (["run", "nosuch"], "unknown experiment 'nosuch'"),
    (["run", "anchor", "--set", "Nn=5"], "anchor has no key 'Nn'"),
    (["run", "anchor", "--set", "N=lots"], "anchor.N takes an integer (default 10000), got 'lots'"),
    (["run", "anchor", "--set", "stdp=1"], "anchor.stdp takes true or false"),
    (["run", "anchor", "--set", "seed=3"], "give it as --seed N"),
    (["run", "anchor", "--set", "N"], "--set wants key=value"),
    (["run", "probe", "--set", "sleep_s=-1"], "sleep_s must be >= 0"),
    (["run", "ember-protocol", "--set", "protocol.scale=2"], "scale must be in (0, 1]"),
    (["run", "ember-protocol", "--set", "protocol.nope=2"], "has no key 'nope'"),
])
def test_bad_run_input_is_refused_before_anything_runs(tmp_path, args, text):
    r = _cli(*args, "--out", str(tmp_path))
    assert r.returncode == 2 and text in r.stderr, r.stderr
    assert os.listdir(tmp_path) == []


def test_configs_take_option_names_nested_keys_and_toml(tmp_path):
    c = X.make_config(X.get("anchor"), {"N": 500, "T": 0.2, "dt": 1, "stdp": True})
    assert (c.N, c.T_s, c.dt_ms, c.stdp) == (500, 0.2, 1.0, True)
    p = X.make_config(X.get("ember-protocol"), {"protocol.scale": 0.02, "protocol.conditions": ["snn_off"]})
    assert p.protocol.scale == 0.02 and p.protocol.conditions == ("snn_off",)
    assert X.parse_value("[200, 300]") == [200, 300] and X.parse_value("true") is True
    assert X.parse_value("hashing") == "hashing"
    f = tmp_path / "c.toml"
    f.write_text("N = 300\nT = 0.1\n")
    r = _cli("run", "anchor", "--config", str(f), "--set", "K=20", "--seed", "1", "--out", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    run_dir = json.loads(r.stdout.strip().splitlines()[-1])["run_dir"]
    m = json.load(open(os.path.join(run_dir, "manifest.json")))
    assert (m["config"]["N"], m["config"]["K"], m["config"]["T_s"], m["config"]["seed"]) == (300, 20, 0.1, 1)


def _spec(path, text):
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("text, msg", [
    ('experiment = "nosuch"\nseeds = [0]\n[grid]\nx = [1]\n', "unknown experiment"),
    ('experiment = "probe"\nseeds = [0]\n[grid]\nxx = [1, 2]\n', "probe has no key 'xx'"),
    ('experiment = "probe"\nseeds = [0]\n[grid]\n', "[grid] is empty"),
    ('experiment = "probe"\nseeds = [0]\n[grid]\nx = []\n', "needs a non-empty list"),
    ('experiment = "probe"\nseeds = []\n[grid]\nx = [1]\n', "seeds must be a non-empty list"),
    ('experiment = "probe"\nseed = [0]\n', "unknown top-level key 'seed'"),
    ('experiment = "probe"\n[random]\nx = [0, 1]\n', "samples = N"),
])
def test_bad_sweep_specs_are_refused_before_any_run(tmp_path, text, msg):
    r = _cli("sweep", _spec(tmp_path / "s.toml", text), "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and msg in r.stderr, r.stderr
    assert not (tmp_path / "out").exists()


def test_an_unreachable_cluster_is_refused_before_any_run(tmp_path):
    spec = _spec(tmp_path / "s.toml", 'experiment = "probe"\nseeds = [0]\n[grid]\nx = [1, 2]\n')
    r = _cli("sweep", spec, "--out", str(tmp_path / "out"), "--address", "ray://127.0.0.1:9")
    assert r.returncode == 2 and "cannot reach the Ray cluster at ray://127.0.0.1:9" in r.stderr, r.stderr
    assert not os.path.exists(tmp_path / "out" / "runs")


def test_random_samples_are_drawn_from_the_spec_seed():
    spec = {"experiment": "probe", "seeds": [0], "grid": {"fail": [False]},
            "random": {"samples": 5, "x": [1, 100, "log"], "sleep_s": [0, 2]}}
    from sims import sweep as S
    a, b = S.points(spec), S.points(spec)
    assert a == b and len(a) == 5 and all(1 <= p["x"] <= 100 and isinstance(p["sleep_s"], int) for p in a)


ray = pytest.importorskip("ray")


def test_a_sweep_on_local_ray_tabulates_its_manifests_and_resumes(tmp_path):
    from sims import sweep as S
    spec = S.load_spec(_spec(tmp_path / "s.toml", 'experiment = "probe"\nseeds = [0, 1]\n[base]\nsleep_s = 0.0\n'
                                                   '[grid]\nx = [1.0, 2.5]\nfail = [false]\n'))
    out = str(tmp_path / "sw")
    res = S.execute(spec, out, max_concurrent=2, progress=False)
    assert (res["runs"], res["ran"], res["skipped"], res["failed"]) == (4, 4, 0, 0)
    import csv
    rows = list(csv.DictReader(open(res["table_csv"])))
    assert len(rows) == 2
    mans = [json.load(open(os.path.join(out, "runs", d, "manifest.json"))) for d in os.listdir(os.path.join(out, "runs"))]
    assert len(mans) == 4 and all(m["status"] == "complete" for m in mans)
    for row in rows:                     # the table's mean is the mean of its runs' results
        x = float(row["x"])
        ys = [json.load(open(os.path.join(out, "runs", m["run_id"], "result.json")))["y"]
              for m in mans if m["config"]["x"] == x]
        assert len(ys) == 2 and float(row["y_mean"]) == pytest.approx(sum(ys) / 2) and int(row["n_seeds"]) == 2
    assert res["plots"] and os.path.exists(res["plots"][0])
    again = S.execute(spec, out, max_concurrent=2, progress=False)
    assert (again["ran"], again["skipped"]) == (0, 4)


def test_a_sweep_records_a_failure_and_retries_a_lost_worker(tmp_path):
    from sims import sweep as S
    marker = tmp_path / "died"
    spec = S.load_spec(_spec(tmp_path / "s.toml", f'experiment = "probe"\nseeds = [0]\n[base]\ndie_once = "{marker}"\n'
                                                   '[grid]\nx = [1.0, 2.0]\nfail = [false, true]\n'))
    out = str(tmp_path / "sw")
    res = S.execute(spec, out, max_concurrent=2, progress=False)
    assert marker.exists()                               # one worker was killed ...
    assert (res["runs"], res["failed"]) == (4, 2)       # ... its run retried; the two that raise recorded
    mans = [json.load(open(os.path.join(out, "runs", d, "manifest.json"))) for d in os.listdir(os.path.join(out, "runs"))]
    assert sorted(m["status"] for m in mans) == ["complete", "complete", "failed", "failed"]
    assert all("asked to fail" in m["error"] for m in mans if m["status"] == "failed")
    again = S.execute(spec, out, max_concurrent=2, progress=False)
    assert (again["ran"], again["skipped"]) == (2, 2)  # complete runs are skipped; failed ones run again


@pytest.mark.slow
def test_one_worker_and_two_give_the_same_results(tmp_path):
    from sims import sweep as S
    spec = S.load_spec(_spec(tmp_path / "s.toml", 'experiment = "anchor"\nseeds = [1, 2]\n[base]\nN = 300\nK = 20\n'
                                                   'T = 0.1\n[grid]\ndt = [0.5, 1.0]\n'))
    vol = set(X.get("anchor").volatile)
    got = []
    for workers in (1, 2):
        out = str(tmp_path / f"w{workers}")
        res = S.execute(spec, out, max_concurrent=workers, progress=False)
        assert res["failed"] == 0 and res["ran"] == 4
        runs = {}
        for d in sorted(os.listdir(os.path.join(out, "runs"))):
            r = json.load(open(os.path.join(out, "runs", d, "result.json")))
            runs[d] = {k: v for k, v in r.items() if k not in vol and k != "raster_png"}
        got.append(runs)
    assert got[0] == got[1] and all(r["spikes"] > 0 for r in got[0].values())


def test_sweep_bench_prints_the_per_run_cost_of_ray_and_in_process():
    r = _cli("sweep-bench", "--runs", "3", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["runs"] == 3 and out["failed"] == 0
    assert 0 < out["in_process_ms_per_run"] < out["ray_ms_per_run_incl_start"]


def test_without_ray_the_sweep_says_how_to_install_it(monkeypatch):
    from sims import sweep as S
    monkeypatch.setitem(sys.modules, "ray", None)          # import ray -> ImportError
    with pytest.raises(S.SweepError, match=r"pip install -e '\.\[sweep\]'"):
        S._connect(None, 1)
