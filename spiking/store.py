"""Checkpoints: every piece of simulator state in one HDF5 file, written atomically.

Layout (schema version ``SCHEMA_VERSION``)::

    /            attrs: format, schema_version, t_steps, dt_ms, seed, created
    /description JSON of the Network description (large arrays in /description_arrays)
    /groups/<i>  attrs: name, kind, size, noise_key, ring_rows, gen_ptr
                 params/<name>  constant arrays (scalars as attributes)
                 state/<name>   membranes, recovery, synaptic currents, refractory
                                counters, external input, pulse and current ring buffers
    /projections/<j>  indptr, indices, weights[, delays]; attrs label, pre, post, target, delay_steps
    /injected    spikes queued for future steps

Random numbers are counter-based, so the clock and the stream keys are the whole RNG
state.  Every dataset carries a CRC32 that ``load`` verifies.  ``save`` writes a
temporary file in the same folder, fsyncs it and renames it over the target, so an
interrupted save leaves the previous checkpoint intact.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
import zlib

import numpy as np

FORMAT = "ember-snn-checkpoint"
SCHEMA_VERSION = 1


class CheckpointError(Exception):
    """A checkpoint is missing, unreadable, corrupt or of another schema version."""


# --- description <-> JSON -----------------------------------------------------------

def _types():
    from . import growth, model, params, plasticity
    names = {}
    for mod in (model, params, plasticity, growth):
        for k, v in vars(mod).items():
            if dataclasses.is_dataclass(v) and isinstance(v, type):
                names[k] = v
    return names


def _encode(obj, arrays: list):
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        d = {"__type__": type(obj).__name__}
        for f in dataclasses.fields(obj):
            d[f.name] = _encode(getattr(obj, f.name), arrays)
        return d
    if isinstance(obj, dict):
        return {"__dict__": {k: _encode(v, arrays) for k, v in obj.items()}}
    if isinstance(obj, (np.ndarray, list, tuple)) and not any(
            dataclasses.is_dataclass(x) for x in (obj if not isinstance(obj, np.ndarray) else [])):
        arrays.append(np.asarray(obj))
        return {"__array__": len(arrays) - 1, "tuple": not isinstance(obj, np.ndarray)}
    if isinstance(obj, (list, tuple)):
        return {"__tuple__": [_encode(x, arrays) for x in obj]}
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    return obj


def _decode(obj, arrays, types):
    if isinstance(obj, dict):
        if "__type__" in obj:
            cls = types.get(obj["__type__"])
            if cls is None:
                raise CheckpointError(f"checkpoint names an unknown description type {obj['__type__']!r}")
            kw = {k: _decode(v, arrays, types) for k, v in obj.items() if k != "__type__"}
            return cls(**kw)
        if "__array__" in obj:
            a = arrays[obj["__array__"]]
            return tuple(a.tolist()) if obj.get("tuple") else a
        if "__tuple__" in obj:
            return tuple(_decode(x, arrays, types) for x in obj["__tuple__"])
        if "__dict__" in obj:
            return {k: _decode(v, arrays, types) for k, v in obj["__dict__"].items()}
    return obj


# --- writing -----------------------------------------------------------------------------

def _crc(a: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(a).view(np.uint8).ravel().data) & 0xFFFFFFFF


def _put(h, name: str, a) -> None:
    a = np.ascontiguousarray(a)
    ds = h.create_dataset(name, data=a)
    ds.attrs["crc32"] = _crc(a)


def save(sim, path) -> None:
    import h5py

    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CheckpointError(f"cannot save checkpoint: folder {folder!r} does not exist")
    be = sim.backend
    be.synchronize()
    for g in sim.groups:
        if hasattr(g, "hist_n"):   # the spike-history counts live on the host while running
            be.write(g.state["hist_counts"], g.hist_n)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as h:
            h.attrs["format"] = FORMAT
            h.attrs["schema_version"] = SCHEMA_VERSION
            h.attrs["t_steps"] = int(sim.t)
            h.attrs["dt_ms"] = float(sim.dt_ms)
            h.attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            if sim.net is not None:
                arrays: list = []
                desc = json.dumps(_encode(sim.net, arrays))
                h.attrs["seed"] = int(sim.net.seed)
                h.attrs["description"] = desc
                for k, a in enumerate(arrays):
                    _put(h, f"description_arrays/{k}", a)
            for gi, g in enumerate(sim.groups):
                gg = h.create_group(f"groups/{gi}")
                gg.attrs.update(name=g.name, kind=g.kind, size=g.size, noise_key=np.uint64(g.noise_key),
                                ring_rows=g.ring_rows, gen_ptr=getattr(g, "gen_ptr", 0))
                for k, v in g.params.items():
                    if isinstance(v, np.ndarray) or hasattr(v, "copy_to_host"):
                        _put(gg, f"params/{k}", be.to_host(v))
                    else:
                        gg.attrs[f"param_{k}"] = v
                gg.attrs["param_names"] = json.dumps(list(g.params))
                for k, v in g.state.items():
                    _put(gg, f"state/{k}", be.to_host(v))
            for pj, (p, arr) in enumerate(sim.projections):
                pg = h.create_group(f"projections/{pj}")
                pg.attrs.update(label=p.label, pre=p.pre, post=p.post, target=p.target, delay_steps=p.delay_steps)
                if p.uniform_weight is not None:
                    pg.attrs["uniform_weight"] = np.float32(p.uniform_weight)
                if p.plastic is not None:
                    pg.attrs["plastic"] = json.dumps(_encode(p.plastic, []))
                    rt = sim.growing[pj].rt if pj in sim.growing else sim.plastic[pj]
                    pg.attrs["plastic_runtime"] = json.dumps(rt.scalars())
                if pj in sim.growing:
                    st = sim.growing[pj]
                    pg.attrs["grow"] = json.dumps(_encode(p.grow, []))
                    pg.attrs["grow_scalars"] = json.dumps(st.scalars())
                    for k, v in st.state().items():
                        _put(pg, f"grow_state/{k}", v)
                for k, v in arr.items():
                    _put(pg, k, be.to_host(v))
            h.attrs["modulators"] = json.dumps(sim.modulator_state)
            steps, groups, idx = [], [], []
            for s, items in sim._injected.items():
                for gi, ix in items:
                    steps.append(np.full(ix.size, s, np.int64)); groups.append(np.full(ix.size, gi, np.int32)); idx.append(ix)
            cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)  # noqa: E731
            _put(h, "injected/steps", cat(steps, np.int64))
            _put(h, "injected/groups", cat(groups, np.int32))
            _put(h, "injected/indices", cat(idx, np.int32))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        try:
            dfd = os.open(folder, os.O_RDONLY)
            os.fsync(dfd)
            os.close(dfd)
        except OSError:
            pass
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


# --- reading -----------------------------------------------------------------------------

def _get(h, name: str) -> np.ndarray:
    if name not in h:
        raise CheckpointError(f"checkpoint is missing {name!r}")
    ds = h[name]
    a = ds[()]
    a = np.asarray(a)
    if "crc32" in ds.attrs and _crc(a) != int(ds.attrs["crc32"]):
        raise CheckpointError(f"checkpoint is corrupt: checksum mismatch in {name!r}")
    return a


def load(path, backend: str = "numba", **backend_options):
    import h5py

    from .backends import get_backend
    from .build import BuiltGroup, BuiltProjection
    from .engine import Simulator

    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"no checkpoint at {path!r}")
    try:
        h = h5py.File(path, "r")
    except OSError as e:
        raise CheckpointError(f"{path!r} is not a readable checkpoint (truncated or corrupt): {e}") from None
    try:
        with h:
            if h.attrs.get("format") != FORMAT:
                raise CheckpointError(f"{path!r} is not an {FORMAT} file")
            ver = int(h.attrs.get("schema_version", -1))
            if ver != SCHEMA_VERSION:
                raise CheckpointError(f"{path!r} has checkpoint schema version {ver}; this version of the engine "
                                      f"reads version {SCHEMA_VERSION}")
            net = None
            if "description" in h.attrs:
                n_arr = len(h["description_arrays"]) if "description_arrays" in h else 0
                arrays = [_get(h, f"description_arrays/{k}") for k in range(n_arr)]
                net = _decode(json.loads(h.attrs["description"]), arrays, _types())
            groups, ring = [], {}
            n_groups = len(h["groups"]) if "groups" in h else 0
            for gi in range(n_groups):
                gg = h[f"groups/{gi}"]
                a = gg.attrs
                params = {}
                for k in json.loads(a["param_names"]):
                    params[k] = _get(gg, f"params/{k}") if f"params/{k}" in gg else _scalar(a[f"param_{k}"])
                state = {k: _get(gg, f"state/{k}") for k in gg["state"]} if "state" in gg else {}
                if str(a["kind"]) == "izh" and "general" not in params:  # written before the 2007 form
                    params.update(general=False, k=np.float32(0.04), vr=np.float32(0.0), vt=np.float32(0.0),
                                  inv_c=np.float32(1.0))
                if str(a["kind"]) == "lif" and "use_rise" not in params:  # written before LIF had a rise variable
                    params.update(use_rise=False, p2h=np.float32(0.0), rise_decay=np.float32(0.0),
                                  rise_gain=np.float32(0.0))
                    state.setdefault("i_rise", np.zeros(1, np.float32))
                g = BuiltGroup(str(a["name"]), str(a["kind"]), int(a["size"]), params, state, int(a["noise_key"]))
                g._ring_state = {k: state.pop(k) for k in ("pulse_ring", "current_ring") if k in state}
                g._gen_ptr = int(a["gen_ptr"])
                ring[gi] = int(a["ring_rows"])
                groups.append(g)
            projs = []
            n_proj = len(h["projections"]) if "projections" in h else 0
            for pj in range(n_proj):
                pg = h[f"projections/{pj}"]
                a = pg.attrs
                core = ("indptr", "indices", "weights", "delays")
                bp = BuiltProjection(str(a["label"]), int(a["pre"]), int(a["post"]), str(a["target"]),
                                     _get(pg, "indptr"), _get(pg, "indices"), _get(pg, "weights"),
                                     int(a["delay_steps"]), _get(pg, "delays") if "delays" in pg else None)
                if "uniform_weight" in a:
                    bp.uniform_weight = np.float32(a["uniform_weight"])
                if "plastic" in a:
                    bp.plastic = _decode(json.loads(a["plastic"]), [], _types())
                    bp._runtime = json.loads(a["plastic_runtime"])
                    if "grow" in a:
                        bp.grow = _decode(json.loads(a["grow"]), [], _types())
                        bp._grow = (json.loads(a["grow_scalars"]),
                                    {k: _get(pg, f"grow_state/{k}") for k in pg["grow_state"]})
                    else:
                        bp.extra = {k: _get(pg, k) for k in pg if k not in core}
                projs.append(bp)
            modulators = json.loads(h.attrs.get("modulators", "{}"))
            inj = (_get(h, "injected/steps"), _get(h, "injected/groups"), _get(h, "injected/indices"))
            t = int(h.attrs["t_steps"])
            dt = float(h.attrs["dt_ms"])
    except CheckpointError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{path!r} is not a readable checkpoint (truncated or corrupt): {e}") from None

    sim = Simulator.__new__(Simulator)
    from collections import defaultdict
    sim.net = net
    sim.dt_ms = dt
    sim.backend = get_backend(backend, **backend_options)
    sim._setup(groups, projs, ring)
    be = sim.backend
    for g, bg in zip(sim.groups, groups):
        for k, v in bg._ring_state.items():
            g.state[k] = be.asarray(v)
        if g.kind == "generator":
            g.gen_ptr = bg._gen_ptr
    sim.t = t
    for pj, bp in enumerate(projs):
        if pj in sim.plastic:
            sim.plastic[pj].set_scalars(bp._runtime)
        if pj in sim.growing:
            st = sim.growing[pj]
            st.restore(bp._grow[1], bp._grow[0])
            st.rt.set_scalars(bp._runtime)
    sim.modulator_state = {k: [float(x) for x in v] for k, v in modulators.items()}
    sim.monitors = []
    sim._injected = defaultdict(list)
    steps, gids, idx = inj
    for s in np.unique(steps):
        for gi in np.unique(gids[steps == s]):
            sel = (steps == s) & (gids == gi)
            sim._injected[int(s)].append((int(gi), idx[sel].astype(np.int32)))
    sim.timers = defaultdict(float)
    sim.profile = False
    return sim


def _scalar(v):
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, np.floating) and v.dtype == np.float32:
        return np.float32(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v
