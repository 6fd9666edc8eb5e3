"""Read uploaded CSV and SDF files into molecule dicts, in plain Python: the gateway holds no RDKit.

SDF records are split on ``$$$$`` and passed on as molblocks; the featurizer service parses them.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from werkzeug.datastructures import FileStorage

from shared.errors import InvalidRequest

FORMATS = {".csv": "csv", ".sdf": "sdf", ".sd": "sdf"}


def upload_format(upload: FileStorage, declared: str | None) -> str:
    if declared:
        if declared not in ("csv", "sdf"):
            raise InvalidRequest("format must be csv or sdf", {"fields": {"format": ["must be csv or sdf"]}})
        return declared
    name = (upload.filename or "").lower()
    for suffix, file_format in FORMATS.items():
        if name.endswith(suffix):
            return file_format
    raise InvalidRequest("name the file *.csv or *.sdf, or send a 'format' field", {"filename": upload.filename})


def mapping_field(raw: str | None) -> dict[str, Any]:
    try:
        mapping = json.loads(raw) if raw else {}
    except json.JSONDecodeError as exc:
        raise InvalidRequest("the 'mapping' field is not JSON", {"fields": {"mapping": [str(exc)]}}) from exc
    if not isinstance(mapping, dict):
        raise InvalidRequest("the 'mapping' field must be a JSON object", {"fields": {"mapping": ["not an object"]}})
    return mapping


def decode(content: bytes) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidRequest("the file is not UTF-8 text", {"position": exc.start}) from exc


def csv_header(content: bytes) -> list[str]:
    return next(csv.reader(io.StringIO(decode(content))), [])


def require_columns(available: list[str], wanted: dict[str, str | None]) -> None:
    """400 naming each mapped column the file lacks, and listing the columns it has."""
    missing = {role: column for role, column in wanted.items() if column and column not in available}
    if missing:
        raise InvalidRequest(
            f"the file has no column {', '.join(repr(c) for c in missing.values())}",
            {"missing": missing, "available_columns": available},
        )


def sdf_records(text: str) -> list[tuple[str, dict[str, str]]]:
    """(molblock, properties) per record."""
    records = []
    for chunk in text.split("$$$$"):
        lines = chunk.strip("\r\n").splitlines()
        if not any(line.strip() for line in lines):
            continue
        end = next((i for i, line in enumerate(lines) if line.startswith("M  END")), len(lines) - 1)
        properties: dict[str, str] = {}
        name = None
        for line in lines[end + 1 :]:
            if line.startswith(">") and "<" in line:
                name = line[line.index("<") + 1 : line.rindex(">")]
                properties[name] = ""
            elif name is not None and line.strip():
                properties[name] = (properties[name] + "\n" + line).strip()
        records.append(("\n".join(lines[: end + 1]) + "\n", properties))
    return records


def molecules_from_upload(content: bytes, file_format: str, mapping: dict[str, Any]) -> list[dict[str, str]]:
    """Molecules to predict: ``{"id", "smiles"}`` from CSV, ``{"id", "molblock"}`` (or smiles) from SDF."""
    id_column, structure = mapping.get("id"), mapping.get("structure")
    if file_format == "csv":
        structure = structure or "smiles"
        rows = list(csv.DictReader(io.StringIO(decode(content))))
        require_columns(csv_header(content), {"structure": structure, "id": id_column})
        return [{"id": (row.get(id_column) if id_column else None) or str(i), "smiles": row[structure] or ""}
                for i, row in enumerate(rows)]
    molecules = []
    for i, (molblock, properties) in enumerate(sdf_records(decode(content))):
        title = molblock.splitlines()[0].strip() if molblock.strip() else ""
        molecule_id = properties.get(id_column, "") if id_column else title
        if structure:
            molecules.append({"id": molecule_id or str(i), "smiles": properties.get(structure, "")})
        else:
            molecules.append({"id": molecule_id or str(i), "molblock": molblock})
    return molecules
