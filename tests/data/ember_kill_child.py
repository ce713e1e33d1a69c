"""Child process of the kill -9 test (tests/test_ember_agent.py): open the agent in a state
directory, send one message, then idle with autosave, printing the simulated time every second."""
import sys

from agents.ember.llm import ScriptedActor
from agents.ember.loop import AgentConfig, EmberAgent
from agents.ember.substrate import SubstrateConfig
from encoders.hashing import HashingEmbedder

state, k = sys.argv[1], int(sys.argv[2])
cfg = AgentConfig(substrate=SubstrateConfig(scale=0.02, max_labels=7, autosave_min=0.05))   # autosave every 3 s
ag = EmberAgent(state, config=cfg, actor=ScriptedActor(), embedder=HashingEmbedder(), threads=1)
print(f"open {ag.substrate.t_s:.3f} {ag.substrate.last_message_id}", flush=True)
ag.chat(f"Message {k}: Maria talked about her garden and the marathon again.")
print(f"chat {ag.substrate.t_s:.3f}", flush=True)
while True:
    ag.idle(1.0)
    print(f"t {ag.substrate.t_s:.3f}", flush=True)
