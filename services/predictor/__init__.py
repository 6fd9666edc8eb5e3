"""Predictor service: trains models into the artifact store and serves their predictions."""
