"""Scoring service: the online path's second hop, prediction and causal annotation in one process."""
