"""The Nicola & Clopath FORCE network option (dimensional Izhikevich network with feedback)."""
import numpy as np
import pytest

from agents.reservoir.config import ConfigError
from agents.reservoir.nicola_clopath import NCConfig, _neuron_step_numba, _neuron_step_numpy, build_weights, sine_demo


def test_nc_config_and_weights():
    with pytest.raises(ConfigError, match="rls_every_steps"):
        NCConfig(rls_every_steps=0)
    cfg = NCConfig(n_neurons=300)
    assert abs(cfg.v_t_mV - (-19.2)) < 1e-9
    W, E, v0 = build_weights(cfg)
    rows = [W[i, W[i] != 0] for i in range(300)]
    assert max(abs(r.mean()) for r in rows if r.size) < 1e-6        # row means removed, as N&C do
    assert np.all(np.abs(E) <= cfg.feedback_Q)


def test_nc_neuron_kernels_agree(rng):
    cfg = NCConfig(n_neurons=50)
    v = cfg.v_r_mV + 90 * rng.random(50)
    u = rng.standard_normal(50)
    I = 1000 + 500 * rng.standard_normal(50)
    v2, u2 = v.copy(), u.copy()
    s1, s2 = np.zeros(50, bool), np.zeros(50, bool)
    args = (cfg.C, cfg.k, cfg.v_r_mV, cfg.v_t_mV, cfg.a, cfg.b, cfg.d, cfg.v_peak_mV, cfg.v_reset_mV, cfg.dt_ms)
    for _ in range(200):
        n1 = _neuron_step_numba(v, u, I, *args, s1)
        n2 = _neuron_step_numpy(v2, u2, I, *args, s2)
        assert n1 == n2
    np.testing.assert_allclose(v, v2, rtol=1e-12)


@pytest.mark.slow
def test_nc_force_learns_a_sine():
    r = sine_demo(NCConfig(n_neurons=1000), total_ms=2500.0, train_ms=(300.0, 1800.0))
    assert r["mae_after"] < 0.5 * r["mae_before"] and r["corr_after"] > 0.8, {k: v for k, v in r.items() if k != "trace"}
