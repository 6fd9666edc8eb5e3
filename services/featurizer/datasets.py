"""Ingest a lab's activity file (CSV or SDF) into an immutable dataset: validated, standardized, de-duplicated.

The on-disk layout is the contract in ``shared.datasets``. Rows that cannot be used are rejected one by one with
a reason; the file as a whole is refused (HTTP 400) only when the column mapping does not fit it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rdkit import Chem

from services.featurizer.logic import STANDARDIZATION, standardize_mol
from shared.datasets import BASE_COLUMNS, MECHANISM_COLUMN, META_FILE, ROWS_FILE, dataset_dir, dataset_id_for, read_meta
from shared.errors import InvalidRequest
from shared.jobs import utc_now

logger = logging.getLogger(__name__)

FORMATS = ("csv", "sdf")
MAPPING_KEYS = ("structure", "activity", "activity_type", "unit", "id", "context", "mechanism")
ACTIVITY_TYPES = ("pactivity", "value")
UNITS_IN_MOLAR = {"M": 1.0, "mM": 1e-3, "uM": 1e-6, "µM": 1e-6, "μM": 1e-6, "nM": 1e-9, "pM": 1e-12}
SDF_TITLE = "_Name"  # the SDF title line: a column, and the default id (as for SDF prediction uploads)
MAX_REJECTIONS_LISTED = 1000
DUPLICATE_POLICY = (
    "rows with the same canonical SMILES and the same context values are merged into one: pActivity is the "
    "arithmetic mean, the first row's id and mechanism label are kept; the same structure in different contexts "
    "stays as separate rows"
)
TAUTOMER_NOTE = (
    "training rows and queries are standardized by the same steps; tautomers are not canonicalized (RDKit's "
    "canonicalizer costs ~16 ms per molecule, worst 1.4 s), so two tautomers of one compound count as two structures"
)


@dataclass
class _Record:
    row: int  # 1-based: the first data row of a CSV, the first record of an SDF
    fields: dict[str, str]
    mol: Chem.Mol | None = None  # SDF only: the record's own structure, sanitized
    unreadable: bool = False  # SDF only: RDKit could not read the record at all


@dataclass
class _Group:
    row: dict[str, str]
    values: list[float] = field(default_factory=list)
    mechanisms: set[str] = field(default_factory=set)


def _read_csv(content: bytes) -> tuple[list[str], list[_Record]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidRequest("the CSV file is not UTF-8 text", {"reason": str(exc)}) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = list(reader.fieldnames or [])
    if not header:
        raise InvalidRequest("the CSV file has no header row", {"available_columns": []})
    records = [_Record(n, {k: v or "" for k, v in r.items() if k is not None}) for n, r in enumerate(reader, 1)]
    return header, records


def _sanitized(mol: Chem.Mol) -> Chem.Mol | None:
    try:
        mol = Chem.Mol(mol)
        Chem.SanitizeMol(mol)
        return Chem.RemoveHs(mol)
    except (RuntimeError, ValueError):  # valence and kekulization errors
        return None


def _read_sdf(content: bytes) -> tuple[list[str], list[_Record]]:
    # Unsanitized, so a record whose chemistry RDKit rejects still yields its properties (id, activity).
    supplier = Chem.ForwardSDMolSupplier(io.BytesIO(content), sanitize=False, removeHs=False)
    header: dict[str, None] = {}
    records = []
    for n, mol in enumerate(supplier, 1):
        if mol is None:
            records.append(_Record(n, {}, unreadable=True))
            continue
        fields = {name: mol.GetProp(name) for name in mol.GetPropNames()}
        if mol.HasProp(SDF_TITLE) and mol.GetProp(SDF_TITLE).strip():
            fields[SDF_TITLE] = mol.GetProp(SDF_TITLE).strip()
        header.update(dict.fromkeys(fields))
        records.append(_Record(n, fields, mol=_sanitized(mol) if mol.GetNumAtoms() else None))
    if not records:
        raise InvalidRequest("the SDF file holds no records", {"available_columns": []})
    return list(header), records


def _check_mapping(mapping: dict[str, Any], header: list[str], file_format: str) -> dict[str, Any]:
    """The mapping with defaults; anything that does not fit the file is one 400 naming every problem."""
    if not isinstance(mapping, dict):
        raise InvalidRequest("the mapping must be an object", {"known_keys": list(MAPPING_KEYS)})
    unknown = sorted(set(mapping) - set(MAPPING_KEYS))
    if unknown:
        raise InvalidRequest(f"unknown mapping keys: {unknown}", {"known_keys": list(MAPPING_KEYS)})
    defaults: dict[str, Any] = {"activity_type": "pactivity", "context": []}
    if file_format == "csv":
        defaults["structure"] = "smiles"  # as the gateway assumes for CSV prediction uploads
    m = {**defaults, **{k: v for k, v in mapping.items() if v is not None}}
    if "activity" not in m:
        raise InvalidRequest("the mapping must name the activity column", {"required_keys": ["activity"]})
    if m["activity_type"] not in ACTIVITY_TYPES:
        raise InvalidRequest(f"unknown activity_type '{m['activity_type']}'", {"known": list(ACTIVITY_TYPES)})
    if m["activity_type"] == "value" and m.get("unit") not in UNITS_IN_MOLAR:
        raise InvalidRequest(f"unknown or missing unit '{m.get('unit')}' for activity_type 'value'",
                             {"known_units": list(UNITS_IN_MOLAR)})
    if m["activity_type"] == "pactivity" and "unit" in m:
        raise InvalidRequest("a unit only applies to activity_type 'value'", {"activity_type": "pactivity"})
    context = m["context"]
    if not isinstance(context, list) or not all(isinstance(c, str) for c in context) or len(set(context)) < len(
        context
    ):
        raise InvalidRequest("context must be a list of distinct column names", {"context": context})
    reserved = sorted(set(context) & {*BASE_COLUMNS, MECHANISM_COLUMN})
    if reserved:
        raise InvalidRequest(f"context columns cannot be named {reserved}: rename them in the file",
                             {"reserved_names": [*BASE_COLUMNS, MECHANISM_COLUMN]})
    named = [m[k] for k in ("structure", "activity", "id", "mechanism") if k in m] + context
    if not all(isinstance(c, str) for c in named):
        raise InvalidRequest("mapped columns must be given by name (strings)", {"mapping": mapping})
    missing = [c for c in dict.fromkeys(named) if c not in header]
    if missing:
        raise InvalidRequest(f"columns not found in the file: {missing}",
                             {"missing_columns": missing, "available_columns": header})
    return m


def _activity(raw: str, m: dict[str, Any]) -> tuple[float | None, str | None]:
    """(pActivity, None) or (None, why not)."""
    raw = raw.strip()
    if not raw:
        return None, "activity is missing"
    try:
        value = float(raw)
    except ValueError:
        return None, f"activity '{raw}' is not a number"
    if not math.isfinite(value):
        return None, f"activity '{raw}' is not a finite number"
    if m["activity_type"] == "pactivity":
        return value, None
    if value <= 0:
        return None, "value must be > 0 to convert to pActivity"
    return -math.log10(value * UNITS_IN_MOLAR[m["unit"]]), None


def _structure(record: _Record, m: dict[str, Any], cache: dict[str, str | None]) -> tuple[str | None, str | None]:
    """(canonical SMILES, None) or (None, why not); standardization is cached per distinct input."""
    mol = None
    if "structure" in m:
        smiles = record.fields.get(m["structure"], "").strip()
        if not smiles:
            return None, "structure is missing"
    elif record.unreadable or record.mol is None:
        return None, "structure could not be parsed"
    else:
        mol = record.mol
        smiles = Chem.MolToSmiles(mol)
    if smiles not in cache:
        parent = standardize_mol(mol or Chem.MolFromSmiles(smiles), STANDARDIZATION)
        cache[smiles] = Chem.MolToSmiles(parent) if parent is not None else None
    return (cache[smiles], None) if cache[smiles] else (None, "structure could not be parsed")


def _validate(records: list[_Record], m: dict[str, Any]) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """The merged rows (in first-seen order) and the validation report."""
    cache: dict[str, str | None] = {}
    groups: dict[tuple[str, ...], _Group] = {}
    rejections: list[dict[str, Any]] = []
    n_rejected = 0
    for record in records:
        row_id = record.fields.get(m.get("id", SDF_TITLE), "").strip() or str(record.row)
        canonical, reason = _structure(record, m, cache)
        pactivity, activity_reason = _activity(record.fields.get(m["activity"], ""), m) if canonical else (None, None)
        reason = reason or activity_reason
        if reason:
            n_rejected += 1
            if len(rejections) < MAX_REJECTIONS_LISTED:
                rejections.append({"row": record.row, "id": row_id, "reason": f"row {record.row}: {reason}"})
            continue
        assert canonical is not None and pactivity is not None  # each helper gives a value or a reason, never neither
        context = [record.fields.get(c, "") for c in m["context"]]
        group = groups.get((canonical, *context))
        if group is None:
            row = {"id": row_id, "canonical_smiles": canonical, **dict(zip(m["context"], context, strict=True))}
            if "mechanism" in m:
                row[MECHANISM_COLUMN] = record.fields.get(m["mechanism"], "")
            group = groups[(canonical, *context)] = _Group(row)
        group.values.append(pactivity)
        group.mechanisms.add(record.fields.get(m.get("mechanism", ""), ""))
    rows = [{**g.row, "pactivity": repr(round(sum(g.values) / len(g.values), 4))} for g in groups.values()]
    merged = [g for g in groups.values() if len(g.values) > 1]
    report = {
        "rows_read": len(records),
        "rows_accepted": len(records) - n_rejected,
        "rows_rejected": n_rejected,
        "rows_written": len(rows),
        "rejections": rejections,
        "duplicates": {
            "groups": len(merged),
            "rows_merged": sum(len(g.values) - 1 for g in merged),  # rows folded into an earlier row
            "mechanism_conflicts": sum(len(g.mechanisms) > 1 for g in merged),
            "policy": DUPLICATE_POLICY,
        },
    }
    return rows, report


def ingest_dataset(
    content: bytes, file_format: str, mapping: dict[str, Any], datasets_dir: Path, filename: str = "",
    project: str | None = None,
) -> dict[str, Any]:
    """Validate, standardize and store an upload as a dataset; returns its metadata (also ``dataset.json``).

    ``mapping``: ``activity`` (required), ``structure`` (CSV: the SMILES column, default "smiles"; SDF: omit to use
    each record's molblock, or name a SMILES property), ``activity_type`` ("pactivity" or "value"), ``unit`` (with
    "value": M, mM, uM/µM, nM, pM), ``id`` (default: the SDF title, else the row number), ``context`` (columns)
    and ``mechanism``. The id is the hash of the bytes and the mapping, so the same upload is the same dataset: it
    is written once (atomically, by renaming a staging folder) and later calls return the stored metadata.
    """
    datasets_dir = Path(datasets_dir)
    dataset_id = dataset_id_for(content, mapping, project)
    target = dataset_dir(datasets_dir, dataset_id)
    if (target / META_FILE).is_file():
        return read_meta(datasets_dir, dataset_id)
    if file_format not in FORMATS:
        raise InvalidRequest(f"unknown file format '{file_format}'", {"known_formats": list(FORMATS)})
    header, records = _read_csv(content) if file_format == "csv" else _read_sdf(content)
    m = _check_mapping(mapping, header, file_format)
    rows, report = _validate(records, m)
    columns = [*BASE_COLUMNS, *m["context"], *([MECHANISM_COLUMN] if "mechanism" in m else [])]
    meta = {
        "dataset_id": dataset_id,
        **({"project": project} if project else {}),  # the owner: other projects never see it
        "filename": filename,
        "format": file_format,
        "sha256": hashlib.sha256(content).hexdigest(),
        "size_bytes": len(content),
        "mapping": mapping,
        "created_at": utc_now(),
        "columns": columns,
        "context_columns": m["context"],
        "mechanism_column": m.get("mechanism"),
        "activity": {"column": m["activity"], "type": m["activity_type"], "unit": m.get("unit"),
                     "stored_as": "pActivity = -log10(activity in mol/L)"},
        "standardization": list(STANDARDIZATION),
        "standardization_note": TAUTOMER_NOTE,
        "row_numbering": "1-based: the first data row of a CSV (the header is not counted), the first SDF record",
        "n_rows": len(rows),
        "report": report,
    }
    datasets_dir.mkdir(parents=True, exist_ok=True)
    staging = datasets_dir / f".staging-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        with (staging / ROWS_FILE).open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        (staging / META_FILE).write_text(json.dumps(meta, indent=1, ensure_ascii=False))
        try:
            os.rename(staging, target)
        except OSError:  # the same upload was ingested concurrently: identical content, keep the first
            shutil.rmtree(staging, ignore_errors=True)
            return read_meta(datasets_dir, dataset_id)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("ingested %s (%s): %d rows read, %d rejected, %d written", dataset_id, filename or file_format,
                report["rows_read"], report["rows_rejected"], report["rows_written"])
    return meta
