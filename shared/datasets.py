"""Where datasets live and how every service reads them: plain CSV and JSON, so the gateway can too.

A dataset is immutable and named by the hash of its content (the uploaded bytes plus the column mapping):
``<datasets_dir>/<dataset_id>/dataset.json`` holds its metadata and validation report, ``rows.csv`` the accepted,
standardized rows with the columns ``id, canonical_smiles, pactivity``, then one column per context column (under
the lab's own name) and ``mechanism`` when a mechanism label was mapped. Uploads wait in ``uploads/`` until
the featurizer service ingests them.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

from shared.errors import CausalmolError

ROWS_FILE = "rows.csv"
META_FILE = "dataset.json"
BASE_COLUMNS = ("id", "canonical_smiles", "pactivity")
MECHANISM_COLUMN = "mechanism"


class DatasetNotFound(CausalmolError):
    status, code = 404, "dataset_not_found"


def dataset_id_for(content: bytes, mapping: dict[str, Any], project: str | None = None) -> str:
    """The id of an upload; a project's uploads get their own ids, so the same file is its own dataset in each."""
    digest = hashlib.sha256(content)
    digest.update(json.dumps(mapping, sort_keys=True).encode())
    if project:
        digest.update(b"\0project:" + project.encode())
    return "ds_" + digest.hexdigest()[:24]


def dataset_dir(root: Path, dataset_id: str) -> Path:
    if not dataset_id.startswith("ds_") or not dataset_id[3:].isalnum():
        raise DatasetNotFound(f"no dataset {dataset_id}", {"dataset_id": dataset_id})
    return Path(root) / dataset_id


def read_meta(root: Path, dataset_id: str) -> dict[str, Any]:
    path = dataset_dir(root, dataset_id) / META_FILE
    if not path.is_file():
        raise DatasetNotFound(f"no dataset {dataset_id}", {"dataset_id": dataset_id})
    return json.loads(path.read_text())


def read_rows(root: Path, dataset_id: str) -> list[dict[str, str]]:
    """The accepted rows as strings; ``pactivity`` is a decimal string, context values are kept verbatim."""
    read_meta(root, dataset_id)
    with (dataset_dir(root, dataset_id) / ROWS_FILE).open(newline="") as handle:
        return list(csv.DictReader(handle))
