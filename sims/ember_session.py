"""What every ``ember`` agent subcommand shares: the state directory, the options that build the
agent, and opening it (``open_agent``)."""
from __future__ import annotations

import os
from dataclasses import dataclass, replace

from encoders.base import make_embedder


def default_state_dir() -> str:
    """The per-user data directory: $EMBER_STATE, else $XDG_DATA_HOME/ember, else ~/.local/share/ember."""
    if os.environ.get("EMBER_STATE"):
        return os.environ["EMBER_STATE"]
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "ember")


@dataclass(frozen=True)
class SessionConfig:
    state: str
    scale: float = 0.05           # a new state directory's network size (1.0 = 220,000 neurons)
    embedder: str = "minilm"      # minilm (packaged all-MiniLM-L6-v2) or hashing (no torch)
    actor: str = "env"            # env (EMBER_LLM_BACKEND, default the local SmolLM2) or scripted
    threads: int = 2
    seed: int = 0


def add_common(ap, scale_help: str = "network size of a new state directory (1.0 = 220,000 neurons)") -> None:
    ap.add_argument("--state", default=default_state_dir(), help="state directory (default %(default)s)")
    ap.add_argument("--scale", type=float, default=0.05, help=scale_help + " (default %(default)s)")
    ap.add_argument("--embedder", default="minilm", choices=["minilm", "hashing"])
    ap.add_argument("--actor", default="env", choices=["env", "scripted"],
                    help="env: the actor configured by EMBER_LLM_* (default: the local SmolLM2); scripted: no model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)


def session_config(args) -> SessionConfig:
    return SessionConfig(state=args.state, scale=args.scale, embedder=args.embedder, actor=args.actor,
                         threads=args.threads, seed=args.seed)


def substrate_config(scale: float, seed: int = 0):
    """The substrate configuration of a new state directory at ``scale``."""
    from agents.ember.substrate import SubstrateConfig
    return SubstrateConfig.at_scale(scale, seed)



def make_actor(kind: str, **overrides):
    """The actor: scripted, or the one configured by EMBER_LLM_* (``overrides`` set ActorConfig
    fields the environment leaves unset, such as a shorter reply for the demo)."""
    if kind == "scripted":
        from agents.ember.llm import ScriptedActor
        return ScriptedActor(actions=("journal", "reach_out", "journal"),
                             replies=("Tell me more.", "That sounds important to you.", "I will remember that."))
    from agents.ember.llm import ActorConfig, make_actor as from_env
    return from_env(ActorConfig.from_env(**overrides)) if overrides else from_env()


def open_agent_or_scripted(cfg: SessionConfig, say, what: str, actor_overrides: dict | None = None, **kw):
    """``open_agent``, except that when the user chose no backend (``--actor env`` and no
    EMBER_LLM_BACKEND) and the default local model is missing (it is a separate ``--no-deps``
    install, README), it says so through ``say`` and goes on with the scripted actor: canned
    replies, while the memory, its impulses and the actions they cause are real. A backend the user
    chose keeps its error. Returns (agent, None or a note naming the stand-in)."""
    from agents.ember.llm.actor import BackendUnavailable
    try:
        return open_agent(cfg, actor_overrides, **kw), None
    except BackendUnavailable as e:
        if cfg.actor != "env" or "EMBER_LLM_BACKEND" in os.environ:
            raise
        say(f"(the local language model is not available: {e}\n {what} goes on with the scripted actor: its "
            "replies are canned; the memory, its impulses and the actions they cause are real)")
        return open_agent(replace(cfg, actor="scripted"), **kw), "scripted (the local model is not installed)"


def open_agent(cfg: SessionConfig, actor_overrides: dict | None = None, **kw):
    """Open (or create) the agent in ``cfg.state``. An existing directory keeps its own configuration
    (``--scale`` and ``--seed`` only shape a new one)."""
    from agents.ember.loop import AgentConfig, EmberAgent
    made = os.path.exists(os.path.join(cfg.state, "manifest.json"))
    config = None if made else AgentConfig(substrate=substrate_config(cfg.scale, cfg.seed))
    return EmberAgent(cfg.state, config=config, actor=make_actor(cfg.actor, **(actor_overrides or {})),
                      embedder=make_embedder(cfg.embedder),
                      threads=cfg.threads, **kw)
