"""The reference backend: readable vectorised numpy, the truth the fast kernels are tested against."""
from __future__ import annotations

import numpy as np

from ..kernels import izhikevich as _izh, lif as _lif, noise as _noise, propagate as _prop, sources as _src
from ..kernels import izh_receptors as _rec, lif_receptors as _lifr, monitor as _mon, stdp as _stdp
from . import register


class HostBackend:
    """Arrays are numpy arrays in host memory; subclasses swap the kernel table."""

    name = "numpy"
    host_arrays = True  # arrays are numpy arrays in host memory

    def asarray(self, a):
        # built arrays are fresh, so a contiguous one is adopted without a copy
        return np.ascontiguousarray(a)

    def zeros(self, shape, dtype):
        return np.zeros(shape, dtype=dtype)

    def to_host(self, a) -> np.ndarray:
        return np.asarray(a)

    def synchronize(self) -> None:
        pass

    def all_finite(self, a) -> bool:
        return bool(np.isfinite(a).all())

    def append_spikes(self, spikes, n, idx) -> int:
        """Append host indices ``idx`` to the spike buffer after its first ``n`` entries."""
        spikes[n:n + idx.size] = idx
        return n + idx.size

    def count_spikes(self, counts, spikes, n) -> None:
        np.add.at(counts, spikes[:n], 1)

    def spikes_to_host(self, spikes, n) -> np.ndarray:
        return np.array(spikes[:n])

    def write(self, dst, src) -> None:
        dst[:] = src

    def copy_prefix(self, dst, src, n) -> None:
        dst[:n] = src[:n]

    def izh_multi_step(self, s, p, pulse, cur, scratch, zx, zr):
        """An Izhikevich population with receptors: summed input, the Izhikevich step, receptor decay."""
        self.receptor_input(s.v, s.i_syn, p.r_cond, p.r_e_rev, p.total)
        n = self.izh_step(_rec.inner_state(s, p), p.inner, pulse, p.zero, scratch, zx, zr)
        self.receptor_decay(s.i_syn, s.i_rise, cur, p.r_p11, p.r_rise, p.r_rise_decay, p.r_rise_gain)
        return n


@register("numpy")
class NumpyBackend(HostBackend):
    def __init__(self, **options):
        if options:
            raise TypeError(f"numpy backend takes no options, got {sorted(options)}")

    hash_fill = staticmethod(_noise.hash_fill_np)
    izh_step = staticmethod(_izh.izh_step_np)
    lif_step = staticmethod(_lif.lif_step_np)
    lif_multi_step = staticmethod(_lifr.lif_multi_step_np)
    receptor_input = staticmethod(_rec.receptor_input_np)
    receptor_decay = staticmethod(_rec.receptor_decay_np)
    propagate = staticmethod(_prop.propagate_np)
    propagate_delays = staticmethod(_prop.propagate_delays_np)
    propagate_uniform = staticmethod(_prop.propagate_uniform_np)
    poisson_step = staticmethod(_src.poisson_step_np)
    trace_scale = staticmethod(_stdp.trace_scale_np)
    stdp_post = staticmethod(_stdp.stdp_post_np)
    stdp_pre_transmit = staticmethod(_stdp.stdp_pre_transmit_np)
    modulated_update = staticmethod(_stdp.modulated_update_np)
    modulated_update_leveled = staticmethod(_stdp.modulated_update_leveled_np)
    count_groups = staticmethod(_mon.count_groups_np)
    cascade_decay = staticmethod(_stdp.cascade_decay_np)
    synaptic_scaling = staticmethod(_stdp.synaptic_scaling_np)
    stdp_pre_hetero = staticmethod(_stdp.stdp_pre_hetero_np)
    stdp_post_hetero = staticmethod(_stdp.stdp_post_hetero_np)
