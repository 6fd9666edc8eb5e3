"""Projects at the door: another project's job, dataset or model is answered exactly like an unknown one (404).

The owner is recorded on each object: ``project`` on the job record and in the dataset's metadata, and
``provenance.project`` in a model version's manifest. Objects without an owner (the reference models and their
datasets) are readable by every project; changing them needs the ``admin`` scope. With authentication disabled
(embedded single-user mode) there is no caller project and everything is visible.
"""

from __future__ import annotations

from typing import Any

from services.gateway.auth import current_principal, current_project
from shared.datasets import DatasetNotFound
from shared.errors import InsufficientScope, JobNotFound, ModelNameTaken, ModelNotFound
from shared.model_store import ModelStore, parse_model_ref


def readable(owner: str | None) -> bool:
    caller = current_project()
    return caller is None or owner is None or owner == caller


def writable(owner: str | None) -> bool:
    principal = current_principal()
    if principal is None:
        return True
    return owner == principal.project or (owner is None and principal.allows("admin"))


def model_owner(manifest: dict[str, Any]) -> str | None:
    return (manifest.get("provenance") or {}).get("project")


def check_job(job: dict[str, Any], job_id: str) -> dict[str, Any]:
    if not readable(job.get("project")):
        raise JobNotFound(f"no job {job_id} (unknown, or its results expired)", {"job_id": job_id})
    return job


def check_dataset(meta: dict[str, Any]) -> dict[str, Any]:
    if not readable(meta.get("project")):
        raise DatasetNotFound(f"no dataset {meta['dataset_id']}", {"dataset_id": meta["dataset_id"]})
    return meta


def check_model(manifest: dict[str, Any], ref: str, write: bool = False) -> dict[str, Any]:
    """The manifest if the caller may read (or, with ``write``, change) it; else the 404 of an unknown model.

    A reference model is visible to all, so changing it without ``admin`` is a 403, not a 404.
    """
    owner = model_owner(manifest)
    if not readable(owner):
        raise ModelNotFound(f"no model named '{manifest['name']}'", {"model": ref})
    if write and not writable(owner):
        raise InsufficientScope("changing a reference model needs the 'admin' scope", {"required_scope": "admin"})
    return manifest


def name_owner(models: ModelStore, name: str) -> str | None:
    """A model name belongs to one project: the owner of its newest version (None for an unknown name)."""
    versions = models.versions(name)
    return model_owner(models.manifest(name, versions[-1])) if versions else None


def resolve(models: ModelStore, ref: str, allow_retired: bool = False, write: bool = False) -> dict[str, Any]:
    """``models.resolve`` for the caller: another project's model is unknown, retired or not (no 410 leaks)."""
    name, _ = parse_model_ref(ref)
    if models.versions(name):
        owner = name_owner(models, name)
        if not readable(owner):
            raise ModelNotFound(f"no model named '{name}'", {"model": ref})
    try:
        manifest = models.resolve(ref, allow_retired=allow_retired)
    except ModelNotFound as exc:
        if "known" in exc.details:  # the store lists every name; the caller hears only of its own
            exc.details["known"] = visible_names(models)
        raise
    return check_model(manifest, ref, write)


def claim_name(models: ModelStore, name: str) -> None:
    """Training ``name`` adds a version to it: the name must be new, or the caller's to change."""
    if models.versions(name) and not writable(name_owner(models, name)):
        raise ModelNameTaken(f"the model name '{name}' is taken; choose another", {"name": name})


def visible_names(models: ModelStore) -> list[str]:
    return [n for n in models.names() if readable(name_owner(models, n))]
