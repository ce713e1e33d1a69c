"""Optional fast backend: the same SmolLM2 GGUF through llama-cpp-python.

llama-cpp-python has no binary wheel here and compiles for ~12 minutes, so it is an
optional extra (``pip install llama-cpp-python==0.3.36`` or the project's ``llama``
extra). Without it, building this actor raises ``BackendUnavailable`` with that hint.
Measured in deps.md section 3: load 0.2 s, ~95 tok/s, 210 MB RSS (vs. ~14-30 tok/s
and ~1 GB for the transformers route).

Action choice uses the same option-likelihood scoring as the transformers backend,
from llama.cpp's logits (``logits_all=True``).
"""
from __future__ import annotations

import json
import random
import time
from pathlib import Path

import numpy as np

from .actor import BackendUnavailable, action_prompt, content_prompt, shuffled_actions
from .config import ActorConfig
from .local import smollm2_gguf_path
from ..types import Action, Context, SurfacedAssociations


class LlamaCppActor:
    name = "local-smollm2-llama.cpp"

    def __init__(self, config: ActorConfig | None = None, model_path: str | Path | None = None):
        self.config = config or ActorConfig(backend="llama_cpp")
        try:
            from llama_cpp import Llama
        except ImportError:
            raise BackendUnavailable(
                "the llama_cpp backend needs llama-cpp-python, which is not installed "
                "(pip install llama-cpp-python==0.3.36; it compiles llama.cpp for ~12 minutes); "
                "or use EMBER_LLM_BACKEND=local") from None
        path = Path(model_path) if model_path else smollm2_gguf_path()
        t0 = time.perf_counter()
        kw = {"model_path": str(path), "n_ctx": self.config.context_tokens, "seed": self.config.seed,
              "verbose": False, "logits_all": True}
        if self.config.n_threads > 0:
            kw["n_threads"] = self.config.n_threads
        self.llm = Llama(**kw)
        self.load_info = {"cache_hit": None, "load_s": time.perf_counter() - t0}
        self._rng = random.Random(self.config.seed)
        self.last_stats: dict = {}

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _chat(self, context: Context, max_tokens: int) -> str:
        t0 = time.perf_counter()
        out = self.llm.create_chat_completion(messages=context.as_chat(), max_tokens=max_tokens,
                                              temperature=self.config.temperature, seed=self.config.seed)
        dt = time.perf_counter() - t0
        n = int(out.get("usage", {}).get("completion_tokens", 0))
        self.last_stats = {"new_tokens": n, "gen_s": dt, "tokens_per_s": n / dt if dt > 0 else 0.0}
        return out["choices"][0]["message"]["content"].strip()

    def respond(self, context: Context) -> str:
        return self._chat(context, self.config.max_new_tokens)

    def _prompt_text(self, context: Context) -> str:
        # SmolLM2's ChatML template, as in the GGUF's chat template
        parts = [f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in context.as_chat()]
        return "".join(parts) + "<|im_start|>assistant\n"

    def score_options(self, context: Context, options) -> dict[str, float]:
        prompt = self.llm.tokenize(self._prompt_text(context).encode("utf-8"), add_bos=False, special=True)
        end = self.llm.tokenize(b"<|im_end|>", add_bos=False, special=True)
        scores = {}
        for opt in options:
            opt_ids = self.llm.tokenize(opt.encode("utf-8"), add_bos=False, special=False) + end
            self.llm.reset()
            self.llm.eval(prompt + opt_ids)
            lp = 0.0
            for i, tok in enumerate(opt_ids):
                row = np.asarray(self.llm.scores[len(prompt) - 1 + i], dtype=np.float64)
                m = row.max()
                lp += float(row[tok] - (m + np.log(np.exp(row - m).sum())))
            scores[opt] = lp
        return scores

    def choose_action(self, trigger: SurfacedAssociations, context: Context) -> Action:
        order = shuffled_actions(self._rng)
        prompt = action_prompt(trigger, order, json_reply=False)
        scores = self.score_options(context.with_user(prompt), order)
        best = max(order, key=lambda o: (scores[o], -order.index(o)))
        content = "" if best == "silent" else self._chat(context.with_user(content_prompt(trigger, best)),
                                                          self.config.max_new_tokens)
        return Action(best, content, "highest option likelihood", tuple(order), prompt,
                      json.dumps({"scores": scores}), self.name)
