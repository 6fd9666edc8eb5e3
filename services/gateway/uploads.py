"""Read uploaded CSV and SDF files into molecule dicts, in plain Python: the gateway holds no RDKit.

SDF records are split on ``$$$$`` and passed on as molblocks; the featurizer service parses them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from werkzeug.datastructures import FileStorage

from shared.errors import InvalidRequest

FORMATS = {".csv": "csv", ".sdf": "sdf", ".sd": "sdf"}
MAX_CSV_COLUMNS = 10_000  # a lab's widest export is far below; a million columns cost the gateway a gigabyte


def upload_format(upload: FileStorage, declared: str | None) -> str:
    """The declared format (``UploadFormSchema`` checked it), else the one the file name says."""
    if declared:
        return declared
    name = (upload.filename or "").lower()
    for suffix, file_format in FORMATS.items():
        if name.endswith(suffix):
            return file_format
    raise InvalidRequest("name the file *.csv or *.sdf, or send a 'format' field", {"filename": upload.filename})


def decode(content: bytes) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidRequest("the file is not UTF-8 text", {"position": exc.start}) from exc


def csv_rows(content: bytes) -> Iterator[list[str]]:
    """The rows of an uploaded CSV, with any line ending (LF, CRLF or a bare CR); an unreadable row is a 400."""
    reader = csv.reader(io.StringIO(decode(content), newline=""))  # newline="": the csv module splits lines
    try:
        for row in reader:
            if len(row) > MAX_CSV_COLUMNS:
                raise InvalidRequest(f"line {reader.line_num} has more than {MAX_CSV_COLUMNS:,} columns",
                                     {"line": reader.line_num, "max_columns": MAX_CSV_COLUMNS})
            yield row
    except csv.Error as exc:
        limit = csv.field_size_limit()
        message = (f"a field on line {reader.line_num} is longer than {limit:,} characters"
                   if "field limit" in str(exc) else f"the CSV cannot be read at line {reader.line_num}")
        raise InvalidRequest(message, {"line": reader.line_num, "reason": str(exc)}) from None


def csv_header(content: bytes) -> list[str]:
    """The header row, once the whole file has been read: a row the workers could not read is a 400 now."""
    rows = csv_rows(content)
    header = next(rows, [])
    for _ in rows:
        pass
    return header


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
    for index, chunk in enumerate(text.split("$$$$")):
        # Drop only what is left of the "$$$$" line: a record's title line may be blank (RDKit writes it so for a
        # molecule without _Name), and stripping it would shift the molblock's header.
        lines = chunk.splitlines()[1 if index else 0 :]
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
        header, *lines = list(csv_rows(content)) or [[]]
        require_columns(header, {"structure": structure, "id": id_column})
        rows = [dict(zip(header, line, strict=False)) for line in lines if line]  # blank lines skipped, as DictReader
        return [{"id": (row.get(id_column) if id_column else None) or str(i), "smiles": row.get(structure) or ""}
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
