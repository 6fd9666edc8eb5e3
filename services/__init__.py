"""The causalmol services: gateway, featurizer, predictor and causal, one domain folder each."""
