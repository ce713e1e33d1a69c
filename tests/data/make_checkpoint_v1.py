"""Makes tests/data/checkpoint_v1.h5 and checkpoint_v1_next.npz with the engine as it was at schema
version 1 (commit 0b19b3d, before checkpoints became data and before Izhikevich noise_sigma meant per 1 ms). Kept so that the test
that version-1 files still load has a fixture made by the old code; it is not run by the suite.

    python tests/data/make_checkpoint_v1.py
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from test_backends import mixed_network  # noqa: E402

from spiking import (LIF, FixedOutDegree, Network, Population, Projection, Simulator, SpikeTrains)  # noqa: E402
from spiking.growth import Grow  # noqa: E402
from spiking.plasticity import STDP, Cascade, Modulator  # noqa: E402


def network():
    base = mixed_network()
    rule = STDP.ember(a_plus=0.004, w_max=1.0, cascade=Cascade())
    plastic = STDP(a_plus=0.01, a_minus=0.0105, w_max=0.5, modulated=True, tau_e_ms=200.0)
    extra = (Projection("C", "C", Grow(w_create=0.006, w_prune=0.003, initial_capacity=8), weight=0.0, delay_ms=1.0,
                        plasticity=rule, name="grow"),
             Projection("L", "L", FixedOutDegree(5), weight=0.1, delay_ms=1.0, plasticity=plastic, name="stdp"))
    return Network(populations=base.populations + (Population("C", 60, LIF(noise_sigma=0.2)),), sources=base.sources, projections=base.projections + extra,
                   modulators=(Modulator("dopamine", tonic=1.0),), dt_ms=base.dt_ms, seed=base.seed)


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    sim = Simulator(network(), backend="numpy")
    sim.run(300.0)
    sim.set_modulator("dopamine", pulse=0.5)
    sim.inject_spikes("L", [1, 2, 3], at_step=sim.t + 10)
    sim.save(os.path.join(here, "checkpoint_v1.h5"))
    mons = {p: sim.add_monitor(SpikeTrains(p)) for p in ("L", "Z")}
    sim.run(100.0)
    np.savez(os.path.join(here, "checkpoint_v1_next.npz"), L_steps=mons["L"].steps, L_idx=mons["L"].indices,
             Z_steps=mons["Z"].steps, Z_idx=mons["Z"].indices, grow_w=sim.weights("grow"),
             stdp_w=sim.weights("stdp"), v_L=sim.get_state("L", "v"), v_Z=sim.get_state("Z", "v"))
    print("synapses grown:", sim.store_stats("grow")["synapses"], "spikes L:", mons["L"].steps.size)
