"""Checkpoints: bit-exact continuation, and nothing lost on bad files or interrupted saves."""
import os

import h5py
import numpy as np
import pytest

from spiking import Simulator, SpikeTrains
from spiking import checkpoint as store
from spiking.checkpoint import CheckpointError

from test_backends import mixed_network


def _spikes(mon):
    return mon.steps, mon.indices


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_save_load_continue_equals_uninterrupted(tmp_path, backend):
    """Run 2 s, save, load, run 2 s: the same spikes and state as 4 s uninterrupted."""
    net = mixed_network()
    full = Simulator(net, backend=backend)
    mf = full.add_monitor(SpikeTrains("L"))
    mz = full.add_monitor(SpikeTrains("Z"))
    full.run(4000.0)

    first = Simulator(net, backend=backend)
    m1 = first.add_monitor(SpikeTrains("L"))
    z1 = first.add_monitor(SpikeTrains("Z"))
    first.run(2000.0)
    path = tmp_path / "ck.h5"
    first.save(path)
    second = Simulator.load(path, backend=backend)
    assert second.t == first.t
    m2 = second.add_monitor(SpikeTrains("L"))
    z2 = second.add_monitor(SpikeTrains("Z"))
    second.run(2000.0)
    s = np.concatenate([m1.steps, m2.steps])
    i = np.concatenate([m1.indices, m2.indices])
    assert np.array_equal(s, mf.steps) and np.array_equal(i, mf.indices)
    assert np.array_equal(np.concatenate([z1.indices, z2.indices]), mz.indices)
    for pop in ("L", "Z"):
        for var in full.group(pop).state:
            assert np.array_equal(full.get_state(pop, var), second.get_state(pop, var)), (pop, var)
    assert second.net == net


def test_injected_queue_survives_a_checkpoint(tmp_path):
    net = mixed_network()
    sim = Simulator(net)
    sim.inject_spikes("Z", [4, 7], at_step=30)
    sim.run(5.0)
    sim.save(tmp_path / "q.h5")
    back = Simulator.load(tmp_path / "q.h5")
    assert [(g, list(ix)) for g, ix in back._injected[30]] == [(1, [4, 7])]


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        Simulator.load(tmp_path / "nope.h5")


def _saved(tmp_path):
    sim = Simulator(mixed_network())
    sim.run(10.0)
    p = tmp_path / "c.h5"
    sim.save(p)
    return sim, p


def test_truncated_checkpoint(tmp_path):
    _, p = _saved(tmp_path)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        Simulator.load(p)


def test_corrupt_checkpoint_detected_by_checksum(tmp_path):
    _, p = _saved(tmp_path)
    with h5py.File(p, "r+") as h:
        ds = h["state/groups/0/v"]
        v = ds[()]
        v[3] += 1.0
        ds[...] = v  # data changed, checksum attribute not
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        Simulator.load(p)


def test_garbage_file(tmp_path):
    p = tmp_path / "g.h5"
    p.write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError):
        Simulator.load(p)


def test_other_schema_version_is_refused(tmp_path):
    _, p = _saved(tmp_path)
    with h5py.File(p, "r+") as h:
        h.attrs["schema_version"] = store.SCHEMA_VERSION + 1
    with pytest.raises(CheckpointError, match="schema version"):
        Simulator.load(p)


def test_interrupted_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    sim, p = _saved(tmp_path)
    before = p.read_bytes()
    sim.run(10.0)
    calls = {"n": 0}
    real_put = store._put

    def failing_put(h, name, a):
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError("disk full (simulated)")
        real_put(h, name, a)

    monkeypatch.setattr(store, "_put", failing_put)
    with pytest.raises(OSError, match="disk full"):
        sim.save(p)
    assert p.read_bytes() == before
    assert [f for f in os.listdir(tmp_path) if "tmp" in f] == []
    back = Simulator.load(p)
    assert back.t == 20


def test_save_into_missing_folder(tmp_path):
    sim = Simulator(mixed_network())
    with pytest.raises(CheckpointError, match="does not exist"):
        sim.save(tmp_path / "no" / "such" / "c.h5")


# --- checkpoints as data (schema version 2) ----------------------------------------------------------

def _plastic_net():
    """The network of the version-1 fixture: LIF + noisy Izhikevich at dt 0.5, Poisson and generator
    sources, a growing store, a three-factor STDP projection, a modulator."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("mk_v1", os.path.join(os.path.dirname(__file__), "data",
                                                                        "make_checkpoint_v1.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.network()


def _tiny_plastic_net():
    from spiking import FixedOutDegree, Izhikevich, LIF, Network, PoissonSource, Population, Projection
    from spiking.growth import Grow
    from spiking.plasticity import STDP, Cascade, Modulator
    return Network(
        populations=(Population("L", 24, LIF(noise_sigma=0.3, v_th=0.7)), Population("Z", 8, Izhikevich(noise_sigma=3.0)),
                     Population("C", 12, LIF(noise_sigma=0.3, v_th=0.7))),
        sources=(PoissonSource("P", 6, rate_hz=80.0),),
        projections=(Projection("L", "L", FixedOutDegree(4), weight=0.05, delay_ms=1.0),
                     Projection("P", "Z", FixedOutDegree(3), weight=5.0, delay_ms=1.0),
                     Projection("C", "C", Grow(w_create=0.006, w_prune=0.003, initial_capacity=8), weight=0.0,
                                delay_ms=1.0, plasticity=STDP.ember(a_plus=0.004, w_max=1.0, cascade=Cascade()),
                                name="grow"),
                     Projection("L", "L", FixedOutDegree(3), weight=0.1, delay_ms=1.0, name="stdp",
                                plasticity=STDP(a_plus=0.01, a_minus=0.0105, w_max=0.5, modulated=True, tau_e_ms=200.0))),
        modulators=(Modulator("dopamine", tonic=1.0),), dt_ms=0.5, seed=4)


def _continue(sim, ms=100.0):
    mons = {p: sim.add_monitor(SpikeTrains(p)) for p in ("L", "Z")}
    sim.run(ms)
    return {p: (m.steps.copy(), m.indices.copy()) for p, m in mons.items()}, sim.weights("grow"), sim.weights("stdp")


def test_version_1_checkpoint_still_loads_and_continues_exactly():
    """tests/data/checkpoint_v1.h5 was written by the engine at schema version 1 (with Izhikevich noise
    per step); loaded now, its next 100 ms equal what the old engine ran after saving it."""
    here = os.path.join(os.path.dirname(__file__), "data")
    ref = np.load(os.path.join(here, "checkpoint_v1_next.npz"))
    with h5py.File(os.path.join(here, "checkpoint_v1.h5"), "r") as h:
        assert int(h.attrs["schema_version"]) == 1
    for backend in ("numpy", "numba"):
        sim = Simulator.load(os.path.join(here, "checkpoint_v1.h5"), backend=backend)
        z = sim.net.populations[1].model
        assert z.noise_sigma == pytest.approx(3.0 / 2 ** 0.5)      # converted to the per-1-ms meaning
        spikes, grow_w, stdp_w = _continue(sim)
        for p in ("L", "Z"):
            assert np.array_equal(spikes[p][0], ref[f"{p}_steps"]) and np.array_equal(spikes[p][1], ref[f"{p}_idx"])
        assert np.array_equal(grow_w, ref["grow_w"]) and np.array_equal(stdp_w, ref["stdp_w"])
        assert np.array_equal(sim.get_state("L", "v"), ref["v_L"]) and np.array_equal(sim.get_state("Z", "v"), ref["v_Z"])


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_version_2_roundtrip_with_plasticity_growth_and_queue(tmp_path, backend):
    net = _plastic_net()
    a = Simulator(net, backend=backend)
    a.run(300.0)
    a.set_modulator("dopamine", pulse=0.5)
    a.inject_spikes("L", [1, 2, 3], at_step=a.t + 10)
    a.zero_synapses("L->L", pre=[0, 1])                # an audit edit of a static projection travels too
    a.save(tmp_path / "c.h5")
    b = Simulator.load(tmp_path / "c.h5", backend=backend)
    assert b.net == net and b.t == a.t
    with h5py.File(tmp_path / "c.h5", "r") as h:
        assert int(h.attrs["schema_version"]) == store.SCHEMA_VERSION == 2
        assert "state/projections/0/weights" in h                # the edited one
        assert "state/projections/2/weights" not in h            # static, rebuilt from the seed
    ra, rb = _continue(a), _continue(b)
    for p in ("L", "Z"):
        assert np.array_equal(ra[0][p][0], rb[0][p][0]) and np.array_equal(ra[0][p][1], rb[0][p][1])
    assert np.array_equal(ra[1], rb[1]) and np.array_equal(ra[2], rb[2])
    assert np.array_equal(a.weights("L->L"), b.weights("L->L"))


@pytest.mark.parametrize("backend", ["numpy", "numba", "cuda"])
def test_snapshot_restore_continues_bit_identically(backend):
    if backend == "cuda":
        pytest.importorskip("numba.cuda")
        from numba import cuda
        if not cuda.is_available():
            pytest.skip("no CUDA (simulator) available")
    net = _plastic_net() if backend != "cuda" else _tiny_plastic_net()   # the CUDA simulator is slow
    sim = Simulator(net, backend=backend)
    sim.run(30.0 if backend == "cuda" else 200.0)
    snap = sim.snapshot()
    first = _continue(sim, 20.0 if backend == "cuda" else 100.0)
    sim.zero_synapses("L->L")                          # edits after the snapshot are undone by restore
    sim.set_modulator("dopamine", tonic=0.0)
    sim.restore(snap)
    assert sim.modulator("dopamine") == 1.0
    sim.monitors.clear()
    again = _continue(sim, 20.0 if backend == "cuda" else 100.0)
    for p in ("L", "Z"):
        assert np.array_equal(first[0][p][0], again[0][p][0]) and np.array_equal(first[0][p][1], again[0][p][1]), p
    assert np.array_equal(first[1], again[1]) and np.array_equal(first[2], again[2])
    assert float(np.abs(sim.weights("L->L")).min()) > 0


def test_restore_refuses_a_snapshot_of_another_network():
    from spiking.params import ParameterError
    a = Simulator(mixed_network(), backend="numpy")
    b = Simulator(mixed_network(n_lif=250), backend="numpy")
    with pytest.raises(ParameterError, match="does not match"):
        b.restore(a.snapshot())
    with pytest.raises(ParameterError, match="SimState"):
        b.restore({"t": 0})


def test_foreign_description_and_missing_checksum_are_refused(tmp_path):
    _, p = _saved(tmp_path)
    with h5py.File(p, "r+") as h:
        del h["state/groups/0/v"].attrs["crc32"]
    with pytest.raises(CheckpointError, match="no checksum"):
        Simulator.load(p)
    # a description of another network than the arrays: refused, not loaded as something else
    _, p2 = _saved(tmp_path / "x" if (tmp_path / "x").mkdir() is None else tmp_path)
    other = Simulator(mixed_network(n_lif=250), backend="numpy")
    other.save(tmp_path / "other.h5")
    with h5py.File(p2, "r+") as h, h5py.File(tmp_path / "other.h5", "r") as o:
        del h["meta"]
        h.create_dataset("meta", data=o["meta"][()])
        h["meta"].attrs["crc32"] = o["meta"].attrs["crc32"]
    with pytest.raises(CheckpointError):
        Simulator.load(p2)


def test_stale_temporaries_of_killed_saves_are_cleaned(tmp_path):
    sim, p = _saved(tmp_path)
    dead = 2 ** 22 + 12345        # beyond pid_max on Linux: no such process
    stale = tmp_path / f".{p.name}.tmp-{dead}"
    stale.write_bytes(b"x" * 1000)
    mine_alive = tmp_path / f".{p.name}.tmp-1"     # pid 1 exists: a save in progress elsewhere is left alone
    mine_alive.write_bytes(b"y")
    sim.save(p)
    assert not stale.exists() and mine_alive.exists()


def test_one_byte_flips_are_refused_or_harmless(tmp_path):
    """Flip one byte at 150 seeded offsets of a small plastic network's checkpoint: each load raises
    CheckpointError or gives the identical simulator (the shared check does 300)."""
    from spiking import FixedOutDegree, LIF, Network, PoissonSource, Population, Projection
    from spiking.plasticity import STDP
    net = Network(populations=(Population("a", 60, LIF()),), sources=(PoissonSource("d", 30, rate_hz=20.0),),
                  projections=(Projection("d", "a", FixedOutDegree(10), weight=0.3),
                               Projection("a", "a", FixedOutDegree(5), weight=0.05, plasticity=STDP.ember(a_plus=0.01))),
                  dt_ms=1.0, seed=3)
    sim = Simulator(net, backend="numpy")
    sim.run(50.0)
    good = tmp_path / "good.h5"
    sim.save(good)

    def fingerprint(path):
        s = Simulator.load(path, backend="numpy")
        s.run(50.0)
        return s.get_state("a", "v").tobytes(), s.weights("a->a").tobytes()

    ref = fingerprint(good)
    raw = good.read_bytes()
    rng = np.random.default_rng(7)
    refused = same = 0
    for k, off in enumerate(rng.integers(0, len(raw), 150)):
        bad = bytearray(raw)
        bad[off] ^= 0xFF
        pth = tmp_path / f"bad{k}.h5"
        pth.write_bytes(bytes(bad))
        try:
            fp = fingerprint(pth)
        except CheckpointError:
            refused += 1
            continue
        assert fp == ref, f"offset {off} loaded as a different simulator"
        same += 1
    assert refused > 0 and refused + same == 150
