"""What the chemist's pages show, gathered from the card, the profile, the held-out predictions and a job's results.

No RDKit here: structures are drawn by ``featurize.depict`` on the featurizer queue and cached as job attachments.
"""

from __future__ import annotations

import csv
import io
import logging
from functools import lru_cache
from typing import Any

from services.gateway import service
from services.gateway.registry_service import model_card
from shared.depiction import DEPICT_TASK, MAX_ATOMS, TOO_LARGE, attachment_name, depiction_item
from shared.errors import CausalmolError, InvalidRequest
from shared.jobs import PREDICTION, SUCCEEDED, JobStore
from shared.model_store import CAUSAL_PROFILE_FILE, MANIFEST, PREDICTIONS_FILE, RETIRED_MARK, ModelStore
from shared.verdicts import verdict_rules

logger = logging.getLogger(__name__)
DEPICTION_TIMEOUT = 30.0  # seconds a page waits for the featurizer to draw its structures
MAX_FOREST_ROWS = 40  # substructures in the forest plot: the most precisely estimated adjusted effects
MAX_CHEMOTYPES = 5


class ResultNotFound(CausalmolError):
    status, code = 404, "result_not_found"


class NoStructure(CausalmolError):
    status, code = 422, "no_structure"


class StructureTooLarge(CausalmolError):
    status, code = 422, "structure_too_large"


class DepictionNotReady(CausalmolError):
    status, code = 503, "depiction_not_ready"


def held_out_rows(models: ModelStore, manifest: dict[str, Any]) -> list[dict[str, float]]:
    """The held-out split's measured and predicted pActivity (and similarity, for cards written since it is kept)."""
    if PREDICTIONS_FILE not in manifest.get("files", {}):
        return []
    text = models.verified_file(manifest, PREDICTIONS_FILE).read_text()
    rows = [r for r in csv.DictReader(io.StringIO(text)) if r["side"] == "held_out"]
    return [{"measured": float(r["pactivity"]), "predicted": float(r["prediction"]),
             **({"similarity": float(r["similarity"])} if r.get("similarity") else {})} for r in rows]


def _forest_rows(profile: dict[str, Any]) -> list[dict[str, Any]]:
    effects = [e for e in profile.get("effects", []) if (e.get("adjusted_effect") or {}).get("ci")]
    effects.sort(key=lambda e: e["adjusted_effect"]["ci"][1] - e["adjusted_effect"]["ci"][0])
    return effects[:MAX_FOREST_ROWS]


def _mechanisms(profile: dict[str, Any]) -> list[dict[str, Any]]:
    names = {e["smarts"]: e.get("name") for e in profile.get("effects", [])}
    items = []
    for item in (profile.get("mechanisms") or {}).get("items", []):
        chemotypes = item.get("chemotypes") or {}
        items.append({
            "id": item["id"], "label": item["label"], "size": item.get("size"), "focus": item.get("focus"),
            "mean_pactivity": item.get("mean_pactivity"),
            "treatments": [{**t, "name": names.get(t["smarts"])}
                           for t in chemotypes.get("enriched_treatments", [])[:MAX_CHEMOTYPES]],
            "scaffolds": chemotypes.get("scaffolds", [])[:MAX_CHEMOTYPES],
        })
    return items


def _conditions(profile: dict[str, Any]) -> list[tuple[str, float]]:
    """Cross-validated MAE overall and where the verdict's reliability conditions hold (the profile's levels)."""
    uncertainty, coverage = profile.get("uncertainty") or {}, profile.get("coverage") or {}
    pairs = [("all (out of fold)", uncertainty.get("mae_out_of_fold") or coverage.get("mae_out_of_fold")),
             ("trees agree (spread at or below its level)", uncertainty.get("mae_confident")),
             ("well covered (similarity at or above its level)", coverage.get("mae_well_covered"))]
    return [(name, float(value)) for name, value in pairs if value is not None]


def _verdicts(profile: dict[str, Any]) -> dict[str, Any] | None:
    """The profile's held-out verdicts (n and MAE per verdict, in verdict order); None for a profile built before
    they were stored, or whose held-out step failed."""
    section = profile.get("held_out_verdicts") or {}
    if section.get("status") != "ready" or not section.get("per_verdict"):
        return None
    order = ("supported", "caution", "unsupported", "unknown")
    per_verdict = section["per_verdict"]
    rows = [{"verdict": v, **per_verdict[v]} for v in order if v in per_verdict]
    # Judged in the build that stored the profile's rules.verdict: an older rule than the served one, the card says.
    return {"rows": rows, "n": section.get("n"), "mae": section.get("mae"), "method": section.get("method"),
            "current_rule": (profile.get("rules") or {}).get("verdict") == verdict_rules()}


def card_page(models: ModelStore, ref: str) -> dict[str, Any]:
    """Everything the card page shows, plots drawn; cached per version and profile file."""
    card = model_card(models, ref)
    folder = models.version_dir(card["name"], card["version"])
    # A rebuilt profile or a retirement (either file rewritten) draws the page again.
    stamp = tuple((folder / f).stat().st_mtime_ns if (folder / f).exists() else 0
                  for f in (CAUSAL_PROFILE_FILE, MANIFEST, RETIRED_MARK))
    return _card_page(models, card["name"], card["version"], stamp)


@lru_cache(maxsize=16)
def _card_page(models: ModelStore, name: str, version: int, _stamp: tuple[int, ...]) -> dict[str, Any]:
    from services.gateway import plots  # matplotlib is loaded by the first page, not by every gateway start

    card = model_card(models, f"{name}@{version}")
    profile = models.read_sidecar(name, version, CAUSAL_PROFILE_FILE) or {}
    rows = held_out_rows(models, card)
    figures: dict[str, str] = {}
    if rows:
        figures["parity"] = plots.parity([r["measured"] for r in rows], [r["predicted"] for r in rows],
                                         f"Held-out ({card.get('split', 'scaffold')} split), n={len(rows)}")
    if rows and "similarity" in rows[0]:
        figures["error_similarity"] = plots.error_by_similarity(
            [r["similarity"] for r in rows], [abs(r["measured"] - r["predicted"]) for r in rows])
    bins = ((card.get("interval") or {}).get("measured_coverage") or {}).get("per_similarity_bin")
    if bins:
        figures["coverage"] = plots.coverage_by_bin(bins)
    conditions = _conditions(profile)
    if conditions:
        figures["conditions"] = plots.error_by_condition(conditions)
    verdicts = _verdicts(profile)
    if verdicts:
        figures["verdicts"] = plots.error_by_verdict(verdicts["rows"], verdicts["mae"])
    forest_rows = _forest_rows(profile)
    if forest_rows:
        figures["forest"] = plots.forest(forest_rows)
    return {"card": card, "profile_status": card["causal_profile"]["status"], "figures": figures,
            "mechanisms": _mechanisms(profile), "effects": forest_rows, "conditions": conditions,
            "verdicts": verdicts,
            "effect_counts": profile.get("effect_counts") or {}}


def finished_prediction(store: JobStore, job_id: str) -> dict[str, Any]:
    job = service.get_job(store, job_id)
    if job.get("kind", PREDICTION) != PREDICTION:
        raise InvalidRequest("only prediction jobs have per-molecule results", {"kind": job["kind"]})
    if job["status"] != SUCCEEDED:
        raise service.JobNotFinished(f"job {job_id} is {job['status']}; its pages exist once it has succeeded",
                                     {"status": job["status"]})
    return job


def depictions(store: JobStore, job_id: str, results: dict[int, dict[str, Any]]) -> dict[int, str | None]:
    """SVG per result index (None: not drawn in time, or too large); missing ones drawn by one worker task."""
    drawable = {i: r for i, r in results.items() if r.get("canonical_smiles")}
    names = {attachment_name(i): i for i in drawable}
    found = service.rendered_attachments(
        store, job_id, list(names), DEPICT_TASK,
        lambda missing: {"items": [depiction_item(names[n], drawable[names[n]]) for n in missing]},
        DEPICTION_TIMEOUT)
    return {names[n]: (None if text == TOO_LARGE else text) for n, text in found.items()}


def result_index(results: list[dict[str, Any]], ref: str) -> int:
    """A result named by the caller's molecule id, or else by its 0-based index."""
    by_id = [i for i, r in enumerate(results) if r["id"] == ref]
    if len(by_id) == 1:
        return by_id[0]
    if ref.isdigit() and int(ref) < len(results):
        return int(ref)
    raise ResultNotFound(f"the job has no result {ref!r} (a molecule id or a 0-based index)", {"result": ref})


def depiction(store: JobStore, job_id: str, ref: str) -> str:
    """One result's SVG, drawn by the featurizer and cached with the job."""
    results = finished_prediction(store, job_id)["results"]
    index = result_index(results, ref)
    if not results[index].get("canonical_smiles"):
        raise NoStructure("this molecule failed, so there is no structure to draw",
                          {"result": ref, "error": results[index].get("error")})
    svg = depictions(store, job_id, {index: results[index]}).get(index)
    if svg is None:
        if store.attachment(job_id, attachment_name(index)) == TOO_LARGE:
            raise StructureTooLarge(f"structures above {MAX_ATOMS} heavy atoms are not drawn",
                                    {"result": ref, "max_atoms": MAX_ATOMS})
        raise DepictionNotReady("the structure is still being drawn; ask again shortly", {"result": ref})
    return svg
