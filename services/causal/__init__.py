"""Causal service: judges each prediction's causal validity; the causal engine grows here."""
