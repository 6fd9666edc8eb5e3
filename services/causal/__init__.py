"""Causal service: judges each prediction's causal validity (applicability domain today; the causal engine grows here)."""
