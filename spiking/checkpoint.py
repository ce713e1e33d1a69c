"""Checkpoints: a network's description and a snapshot of its state in one HDF5 file, written
atomically and read back as data (schema version ``SCHEMA_VERSION``).

Layout (version 2)::

    /            attrs: format, schema_version (also inside /meta, which is what counts)
    /meta        uint8: JSON {format, schema_version, dt_ms, seed, t_steps, created, description,
                 scalars, arrays: {key: [dtype, shape]}, n_description_arrays}
    /description_arrays/<k>   large arrays of the description (per-neuron parameters, ...)
    /state/<key>              the snapshot's arrays (keys as in ``spiking.state``)

Every dataset carries a CRC32 (``crc32`` attribute) that ``load`` verifies; every scalar (the
clock, dt, stream keys, plasticity counters, modulator levels, the description) lives inside the
checksummed /meta, and /meta lists every array with its dtype and shape. Loading builds a fresh
simulator from the description (connectivity comes back from the seed, so static synapses are not
written) and restores the snapshot into it, which refuses any array whose key, shape or dtype does
not match the network. Whatever goes wrong while reading becomes a ``CheckpointError`` naming the
file.

``save`` writes ``.<name>.tmp-<pid>`` in the same folder, fsyncs it and renames it over the
target, so an interrupted save leaves the previous checkpoint intact; temporary files that a
killed save left behind are removed by the next save into that folder.

Version 1 files (one group per population with attributes, no checksummed scalars) still load:
their arrays are mapped onto a version-2 snapshot. The Izhikevich ``noise_sigma`` of a version-1
description was the per-step std; it is converted to the per-1-ms meaning and the stored per-step
value is kept exactly.
"""
from __future__ import annotations

import dataclasses
import glob
import json
import os
import time
import zlib

import numpy as np

FORMAT = "ember-snn-checkpoint"
SCHEMA_VERSION = 2
READS = (1, 2)


class CheckpointError(Exception):
    """A checkpoint is missing, unreadable, corrupt, of another schema version, or does not match
    its own description."""


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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _clean_stale_temporaries(folder: str, base: str) -> int:
    """Remove ``.<base>.tmp-<pid>`` files of saves whose process is gone."""
    removed = 0
    for f in glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(base)}.tmp-*")):
        tail = f.rsplit(".tmp-", 1)[-1]
        if not tail.isdigit() or int(tail) == os.getpid() or _pid_alive(int(tail)):
            continue
        try:
            os.remove(f)
            removed += 1
        except OSError:
            pass
    return removed


def write(path, net, state, extra: dict | None = None) -> None:
    """Write ``net`` (a ``spiking.Network``) and ``state`` (a ``SimState`` of a simulator of it)
    to ``path`` atomically. ``Simulator.save`` calls this. ``extra``: a JSON-able dict that a model
    built on the engine keeps with the same checkpoint (checksummed like the rest; ``read`` returns it as
    the snapshot's ``extra``), so that its own state and the simulator's are saved as one file."""
    import h5py

    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CheckpointError(f"cannot save checkpoint: folder {folder!r} does not exist")
    base = os.path.basename(path)
    _clean_stale_temporaries(folder, base)
    desc_arrays: list = []
    desc = _encode(net, desc_arrays)
    meta = {"format": FORMAT, "schema_version": SCHEMA_VERSION, "dt_ms": float(net.dt_ms), "seed": int(net.seed),
            "t_steps": int(state.t), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "description": desc,
            "scalars": state.scalars, "n_description_arrays": len(desc_arrays),
            "arrays": {k: [a.dtype.str, list(a.shape)] for k, a in state.arrays.items()},
            "extra": extra if extra is not None else {}}
    tmp = os.path.join(folder, f".{base}.tmp-{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as h:
            h.attrs["format"] = FORMAT
            h.attrs["schema_version"] = SCHEMA_VERSION
            _put(h, "meta", np.frombuffer(json.dumps(meta).encode(), np.uint8))
            for k, a in enumerate(desc_arrays):
                _put(h, f"description_arrays/{k}", a)
            for k, a in state.arrays.items():
                _put(h, f"state/{k}", a)
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
    """A dataset's contents, verified against its checksum (a dataset without one is refused)."""
    if name not in h:
        raise CheckpointError(f"checkpoint is missing {name!r}")
    ds = h[name]
    if "crc32" not in ds.attrs:
        raise CheckpointError(f"checkpoint dataset {name!r} has no checksum")
    a = np.asarray(ds[()])
    if _crc(a) != int(ds.attrs["crc32"]):
        raise CheckpointError(f"checkpoint is corrupt: checksum mismatch in {name!r}")
    return a


def _datasets(h, root: str) -> list:
    import h5py

    out = []
    if root in h:
        h[root].visititems(lambda name, obj: out.append(name) if isinstance(obj, h5py.Dataset) else None)
    return out


def _read_v2(h):
    from .state import SimState

    raw = _get(h, "meta")
    try:
        meta = json.loads(raw.astype(np.uint8).tobytes().decode())
    except (UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"checkpoint metadata is not valid JSON: {e}") from None
    if meta.get("format") != FORMAT or meta.get("schema_version") != 2:
        raise CheckpointError("checkpoint metadata names another format or version")
    n_desc = int(meta["n_description_arrays"])
    if sorted(_datasets(h, "description_arrays")) != sorted(str(k) for k in range(n_desc)):
        raise CheckpointError("checkpoint description arrays do not match the metadata")
    desc_arrays = [_get(h, f"description_arrays/{k}") for k in range(n_desc)]
    net = _decode(meta["description"], desc_arrays, _types())
    listed = meta["arrays"]
    if sorted(_datasets(h, "state")) != sorted(listed):
        raise CheckpointError("checkpoint state arrays do not match the metadata's list")
    arrays = {}
    for k, (dtype, shape) in listed.items():
        a = _get(h, f"state/{k}")
        if a.dtype.str != dtype or list(a.shape) != list(shape):
            raise CheckpointError(f"checkpoint array {k!r} is {a.dtype.str} {list(a.shape)}, the metadata says "
                                  f"{dtype} {shape}")
        arrays[k] = a
    scalars = meta["scalars"]
    if scalars.get("t") != meta.get("t_steps"):
        raise CheckpointError("checkpoint clock is inconsistent")
    state = SimState(arrays, scalars)
    state.extra = meta.get("extra", {})
    return net, float(meta["dt_ms"]), state


def _read_v1(h):
    """A version-1 file as (description, dt, snapshot)."""
    from .model import Population
    from .params import Izhikevich
    from .state import PLASTIC_STATE, SimState

    if "description" not in h.attrs:
        raise CheckpointError("version-1 checkpoint without a network description")
    n_arr = len(h["description_arrays"]) if "description_arrays" in h else 0
    net = _decode(json.loads(h.attrs["description"]), [_get(h, f"description_arrays/{k}") for k in range(n_arr)],
                  _types())
    dt = float(h.attrs["dt_ms"])
    if dt > 0 and dt != 1.0 and hasattr(net, "populations"):   # Izhikevich noise_sigma was per step
        pops = tuple(dataclasses.replace(p, model=dataclasses.replace(
            p.model, noise_sigma=p.model.noise_sigma / (1.0 / dt) ** 0.5))
            if isinstance(p, Population) and isinstance(p.model, Izhikevich) and p.model.noise_sigma > 0 else p
            for p in net.populations)
        net = dataclasses.replace(net, populations=pops)
    arrays, scalars = {}, {"t": int(h.attrs["t_steps"])}
    for gi in range(len(h["groups"]) if "groups" in h else 0):
        gg = h[f"groups/{gi}"]
        a = gg.attrs
        for k in (gg["state"] if "state" in gg else []):
            arrays[f"groups/{gi}/{k}"] = _get(gg, f"state/{k}")
        sc = {"noise_key": int(a["noise_key"]), "gen_ptr": int(a["gen_ptr"])}
        kind = str(a["kind"])
        if kind == "poisson":
            arrays[f"groups/{gi}/p"] = _get(gg, "params/p")
        if kind in ("izh", "lif"):
            sc["sigma"] = float(a["param_sigma"])
            if "param_use_ext" in a:
                sc["use_ext"] = bool(a["param_use_ext"])
            if kind == "lif" and f"groups/{gi}/i_rise" not in arrays:   # written before LIF had a rise variable
                arrays[f"groups/{gi}/i_rise"] = np.zeros(1, np.float32)
        scalars[f"groups/{gi}"] = sc
    for pj in range(len(h["projections"]) if "projections" in h else 0):
        pg = h[f"projections/{pj}"]
        a = pg.attrs
        sc = {"uniform": "uniform_weight" in a, "edited": False}
        if "plastic" in a:
            sc["runtime"] = json.loads(a["plastic_runtime"])
            if "grow" in a:
                sc["grow"] = json.loads(a["grow_scalars"])
                for k in pg["grow_state"]:
                    arrays[f"projections/{pj}/grow/{k}"] = _get(pg, f"grow_state/{k}")
            else:
                for k in PLASTIC_STATE:
                    if k in pg:
                        arrays[f"projections/{pj}/{k}"] = _get(pg, k)
        elif "uniform_weight" not in a:   # version 1 wrote static weights: carry them (audit edits survive)
            arrays[f"projections/{pj}/weights"] = _get(pg, "weights")
            sc["edited"] = True
        scalars[f"projections/{pj}"] = sc
    scalars["modulators"] = {k: {"tonic": float(v[0]), "phasic": float(v[1])}
                             for k, v in json.loads(h.attrs.get("modulators", "{}")).items()}
    for k in ("steps", "groups", "indices"):
        arrays[f"injected/{k}"] = _get(h, f"injected/{k}")
    return net, dt, SimState(arrays, scalars)


def read(path):
    """(network description, dt_ms, snapshot) of a checkpoint file, verified; no simulator is built
    (``Simulator.load`` builds one from the description and restores the snapshot into it)."""
    import h5py

    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"no checkpoint at {path!r}")
    try:
        with h5py.File(path, "r") as h:
            if h.attrs.get("format") != FORMAT:
                raise CheckpointError(f"{path!r} is not an {FORMAT} file")
            ver = int(h.attrs.get("schema_version", -1))
            if ver not in READS:
                raise CheckpointError(f"{path!r} has checkpoint schema version {ver}; this version of the engine "
                                      f"reads versions {list(READS)}")
            return _read_v2(h) if ver == 2 else _read_v1(h)
    except CheckpointError as e:
        msg = str(e)
        raise CheckpointError(msg if path in msg else f"{path!r}: {msg}") from None
    except Exception as e:   # h5py raises OSError, RuntimeError, KeyError, ValueError, ... on damaged files
        raise CheckpointError(f"{path!r} is not a readable checkpoint (truncated or corrupt): "
                              f"{type(e).__name__}: {e}") from None
