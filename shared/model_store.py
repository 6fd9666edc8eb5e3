"""The model artifact store: one folder per immutable version, with a manifest of sha256 checksums.

``<root>/<name>/<version>/manifest.json`` describes the version; every other file in the folder is listed in
the manifest with its checksum, verified before a worker loads it. A version is written into a temporary
folder and renamed into place, so a half-written model is never visible. This module reads JSON only, so the
gateway can resolve models without importing scikit-learn.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared.errors import InvalidRequest, ModelIntegrityError, ModelNotFound, ModelRetired
from shared.jobs import utc_now

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
RETIRED_MARK = "RETIRED"
CAUSAL_PROFILE_FILE = "causal_profile.json"  # a sidecar the causal service attaches after training
PREDICTIONS_FILE = "cv_predictions.csv"  # every row's out-of-fold or held-out prediction (the card page plots it)
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
REF_PATTERN = re.compile(r"(?P<name>[a-z0-9][a-z0-9_.-]{0,63})(@(?P<version>[0-9]{1,9}))?", re.ASCII)
MAX_VERSION_ATTEMPTS = 100


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_model_ref(ref: str) -> tuple[str, int | None]:
    """``"akt1"`` -> ("akt1", None) meaning the newest version; ``"akt1@2"`` -> ("akt1", 2)."""
    match = REF_PATTERN.fullmatch(ref)
    if match is None:
        raise InvalidRequest(f"'{ref}' is not a model reference (name or name@version)", {"model": ref})
    version = match.group("version")
    return match.group("name"), int(version) if version else None


class ModelStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def version_dir(self, name: str, version: int) -> Path:
        return self.root / name / str(version)

    def versions(self, name: str) -> list[int]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit() and (p / MANIFEST).is_file())

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name))

    def manifest(self, name: str, version: int) -> dict[str, Any]:
        folder = self.version_dir(name, version)
        try:
            manifest = json.loads((folder / MANIFEST).read_text())
        except FileNotFoundError:
            raise ModelNotFound(f"model {name}@{version} does not exist", {"model": f"{name}@{version}"}) from None
        manifest["retired"] = (folder / RETIRED_MARK).exists()
        return manifest

    def resolve(self, ref: str, allow_retired: bool = False) -> dict[str, Any]:
        """The manifest a reference names; ``name`` alone is the newest version that is not retired."""
        name, version = parse_model_ref(ref)
        versions = self.versions(name)
        if not versions:
            raise ModelNotFound(f"no model named '{name}'", {"model": ref, "known": self.names()})
        if version is None:
            live = [v for v in versions if not (self.version_dir(name, v) / RETIRED_MARK).exists()]
            if not live:
                raise ModelRetired(f"every version of '{name}' is retired", {"model": ref})
            version = live[-1]
        manifest = self.manifest(name, version)
        if manifest["retired"] and not allow_retired:
            raise ModelRetired(f"model {name}@{version} is retired", {"model": f"{name}@{version}"})
        return manifest

    def verified_file(self, manifest: dict[str, Any], filename: str) -> Path:
        """A file of the version, after checking it against the manifest's checksum."""
        path = self.version_dir(manifest["name"], manifest["version"]) / filename
        expected = manifest["files"].get(filename)
        if expected is None or not path.is_file() or sha256_of(path) != expected:
            raise ModelIntegrityError(
                f"artifact {filename} of {manifest['name']}@{manifest['version']} is missing or corrupt",
                {"file": filename},
            )
        return path

    def write_version(self, name: str, build: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
        """Create the next version of ``name``: ``build`` fills a temporary folder and returns the manifest body.

        The folder becomes visible under its version number only once complete, by one atomic rename.
        """
        parse_model_ref(name)
        (self.root / name).mkdir(parents=True, exist_ok=True)
        staging = self.root / name / f".staging-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            body = build(staging)
            files = {p.name: sha256_of(p) for p in sorted(staging.iterdir()) if p.is_file()}
            version = (self.versions(name) or [0])[-1]
            for _ in range(MAX_VERSION_ATTEMPTS):
                version += 1
                manifest = {**body, "name": name, "version": version, "created_at": utc_now(), "files": files}
                (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
                try:
                    os.rename(staging, self.version_dir(name, version))
                    break
                except OSError as exc:  # another writer (or a stray folder) holds this number: take the next one
                    if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                        raise
            else:
                raise OSError(f"no free version number for {name} after {MAX_VERSION_ATTEMPTS} attempts")
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        logger.info("wrote model %s@%d", name, version)
        return manifest

    def version_made_by(self, name: str, job_id: str) -> dict[str, Any] | None:
        """The version a training job already wrote, so a redelivered training task writes no second one."""
        for version in self.versions(name):
            manifest = self.manifest(name, version)
            if (manifest.get("provenance") or {}).get("job_id") == job_id:
                return manifest
        return None

    def write_sidecar(self, name: str, version: int, filename: str, payload: dict[str, Any]) -> None:
        """Attach a JSON document computed after the version was written (the causal profile), atomically."""
        folder = self.version_dir(name, version)
        staging = folder / f".{filename}.{uuid.uuid4().hex}"
        staging.write_text(json.dumps(payload, indent=1, sort_keys=True))
        os.replace(staging, folder / filename)

    def read_sidecar(self, name: str, version: int, filename: str) -> dict[str, Any] | None:
        path = self.version_dir(name, version) / filename
        return json.loads(path.read_text()) if path.is_file() else None

    def retire(self, name: str, version: int) -> None:
        self.manifest(name, version)
        (self.version_dir(name, version) / RETIRED_MARK).write_text(utc_now())
