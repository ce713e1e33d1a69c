"""The one command-line entry: ``ember <subcommand> [options]``.

Each subcommand is a module in ``sims/`` with a ``main(argv=None)`` function; the
module is imported only when its subcommand is run, so ``ember --help`` stays fast and
torch is never imported by the simulator's subcommands.
"""
from __future__ import annotations

import importlib
import sys

# subcommand -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("sims.ember_demo", "EMBER in five minutes: a short chat, idle, sleep, autonomous actions with their spikes"),
    "chat": ("sims.ember_chat", "talk with EMBER; its spiking memory runs between messages and may act on its own"),
    "idle": ("sims.ember_tools", "let EMBER's memory idle for simulated hours (impulses, actions, nightly sleep)"),
    "sleep": ("sims.ember_tools", "consolidate: replay the episodes since the last sleep"),
    "inspect": ("sims.ember_tools", "what EMBER's memory holds: assemblies, associations, synapses, messages"),
    "audit": ("sims.ember_tools", "list / zero / quarantine / release lateral synapses between two labels"),
    "protocol": ("sims.ember_protocol", "the paper's 3-day, 52-message protocol with SNN-off / shuffled / noise-off controls; a report"),
    "chat-bench": ("sims.ember_chat_bench", "where a chat turn's time goes: the memory's part next to the LLM's"),
    "run": ("sims.experiments", "run one registered experiment with a config and a seed; records manifest + result"),
    "sweep": ("sims.sweep", "a grid / random sweep of an experiment over seeds on Ray, resumable; a table and plots"),
    "sweep-bench": ("sims.sweep_bench", "what a sweep costs beyond its runs: trivial runs through Ray vs in-process"),
    "anchor": ("sims.anchor", "run the Izhikevich anchor network (Brian2's benchmark), print a summary, save a raster"),
    "retention": ("sims.retention", "measure how much discrimination the population codes keep, per embedding dimension"),
    "attention-decode": ("sims.attention_decode", "per-token decode time of GLA / SWA / softmax attention at two contexts"),
    "spiking-lm": ("sims.spiking_lm", "byte-level LM: softmax baseline, hybrid conversion, post-hoc spiking"),
    "actor-check": ("sims.actor_check", "load the configured LLM actor, answer a prompt, choose an action"),
    "predict": ("sims.predict", "reservoir prediction suite: what / when / probability tasks, three learners"),
    "bench-anchor": ("sims.bench_anchor", "side-by-side anchor benchmark against Brian2 (one thread)"),
    "encode-bench": ("sims.encode_bench", "time the population code and the sentence embedder"),
    "store-bench": ("sims.store_bench", "insert and search rates of the agent's SQLite stores"),
    "idle-bench": ("sims.idle_bench", "EMBER's idle regime: 220k noisy LIF neurons, RTF and spontaneous rate"),
}


def _usage() -> str:
    width = max(len(k) for k in SUBCOMMANDS)
    lines = ["usage: ember <subcommand> [options]", "", "subcommands:"]
    for name, (_, text) in SUBCOMMANDS.items():
        lines.append(f"  {name.ljust(width)}  {text}")
    lines.append("")
    lines.append("run `ember <subcommand> --help` for the options of one subcommand")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"ember: unknown subcommand {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[name][0])
    result = module.main([name] + rest) if getattr(module, "MULTI", False) else module.main(rest)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
