"""EMBER's three-day protocol (spec section 7) and its counterfactuals: sampled idle, the shuffled
and SNN-off controls, AC7 (the first impulse from zero weights) and AC12 (actions per simulated day
with the SNN on, none with it off), and the `ember protocol` report."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from agents.ember.guardrails import GuardrailConfig
from agents.ember.llm import ScriptedActor
from agents.ember.loop import AgentConfig, EmberAgent
from agents.ember.protocol import EPOCH_S, ProtocolConfig, load_script, run_condition
from agents.ember.substrate import LATERAL
from encoders.hashing import HashingEmbedder
from sims.ember_session import substrate_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCALE = 0.02


def _agent(d, **cfg):
    return EmberAgent(d, config=AgentConfig(substrate=substrate_config(SCALE), save_every_turns=0, **cfg),
                      actor=ScriptedActor(actions=("journal",)), embedder=HashingEmbedder(), threads=1,
                      guardrails=GuardrailConfig(utc_offset_h=0.0), epoch_s=EPOCH_S)


def _session_1():
    return [t["user"] for t in load_script()["sessions"][0]["turns"]]


def test_the_script_has_three_days_five_domains_and_52_messages():
    s = load_script()
    assert 2 * sum(len(x["turns"]) for x in s["sessions"]) == 52
    assert {x["day"] for x in s["sessions"]} == {1, 2, 3} and len(s["domains"]) == 5
    assert all(t["user"].strip() and t["assistant"].strip() for x in s["sessions"] for t in x["turns"])


def test_skip_advances_in_closed_form_sleeps_on_time_and_detects_nothing(tmp_path):
    ag = _agent(tmp_path)
    for text in _session_1()[:3]:
        ag.chat(text)
    learned = ag.substrate.synapse_count()
    assert learned > 0
    ag.skip(30 * 3600.0)          # 00:0x -> 06:0x of day 2: the nights at 03:00 of days 1 and 2 pass
    nights = [s for s in ag.substrate.meta["sleeps"]]
    assert len(nights) == 2 and nights[0]["items"] == 6       # three exchanges replayed on the first night
    assert ag.substrate.impulses == [] and ag.events == []
    ag.idle(5.0)                  # the next simulated bins are detected again, the skipped ones never
    assert ag.substrate.detector.detections_total >= 0
    assert ag.substrate.synapse_count() < learned or nights[0]["synapses_after"] != learned
    ag.close()


def test_relabel_lateral_keeps_the_weights_and_moves_them_off_the_assemblies(tmp_path):
    ag = _agent(tmp_path)
    for text in _session_1()[:4]:
        ag.chat(text)
    sub = ag.substrate
    before = sub.sim.synapses(LATERAL)
    g0 = sub.association_graph()
    inside = sum(d["count"] for _, _, d in g0.edges(data=True))
    sub.relabel_lateral(7)
    after = sub.sim.synapses(LATERAL)
    assert np.array_equal(np.sort(before["weight"]), np.sort(after["weight"]))
    assert np.array_equal(np.sort(before["level"]), np.sort(after["level"]))
    pairs = set(zip(after["pre"].tolist(), after["post"].tolist()))
    assert len(pairs) == after["pre"].size                    # still no duplicate pair
    moved = sum(d["count"] for _, _, d in sub.association_graph().edges(data=True))
    assert inside > 100 and moved < 0.2 * inside              # the labelled assemblies lost their synapses
    ag.idle(2.0)                                              # and the store keeps running
    ag.close()


def test_snn_off_runs_the_same_loop_and_never_acts(tmp_path):
    ag = _agent(tmp_path, snn=False)
    for text in _session_1():
        t = ag.chat(text)
        assert t.reply and t.surfaced is None
    assert ag.store.count("episodic") == 14 and ag.substrate.synapse_count() == 0
    ag.idle(3600.0)
    assert ag.events == [] and ag.substrate.sim.t_ms >= 3600e3
    ag.sleep()
    ag.close()


def test_ac7_first_impulse_from_zero_within_ten_exchanges_names_the_person_and_a_topic(tmp_path):
    """AC7: the AC6-like first session from zero weights, then idle: the first significant impulse
    comes after <= 10 exchanges (here: in the idle after the 7th) and names the person and a topic."""
    ag = _agent(tmp_path)
    exchanges, at = 0, None
    for text in _session_1():
        ag.chat(text)
        exchanges += 1
        ag.idle(10.0)
        if at is None and ag.substrate.impulses:
            at = exchanges
    for _ in range(8 * 60):                       # at most 8 simulated hours, a minute at a time
        if ag.substrate.impulses:
            break
        ag.idle(60.0)
    assert ag.substrate.impulses, "no significant impulse in 8 idle hours"
    first = ag.substrate.impulses[0]
    assert (at or exchanges) <= 10
    kinds = {a["kind"] for a in first.assemblies}
    labels = [a["label"] for a in first.assemblies]
    assert "person" in kinds and "topic" in kinds, labels
    assert "Maria" in labels
    assert first.detections and all(d["rate_hz"] > 3 * d["baseline_hz"] for d in first.detections)
    # the package keeps the 30 s of rates up to the trigger (ember inspect --plots draws them)
    r = first.rates
    assert r["labels"][0] == labels[0] and len(r["hz"][0]) >= 20
    assert max(r["hz"][0]) >= first.detections[-1]["rate_hz"] - 0.05
    ag.close()


@pytest.mark.slow
def test_ac12_snn_on_acts_every_simulated_day_and_snn_off_never():
    """AC12 on the 52-message script at reduced scale, sampled idle (the first 5 min after each
    session and 30 s of every later hour simulated)."""
    cfg = ProtocolConfig(scale=SCALE, head_s=300.0, sample_s=30.0, threads=1)
    on = run_condition(cfg, "snn", 0)
    off = run_condition(cfg, "snn_off", 0)
    assert min(on["R5"]["per_day"]) >= 1, on["R5"]
    assert off["R5"]["actions"] == 0 and off["R5"]["impulses"] == 0
    assert on["R3"]["first_impulse_exchange"] <= 10


def test_ember_protocol_writes_its_report(tmp_path):
    out = str(tmp_path / "report")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NUMBA_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "sims.cli", "protocol", "--scale", str(SCALE), "--conditions", "snn_off",
                        "--out", out, "--json", "--threads", "1"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["checks"]["AC12_snn_off"]["pass"] and summary["idle_mode"] == "sampled"
    for name in ("protocol.json", "protocol.md", "protocol.png"):
        assert os.path.getsize(os.path.join(out, name)) > 0
    md = open(os.path.join(out, "protocol.md")).read()
    assert "| R5 | impulse-triggered actions in 3 days | 23 |" in md and "sampled" in md
    full = json.load(open(os.path.join(out, "protocol.json")))
    assert full["script_messages"] == 52 and full["runs"][0]["R5"]["actions"] == 0
    os.remove(os.path.join(out, "protocol.md"))          # --render rewrites the report from its JSON
    r = subprocess.run([sys.executable, "-m", "sims.cli", "protocol", "--render", "--out", out], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert open(os.path.join(out, "protocol.md")).read() == md
