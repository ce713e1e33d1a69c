"""EMBER, the hybrid memory agent: the language side (actors, soul, stores, guardrails,
extraction) and, joined to it, the spiking memory substrate."""
