"""Score a featurized chunk: predict, then annotate and store, in this process.

Both steps take the estimator from ``services.predictor.loader.get_model_cache()``, one cache per process, so a
model is loaded once per scoring process and the annotation's attributions and tree spread use the very estimator
that predicted, on the features the featurizer sent (no second load, no second trip through Redis).
"""

from __future__ import annotations

import logging

from services.causal.logic import annotate_chunk
from services.predictor.loader import LoadedModel
from services.predictor.logic import predict_chunk
from shared.jobs import JobStore
from shared.messages import ChunkReceipt, FeaturizedChunk

logger = logging.getLogger(__name__)


def score_chunk(message: FeaturizedChunk, store: JobStore | None = None,
                model: LoadedModel | None = None) -> ChunkReceipt:
    """The chunk's predictions and causal validity, written once as the job's results for that chunk."""
    return annotate_chunk(predict_chunk(message, model), store)
