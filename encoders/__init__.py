"""encoders: text -> embedding -> population code -> spike events.

Submodules (import what you need; nothing heavy is imported here, and torch loads only when
a sentence-transformers model first embeds text):

* ``encoders.base``: the Embedder protocol, input checks, EncoderInputError
* ``encoders.hashing``: HashingEmbedder, deterministic and dependency-free (tests)
* ``encoders.st``: SentenceTransformerEmbedder over packaged models (all-MiniLM-L6-v2), offline
* ``encoders.projection``: seeded random orthogonal lifts to 384/768/1024/1536/4096
* ``encoders.population``: the z-score top-k code (spec section 4) and the power-law baseline
* ``encoders.spikes``: Poisson / regular trains, presentation schedules, ``present(sim, ...)``
* ``encoders.pipeline``: TextToSpikes, the whole chain in one object
* ``encoders.metrics``, ``encoders.evalset``: the retention measurement and its data

See docs/encoders.md.
"""
