"""A job's molecule results as flat records or a pandas DataFrame, the same columns as the server's CSV export."""

from __future__ import annotations

import logging
from typing import Any

from shared.export import CSV_COLUMNS, flat_result

logger = logging.getLogger(__name__)


def to_records(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One flat dict per molecule (``shared.export.CSV_COLUMNS``), in input order."""
    return [flat_result(result) for result in results]


def to_dataframe(results: list[dict[str, Any]]) -> Any:
    """A pandas DataFrame, one row per molecule in input order. pandas is imported only here."""
    try:
        import pandas as pd
    except ImportError as exc:  # the light install has no pandas
        raise ImportError("to_dataframe needs pandas: pip install pandas") from exc
    return pd.DataFrame(to_records(results), columns=list(CSV_COLUMNS))
