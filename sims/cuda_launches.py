"""Launches and host transfers per simulated step of EMBER's substrate on the cuda backend, step by
step and in device blocks. The counts do not depend on the GPU, so numba's simulator gives them:

    NUMBA_ENABLE_CUDASIM=1 python -m sims.cuda_launches --json [--scale 0.002]

One message is presented (so the lateral store holds synapses), a second one is counted (``message``:
launches and transfers per step while the store learns and creates, step by step), the store is
indexed, then each path
(step by step; device blocks with the kernels one by one; device blocks fused, the default) idles 20
and 60 steps; per step = the difference of the two divided by 40 (per-run costs cancel).
At small scales populations stay silent on some steps, and the step path skips a silent
population's projections, which a device block (not knowing the count on the host) launches anyway.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass

from .output import emit

DIALOGUE = os.path.join(os.path.dirname(__file__), "..", "agents", "ember", "data", "dialogue_ac6.json")


@dataclass(frozen=True)
class LaunchConfig:
    scale: float = 0.002


def run(config: LaunchConfig, seed: int = 0) -> dict:
    from agents.ember.substrate import Substrate, SubstrateConfig
    from encoders.hashing import HashingEmbedder
    sub = Substrate(SubstrateConfig.at_scale(config.scale, seed), backend="cuda", encoder=HashingEmbedder())
    d = json.load(open(DIALOGUE))
    m = d["messages"][0]
    sub.present(m["text"], m["labels"], kinds=d["kinds"], message_id=1)
    sim, be = sub.sim, sub.sim.backend
    m = d["messages"][1]             # a second message, counted: learning and creation run step by step
    l0, t0, s0 = be.launches, be.transfers, sim.t
    sub.present(m["text"], m["labels"], kinds=d["kinds"], message_id=2)
    steps = sim.t - s0
    message = {"steps": steps, "launches_per_step": round((be.launches - l0) / steps, 3),
               "transfers_per_step": round((be.transfers - t0) / steps, 3)}
    for st in sim.growing.values():
        st.housekeeping()            # what the once-a-second step does (the figures then compare with earlier runs)
    out = {"scale": config.scale, "neurons": sum(sub.config.sizes.values()), "lateral_synapses": sub.synapse_count(),
           "message": message}
    for blocks, fused in ((False, True), (True, False), (True, True)):
        sim.block_runs = blocks
        be.device_steps.allow_fused = fused
        sub.idle(0.004)
        c = [(be.launches, be.transfers)]
        for s in (0.02, 0.06):
            sub.idle(s)
            c.append((be.launches, be.transfers))
        d20 = (c[1][0] - c[0][0], c[1][1] - c[0][1])
        d60 = (c[2][0] - c[1][0], c[2][1] - c[1][1])
        out["steps" if not blocks else ("device_blocks" if fused else "device_blocks_one_by_one")] = {
            "why_not_blocks": sim._blocks.why_not(),
            "launches_per_step": (d60[0] - d20[0]) / 40.0, "transfers_per_step": (d60[1] - d20[1]) / 40.0,
            "idle_20_steps": {"launches": d20[0], "transfers": d20[1]},
            "idle_60_steps": {"launches": d60[0], "transfers": d60[1]}}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sims.cuda_launches", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--scale", type=float, default=0.002)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    if not 0 < a.scale <= 1:
        ap.error("need 0 < scale <= 1")
    emit(run(LaunchConfig(scale=a.scale), a.seed), a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
