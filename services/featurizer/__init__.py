"""Featurizer service: parses and standardizes structures, computes model features and fingerprints."""
