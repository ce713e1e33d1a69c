"""EMBER's memory substrate at a reduced scale: the same code path as the 220,000-neuron network."""
import json
import math
import os

import numpy as np
import pytest

from agents.ember.detector import Detector, DetectorParams
from agents.ember.substrate import (LATERAL, Substrate, SubstrateConfig, SubstrateError, build_network,
                                    reserved_cells)
from encoders.hashing import HashingEmbedder

DIALOGUE = os.path.join(os.path.dirname(__file__), "..", "agents", "ember", "data", "dialogue_ac6.json")


def tiny(**kw) -> SubstrateConfig:
    base = dict(scale=0.05, max_labels=6, seed=3)   # 200-cell assemblies, as at full scale
    base.update(kw)
    return SubstrateConfig(**base)


@pytest.fixture(scope="module")
def taught():
    """A tiny substrate after the shipped dialogue's first six messages."""
    sub = Substrate(tiny(), encoder=HashingEmbedder())
    d = json.load(open(DIALOGUE))
    for i, m in enumerate(d["messages"][:6]):
        sub.present(m["text"], m["labels"], kinds=d["kinds"], message_id=i + 1)
    return sub


# --- the description ----------------------------------------------------------------------------------

def test_config_sizes_scale_and_the_paper_facts_stay():
    full = SubstrateConfig()
    assert sum(full.sizes.values()) == 220_000
    assert full.noise_sigma == 0.1 and full.sparsity == 0.14
    cfg = tiny()
    assert cfg.sizes["concept"] == 7500 and cfg.pool == 1200
    with pytest.raises(SubstrateError, match="scale"):
        SubstrateConfig(scale=0.0)
    with pytest.raises(SubstrateError, match="reserved pool"):
        SubstrateConfig(scale=0.01)          # 100 x 200 reserved cells do not fit in 1,500
    assert SubstrateConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(SubstrateError, match="unknown"):
        SubstrateConfig.from_dict({**cfg.to_dict(), "bogus": 1})


def test_network_has_the_four_layers_inhibition_and_an_empty_lateral_store():
    cfg = tiny()
    net = build_network(cfg)
    assert [p.name for p in net.populations] == ["sensory", "concept", "category", "meta", "inhibitory"]
    labels = {p.label for p in net.projections}
    assert {"sensory->concept", "concept->category", "category->meta", "inhibitory->concept", LATERAL} <= labels
    sub = Substrate(cfg)
    assert sub.synapse_count() == 0
    cells = reserved_cells(cfg)
    assert cells.size == cfg.pool and np.unique(cells).size == cfg.pool and cells.max() < cfg.sizes["concept"]


# --- the detector --------------------------------------------------------------------------------------

def test_detector_needs_three_detections_in_five_minutes_then_is_refractory():
    det = Detector(DetectorParams(floor_hz=1.0))
    det.add("a")
    det.add("b")
    fired = []
    for t in range(0, 900):
        rate_a = 4.0 if t in (20, 100, 250, 400, 450, 500, 720, 800, 810) else 1.0
        _, imp = det.update(float(t), 1.0, np.array([rate_a, 1.0]))
        fired += [(t, [d.label for d in i]) for i in imp]
    # 20, 100, 250 -> impulse at 250; 400/450/500 fall in the refractory period (until 551), so they
    # count again only from 551 on; 720, 800, 810 -> the second impulse
    assert [t for t, _ in fired] == [250, 810]
    assert det.detections_total == 9 and det.impulses_total == 2
    back = Detector.from_state(json.loads(json.dumps(det.state())))
    assert back.state() == det.state()


def test_detector_ignores_bins_within_ten_seconds_of_a_stimulus_and_floors_the_baseline():
    det = Detector(DetectorParams(floor_hz=1.0))
    det.add("a")
    det.stimulus(100.0)
    found, _ = det.update(105.0, 1.0, np.array([50.0]))
    assert found == []
    det.baseline[:] = 0.01                       # a silent assembly: the floor keeps 3 x 0.01 from counting
    found, _ = det.update(200.0, 1.0, np.array([2.0]))
    assert found == []
    found, _ = det.update(201.0, 1.0, np.array([3.5]))
    assert [d.label for d in found] == ["a"] and found[0].baseline_hz == 1.0


# --- presentation and learning --------------------------------------------------------------------------

def test_presenting_the_dialogue_grows_person_topic_synapses(taught):
    sub = taught
    assert set(sub.assemblies) == {"Maria", "marathon", "sourdough"}
    assert sub.assemblies["Maria"].kind == "person" and sub.assemblies["marathon"].kind == "topic"
    assert sub.synapse_count() > 0
    fwd = sub.synapses("Maria", "marathon")
    back = sub.synapses("marathon", "Maria")
    assert fwd["synapse"].size > 0 and back["synapse"].size > 0
    assert fwd["weight"].mean() > 2 * back["weight"].mean()  # the person leads: STDP's direction
    # creation needs a pre burst and a co-active post cell: no synapse from a cell outside the assemblies
    cells = np.concatenate([a.cells for a in sub.assemblies.values()])
    s = sub.synapses()
    assert np.isin(s["pre"], cells).all() and np.isin(s["post"], cells).all()
    # and only potential pairs (the seeded hash) ever hold one
    from spiking.growth import potential_pairs
    grow = [p for p in sub.net.projections if p.name == LATERAL][0].connectivity
    assert potential_pairs(grow, s["pre"], s["post"]).all()
    assert potential_pairs(grow, np.arange(20000) % 7000, np.arange(20000) // 7).mean() == pytest.approx(
        sub.config.potential, abs=0.01)
    g = sub.association_graph()
    assert g.has_edge("Maria", "marathon") and g.nodes["Maria"]["kind"] == "person"
    assert sub.last_message_id == 6


def test_assemblies_are_dedicated_and_not_reused(taught):
    cells = [set(a.cells.tolist()) for a in taught.assemblies.values()]
    assert all(len(c) == 200 for c in cells)
    assert all(not (a & b) for i, a in enumerate(cells) for b in cells[i + 1:])


def test_bad_input_gets_clear_errors(taught):
    sub = taught
    with pytest.raises(SubstrateError, match="empty"):
        sub.present("   ")
    with pytest.raises(SubstrateError, match="UTF-8"):
        sub.present(b"\xff\xfe broken", ["Maria"])
    with pytest.raises(SubstrateError, match="NaN"):
        sub.present(embedding=np.full(384, np.nan, np.float32))
    with pytest.raises(SubstrateError, match="dimensions"):
        sub.present(embedding=np.ones(100, np.float32))
    with pytest.raises(SubstrateError, match="no assembly labelled"):
        sub.synapses("Nobody", "marathon")
    with pytest.raises(SubstrateError, match="kind"):
        sub.assembly("new label", kind="robot")
    with pytest.raises(SubstrateError, match="idle"):
        sub.idle(-1.0)
    big = "word " * 200_000                       # 1 MB: embedded (the embedder's window policy), not refused
    sub.present(big, ["marathon"])


def test_audit_by_label_pair(taught, tmp_path):
    sub = Substrate(taught.config, encoder=HashingEmbedder(), _sim=None)
    d = json.load(open(DIALOGUE))
    for i, m in enumerate(d["messages"][:2]):
        sub.present(m["text"], m["labels"], kinds=d["kinds"], message_id=i + 1)
    n = sub.synapses("Maria", "marathon")["synapse"].size
    assert n > 0
    assert sub.quarantine("Maria", "marathon") == n
    assert np.all(sub.synapses("Maria", "marathon")["quarantined"])
    assert sub.quarantine("Maria", "marathon", release=True) == n
    assert sub.zero("Maria", "marathon") == n
    assert np.all(sub.synapses("Maria", "marathon")["weight"] == 0)
    sub.write_graphml(tmp_path / "g.graphml")
    assert "Maria" in (tmp_path / "g.graphml").read_text()


# --- consolidation ---------------------------------------------------------------------------------------

def test_consolidation_replays_and_promotes_cascade_levels():
    sub = Substrate(tiny(), encoder=HashingEmbedder())
    d = json.load(open(DIALOGUE))
    eps = []
    for i, m in enumerate(d["messages"][:4]):
        sub.present(m["text"], m["labels"], kinds=d["kinds"], message_id=i + 1)
        eps.append((sub.embed(m["text"]), m["labels"]))
    assert sub.synapses()["level"].max() == 0
    t0 = sub.t_s
    out = sub.consolidate(eps)
    assert out["items"] == 4 and out["synapses_after"] > 0
    cfg = sub.config
    assert sub.t_s - t0 == pytest.approx(cfg.replay_passes * 4 * (cfg.replay_item_ms + cfg.replay_gap_ms) / 1000.0)
    assert sub.synapses()["level"].max() >= 1


# --- persistence -------------------------------------------------------------------------------------------

def test_save_and_open_continue_exactly(tmp_path):
    cfg = tiny()
    d = json.load(open(DIALOGUE))
    a = Substrate.open(tmp_path / "state", cfg, encoder=HashingEmbedder())
    for i, m in enumerate(d["messages"][:3]):
        a.present(m["text"], m["labels"], kinds=d["kinds"], message_id=i + 1)
    a.idle(3.0)
    a.save()
    b = Substrate.open(tmp_path / "state", encoder=HashingEmbedder())
    assert b.last_message_id == 3 and list(b.assemblies) == list(a.assemblies)
    assert b.detector.state() == a.detector.state() and b.t_s == a.t_s
    from spiking import SpikeTrains
    ta, tb = a.sim.add_monitor(SpikeTrains("concept")), b.sim.add_monitor(SpikeTrains("concept"))
    a.idle(5.0)
    b.idle(5.0)
    assert np.array_equal(ta.steps, tb.steps) and np.array_equal(ta.indices, tb.indices) and ta.steps.size > 0
    assert np.array_equal(a.sim.weights(LATERAL), b.sim.weights(LATERAL))
    assert b.detector.state() == a.detector.state()


def test_open_refuses_other_config_foreign_and_corrupt_directories(tmp_path):
    cfg = tiny()
    Substrate.open(tmp_path / "s", cfg)
    with pytest.raises(SubstrateError, match="another substrate configuration"):
        Substrate.open(tmp_path / "s", tiny(seed=4))
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "manifest.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(SubstrateError, match="foreign"):
        Substrate.open(tmp_path / "f")
    ck = tmp_path / "s" / "substrate.h5"
    raw = ck.read_bytes()
    ck.write_bytes(raw[: len(raw) // 2])          # a torn file
    with pytest.raises(SubstrateError, match="cannot be used"):
        Substrate.open(tmp_path / "s")


def test_ember_checks_script_reports_json_and_exit_status(capsys):
    from sims import ember_checks
    rc = ember_checks.main(["--json", "--scale", "0.01", "--threads", "1", "--embedder", "hashing", "--only", "AC11"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(out) == {"AC11"} and {"figure", "paper", "pass"} <= set(out["AC11"])
    assert out["AC11"]["pass"] is True and rc == 0
    assert out["AC11"]["figure"]["spikes_compared"] > 0


def test_ember_checks_script_runs_on_the_cuda_backend(capsys):
    """``--backend cuda`` under numba's simulator: AC13 runs the substrate's idle on the device (in
    device blocks) and, with nothing to time, says so and fails rather than pass untimed."""
    pytest.importorskip("numba.cuda")
    from numba import config
    if not config.ENABLE_CUDASIM:
        pytest.skip("a real GPU: AC13 is measured by the gpu checks")
    from sims import ember_checks
    rc = ember_checks.main(["--json", "--scale", "0.002", "--backend", "cuda", "--embedder", "hashing", "--only",
                            "AC13", "--ac13-seconds", "0.01", "--ac13-messages", "0"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    ac = out["AC13"]
    assert rc == 1 and ac["pass"] is False and "simulator" in ac["note"]
    assert ac["figure"]["backend"] == "cuda" and ac["figure"]["device_blocks"] is True
    assert ac["figure"]["neurons"] == sum(SubstrateConfig.at_scale(0.002, 0).sizes.values())


def test_cascade_metaplasticity_is_a_knob_and_older_states_reopen_without_it():
    cfg = tiny(cascade_depression=8.0)
    lateral = [p for p in build_network(cfg).projections if p.label == LATERAL][0]
    assert lateral.plasticity.cascade.depression_factor == 8.0
    assert SubstrateConfig().cascade_depression == 16.0
    old = tiny().to_dict()
    del old["cascade_depression"]                 # a manifest written before the knob existed
    assert SubstrateConfig.from_dict(old).cascade_depression == 1.0


def test_bench_store_is_resampled_from_the_learned_weights(taught):
    from sims.ember_bench import _fill_lateral
    sub = Substrate(tiny(), encoder=HashingEmbedder())
    with pytest.raises(ValueError, match="no learned synapse"):
        _fill_lateral(sub, 100, 0)
    w = taught.sim.synapses(LATERAL)["weight"]
    learned = set(np.round(w[taught._learned(w)], 7).tolist())
    before = taught.synapse_count()
    out = _fill_lateral(taught, before + 3000, 0)
    assert out["synapses"] == taught.synapse_count() >= before + 3000
    w2 = taught.sim.synapses(LATERAL)["weight"]
    assert set(np.round(w2[taught._learned(w2)], 7).tolist()) <= learned | {0.0}
    assert 0.0 < out["weight_mean_wmax"] < 1.0


def test_replay_depression_is_a_validated_knob_and_zero_lowers_no_weight():
    """replay_depression = 0: the replay creates and promotes, and lowers no stored weight beyond the
    cascade's own decay over those seconds (the synaptic-scaling cap switched off, which would
    scale weights down on its own); with the default 1 the same replay depresses some."""
    from agents.ember.substrate import LATERAL, Substrate, SubstrateConfig, SubstrateError
    with pytest.raises(SubstrateError, match="replay_depression"):
        SubstrateConfig.at_scale(0.01, 0, replay_depression=-1.0)
    drops = {}
    for dep in (0.0, 1.0):
        sub = Substrate(SubstrateConfig.at_scale(0.01, 0, replay_depression=dep, max_total_in=None), threads=1,
                        encoder=HashingEmbedder())
        for text in ("Maria runs the Lisbon marathon", "Maria bakes sourdough before the long run"):
            sub.present(text, ["Maria", "marathon"], kinds={"Maria": "person"})
        sub.idle(1.0)
        s0 = sub.sim.synapses(LATERAL)
        emb = sub.embed("Maria runs the Lisbon marathon")
        out = sub.consolidate([(emb, ["Maria", "marathon"])] * 3)
        s1 = sub.sim.synapses(LATERAL)
        k0 = s0["pre"].astype(np.int64) * 10 ** 7 + s0["post"]
        k1 = s1["pre"].astype(np.int64) * 10 ** 7 + s1["post"]
        both, i0, i1 = np.intersect1d(k0, k1, return_indices=True)
        rel = s1["weight"][i1] / s0["weight"][i0] - 1.0
        drops[dep] = (k0.size - both.size, float(rel.min()))
        assert out["synapses_after"] >= out["synapses_before"] * (1 if dep == 0 else 0) and s1["level"].max() >= 1
    assert drops[0.0][0] == 0 and drops[0.0][1] > -1e-3, drops       # none pruned, none down beyond decay
    assert drops[1.0][0] > 0 or drops[1.0][1] < -0.01, drops          # the default replay does depress
