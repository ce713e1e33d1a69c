"""Experiments as data: the registry of scenarios, their configs, and one run recorded as a directory.

    ember run EXPERIMENT [--config FILE.toml] [--set key=value ...] [--seed N] [--out DIR] [--list]

Every scenario of ``sims/`` that a person would sweep is registered here by name, with its frozen
config dataclass and a pure ``run(config, seed) -> dict`` of numbers and paths. Config keys are the
scenario's option names (``N``, ``T``, ``dt`` for the anchor, as on its command line) or its field
names; a nested config is reached with dots (``protocol.scale``). Values are TOML literals
(``--set dt=0.5``, ``--set stdp=true``, ``--set blocks=[200, 200]``) and are checked against the
field's type before anything runs.

A run writes ``DIR/<run-id>/``: ``result.json`` (what ``run`` returned), any plots the scenario
made there, and ``manifest.json`` last, atomically: experiment, config, seed, git commit and dirty
flag, versions, machine, start / end time, wall time, peak RSS and the status (``complete`` or
``failed`` with the error). A directory without a complete manifest is not a finished run.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import hashlib
import importlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
import tomllib
import traceback
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ExperimentError(ValueError):
    """A bad experiment name, config key or value: raised before anything runs."""


@dataclass(frozen=True)
class Experiment:
    name: str
    help: str
    config: str                    # "module:Class", the frozen config dataclass
    run: str                       # "module:function", run(config, seed, out_dir) -> dict
    aliases: dict = field(default_factory=dict)   # option name -> field name (the command line's names)
    volatile: tuple = ()           # result keys that time the run: not compared across runs
    cpus: int = 1                  # what one run declares to a scheduler (Ray)
    defaults: str = ""             # "module:NAME" of a config instance to start from (else the class's defaults)

    def config_class(self):
        return _load(self.config)

    def base(self):
        return _load(self.defaults) if self.defaults else self.config_class()()

    def runner(self):
        return _load(self.run)


def _load(ref: str):
    mod, name = ref.split(":")
    return getattr(importlib.import_module(mod), name)


_TIMING = ("wall_s", "timestamp", "peak_rss_mb")

EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (
    Experiment("anchor", "the Izhikevich anchor network (Brian2's benchmark): rates, CV, speed",
               "sims.anchor:AnchorParams", "sims.experiments:run_anchor",
               aliases={"T": "T_s", "dt": "dt_ms", "we": "we_mV", "wi": "wi_mV", "wmax": "wmax_mV"},
               volatile=("compile_s", "build_s", "sim_wall_s", "sim_walls_all", "other_load_cores",
                         "rss_after_import_mb", "rss_at_start_mb", "rtf", "wall_per_sim_s", "events_per_s",
                         "neuron_steps_per_s") + _TIMING),
    Experiment("idle-bench", "EMBER's idle regime: N noisy LIF neurons, RTF and spontaneous rate",
               "sims.idle_bench:IdleBenchConfig", "sims.experiments:run_plain",
               volatile=("rtf", "ns_per_neuron_step") + _TIMING),
    Experiment("predict", "the reservoir's what / when / probability suite (quick by default)",
               "sims.predict:PredictConfig", "sims.experiments:run_plain",
               volatile=("wall_s", "seconds") + _TIMING),
    Experiment("attention-decode", "per-token decode time of GLA / SWA / softmax at two contexts",
               "sims.attention_decode:DecodeBenchConfig", "sims.experiments:run_seeded",
               volatile=_TIMING),
    Experiment("retention", "discrimination the population codes keep, per embedding dimension",
               "sims.retention:RetentionParams", "sims.experiments:run_retention", volatile=_TIMING),
    Experiment("spiking-lm", "byte-level LM: softmax baseline, hybrid conversion, post-hoc spiking",
               "sims.spiking_lm:LMRunConfig", "sims.experiments:run_lm", volatile=_TIMING),
    Experiment("spiking-lm-quick", "the spiking LM in quick mode (smaller model and budget, minutes)",
               "sims.spiking_lm:LMRunConfig", "sims.experiments:run_lm", volatile=_TIMING,
               defaults="sims.spiking_lm:QUICK"),
    Experiment("encode-bench", "time the population code (and the packaged embedders with model = true)",
               "sims.encode_bench:EncodeBenchConfig", "sims.experiments:run_plain", volatile=_TIMING),
    Experiment("ember-checks", "EMBER's substrate checks (spec section 8) at a scale",
               "sims.ember_checks:ChecksConfig", "sims.experiments:run_plain", volatile=_TIMING, cpus=2),
    Experiment("ember-bench", "EMBER's substrate performance (message, replay, idle, checkpoint)",
               "sims.ember_bench:BenchConfig", "sims.experiments:run_plain", volatile=_TIMING, cpus=2),
    Experiment("ember-protocol", "the paper's 3-day protocol and its controls (report in the run directory)",
               "sims.ember_protocol:Config", "sims.experiments:run_protocol", volatile=_TIMING, cpus=2),
    Experiment("brette2007", "the Brette et al. (2007) CUBA / COBA benchmark networks: rates, CV of ISIs, speed",
               "sims.brette2007:BretteConfig", "sims.experiments:run_plain",
               volatile=("build_s", "sim_wall_s", "rtf") + _TIMING),
    Experiment("probe", "a trivial run (y = 2 x + seed): sweep overhead, failures and lost workers",
               "sims.experiments:ProbeConfig", "sims.experiments:run_probe", volatile=_TIMING),
)}


# -- runners: pure run(config, seed, out_dir) -> dict of numbers and paths ------------------------

def run_plain(config, seed: int, out_dir: str) -> dict:
    """Scenarios with ``run(config, seed)`` in their module."""
    mod = importlib.import_module(type(config).__module__)
    return mod.run(config, seed)


def run_seeded(config, seed: int, out_dir: str) -> dict:
    """Scenarios whose config holds the seed and whose ``run(config)`` takes nothing else."""
    mod = importlib.import_module(type(config).__module__)
    return mod.run(dataclasses.replace(config, seed=seed), progress=False)


def run_anchor(config, seed: int, out_dir: str) -> dict:
    from sims.anchor import run
    return run(dataclasses.replace(config, seed=seed), raster_path=os.path.join(out_dir, "raster.png"))


def run_retention(config, seed: int, out_dir: str) -> dict:
    from sims.retention import run
    return dataclasses.asdict(run(dataclasses.replace(config, seed=seed)))


def run_lm(config, seed: int, out_dir: str) -> dict:
    from sims.spiking_lm import run
    return run(dataclasses.replace(config, seed=seed), progress=False, log=lambda *a, **k: None)


def run_protocol(config, seed: int, out_dir: str) -> dict:
    from sims.ember_protocol import run
    out = run(dataclasses.replace(config, out=os.path.join(out_dir, "report")), seed, say=lambda *a: None)
    return {k: v for k, v in out.items() if k != "runs"}


@dataclass(frozen=True)
class ProbeConfig:
    """A run that costs nothing: what a sweep's own overhead is measured with, and how tests make a
    run fail (``fail``) or lose its worker once (``die_once``: a marker file; the first attempt
    creates it and kills its own process)."""
    x: float = 1.0
    sleep_s: float = 0.0
    fail: bool = False
    die_once: str = ""

    def __post_init__(self):
        if self.sleep_s < 0:
            raise ValueError(f"sleep_s must be >= 0, got {self.sleep_s!r}")


def run_probe(config: ProbeConfig, seed: int, out_dir: str) -> dict:
    if config.die_once and not os.path.exists(config.die_once):
        open(config.die_once, "w").close()
        os.kill(os.getpid(), 9)
    if config.sleep_s:
        time.sleep(config.sleep_s)
    if config.fail:
        raise RuntimeError("probe: asked to fail")
    return {"y": 2.0 * config.x + seed, "x": config.x}


# -- configs from TOML and --set -------------------------------------------------------------------

def get(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ExperimentError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def parse_value(text: str):
    """A --set value as a TOML literal (numbers, true/false, [lists], "strings"), else the bare text."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _coerce(where: str, default, value):
    """``value`` as the type of the field whose default is ``default`` (or a clear error)."""
    kind = type(default)
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
    elif isinstance(default, tuple):
        if isinstance(value, (list, tuple)):
            return tuple(value)
    elif default is None:
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            return value
        kind = None
    else:
        return value
    want = "a number or a string" if kind is None else {bool: "true or false", int: "an integer", float: "a number",
                                                          str: "a string", tuple: "a list"}[kind]
    raise ExperimentError(f"{where} takes {want} (default {default!r}), got {value!r}")


def _field_names(config) -> list[str]:
    """Field names of a config class or instance."""
    return [f.name for f in dataclasses.fields(config)]


def _defaults(obj) -> dict:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def make_config(exp: Experiment, values: dict, origin: str = "config"):
    """The experiment's config with ``values`` ({key: value}, keys as option names, field names or
    dotted paths into nested configs) applied; every key and value checked."""
    return _apply(exp.base(), values, exp.aliases, exp.name, origin)


def _apply(base, values: dict, aliases: dict, name: str, origin: str):
    """``base`` (a config instance) with ``values`` applied; nested configs recursively."""
    fields = _field_names(base)
    nested: dict[str, dict] = {}
    flat: dict = {}
    for key, value in values.items():
        head, _, rest = key.partition(".")
        fname = aliases.get(head, head)
        if fname == "seed" and not rest:
            raise ExperimentError(f"{origin}: the seed is not a config value here; give it as --seed N "
                                  "(or a sweep's seeds = [...])")
        if fname not in fields:
            names = sorted(set(aliases) | set(fields))
            raise ExperimentError(f"{origin}: {name} has no key {key!r}; its keys: {', '.join(names)}")
        default = getattr(base, fname)
        if rest:
            if not dataclasses.is_dataclass(default):
                raise ExperimentError(f"{origin}: {key!r}: {fname} is not a nested config")
            nested.setdefault(fname, {})[rest] = value
        elif dataclasses.is_dataclass(default):
            raise ExperimentError(f"{origin}: {key!r} is a nested config; set its keys as {key}.NAME")
        else:
            flat[fname] = _coerce(f"{origin}: {name}.{key}", default, value)
    for fname, sub in nested.items():
        flat[fname] = _apply(getattr(base, fname), sub, {}, f"{name}.{fname}", origin)
    try:
        return dataclasses.replace(base, **flat)
    except (ValueError, TypeError) as e:
        raise ExperimentError(f"{origin}: {name}: {e}") from None


def overrides(pairs: list[str]) -> dict:
    """``["k=v", ...]`` -> {k: parsed v}."""
    out = {}
    for p in pairs:
        k, eq, v = p.partition("=")
        if not eq or not k.strip():
            raise ExperimentError(f"--set wants key=value, got {p!r}")
        out[k.strip()] = parse_value(v.strip())
    return out


def config_dict(config) -> dict:
    """A config as plain JSON data (tuples as lists, nested configs as tables)."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


# -- one run, recorded ---------------------------------------------------------------------------

def _git() -> dict:
    try:
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                                    capture_output=True, text=True, timeout=10).stdout.strip()) if commit else None
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    return {"commit": commit, "dirty": dirty}


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version
    out = {"python": platform.python_version()}
    for pkg in ("numpy", "numba", "torch", "ray"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def _machine() -> dict:
    mem = None
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    except (ValueError, OSError):
        pass
    return {"host": platform.node(), "system": platform.system(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "memory_gib": mem}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def write_json(path: str, obj) -> None:
    """Atomically: a temporary file beside it, flushed and fsynced, then renamed over it."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, default=_jsonable)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _jsonable(o):
    try:
        import numpy as np
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:
        pass
    if dataclasses.is_dataclass(o):
        return dataclasses.asdict(o)
    return str(o)


def with_seed(config, seed: int):
    """A config that holds its own seed field gets the run's seed there, so that the manifest
    records what ran."""
    return dataclasses.replace(config, seed=seed) if "seed" in _field_names(config) else config


def run_id(name: str, config, seed: int) -> str:
    """A run's directory name: the experiment, the seed and a hash of the config, so that the same
    (experiment, config, seed) always lands in the same place (sweeps skip what is complete)."""
    config = with_seed(config, seed)
    h = hashlib.sha256(json.dumps([name, config_dict(config), seed], sort_keys=True).encode()).hexdigest()[:10]
    return f"{name}-s{seed}-{h}"


def read_manifest(run_dir: str) -> dict | None:
    try:
        with open(os.path.join(run_dir, "manifest.json"), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def is_complete(run_dir: str) -> bool:
    m = read_manifest(run_dir)
    return bool(m) and m.get("status") == "complete" and os.path.exists(os.path.join(run_dir, "result.json"))


def run_one(name: str, config, seed: int, run_dir: str) -> dict:
    """Run one experiment into ``run_dir`` and return its manifest (status complete or failed)."""
    exp = get(name)
    config = with_seed(config, seed)
    os.makedirs(run_dir, exist_ok=True)
    for stale in ("manifest.json", "result.json"):
        if os.path.exists(os.path.join(run_dir, stale)):
            os.remove(os.path.join(run_dir, stale))
    manifest = {"experiment": name, "config": config_dict(config), "seed": seed, "run_id": os.path.basename(run_dir),
                "git": _git(), "versions": _versions(), "machine": _machine(), "pid": os.getpid(),
                "start": _now()}
    t0 = time.perf_counter()
    try:
        result = exp.runner()(config, seed, run_dir)
        write_json(os.path.join(run_dir, "result.json"), result)
        manifest["status"] = "complete"
    except Exception as e:            # a failed run is recorded, not lost
        manifest["status"] = "failed"
        manifest["error"] = f"{type(e).__name__}: {e}"
        manifest["traceback"] = traceback.format_exc()[-4000:]
    manifest["end"] = _now()
    manifest["wall_s"] = time.perf_counter() - t0
    manifest["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    write_json(os.path.join(run_dir, "manifest.json"), manifest)
    return manifest


def load_toml(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise ExperimentError(f"cannot read {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ExperimentError(f"{path} is not valid TOML: {e}") from None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="ember run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("experiment", nargs="?", help="a registered experiment (--list shows them)")
    ap.add_argument("--config", help="a TOML file of config values (top-level keys, or a sweep spec's [base])")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="one config value (repeatable)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs", help="runs directory (default %(default)s)")
    ap.add_argument("--list", action="store_true", help="list the experiments and their config keys")
    a = ap.parse_args(argv)
    if a.list or not a.experiment:
        for e in EXPERIMENTS.values():
            keys = ", ".join(f"{k}={v!r}" for k, v in _defaults(e.base()).items())
            alias = "".join(f"\n    option names: {', '.join(f'{k} = {v}' for k, v in e.aliases.items())}"
                            for _ in [0] if e.aliases)
            print(f"{e.name}: {e.help}\n    {keys}{alias}")
        return 0
    try:
        exp = get(a.experiment)
        values = {}
        if a.config:
            d = load_toml(a.config)
            values.update(d.get("base", {}) if "experiment" in d else d)
        values.update(overrides(a.set))
        config = make_config(exp, values, origin=a.config or "--set")
    except ExperimentError as e:
        print(f"ember run: {e}", file=sys.stderr)
        return 2
    run_dir = os.path.join(a.out, run_id(exp.name, config, a.seed))
    print(f"ember run: {exp.name}, seed {a.seed} -> {run_dir}", file=sys.stderr)
    m = run_one(exp.name, config, a.seed, run_dir)
    if m["status"] != "complete":
        print(f"ember run: {exp.name} failed: {m['error']} (manifest in {run_dir})", file=sys.stderr)
        return 1
    print(json.dumps({"run_dir": run_dir, "wall_s": m["wall_s"], "status": m["status"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
