"""Checkpoints: bit-exact continuation, and nothing lost on bad files or interrupted saves."""
import os

import h5py
import numpy as np
import pytest

from spiking import Simulator, SpikeTrains
from spiking import store
from spiking.store import CheckpointError

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
        ds = h["groups/0/state/v"]
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
