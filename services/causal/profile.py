"""Build a model's causal profile: treatments, confounders, mechanisms, per-treatment effects and focus.

``build_profile`` is a plain function the profile task calls after a model version is written; the task stores
the result as the version's ``causal_profile.json`` sidecar. The profile is JSON only and carries its own rules
(``"rules"``), so what a verdict rests on can always be read back. Steps and what they cost on 5,000 rows:
features (read from the training's features file; featurized here only for callers without one), mine
treatments (``treatments.py``), find mechanisms (``mechanisms.py``), one effect per treatment with the shared
machinery of ``effects.py`` (DoWhy, 10 refuter simulations each), the
focus cross-validation (``focus.py``, folds over distinct structures), whose out-of-fold errors also give the
similarity level from which the model knows the chemistry well (``coverage.py``) and, for tree ensembles, the tree
spread up to which it is confident (``uncertainty.py``, same fold models), and a second cross-validation
whose folds hold out whole Murcko scaffolds checks that each of the two signals still predicts error for new series
(``calibration.series_check``); a signal that does not is stored but not applied.

Adjustment set: the context columns only (assay, document, isoform...: pre-treatment, recorded with the
measurement), or the columns the training request names as ``confounders`` (a user may declare the mechanism one).
Nothing computed from the outcome is ever adjusted for. Mechanisms are effect modifiers: every substructure also
gets its effect inside each mechanism (context absorbed there too), with a heterogeneity test
(``effects.effect_by_group``). Without any context column nothing can be called confounded: every effect is
``untestable``, with its naive association shown.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

import dowhy
import numpy as np
import rdkit
import sklearn
from rdkit import Chem

from services.causal import calibration, coverage, focus, mechanisms, uncertainty
from services.causal.effects import (
    STATUSES,
    EffectRules,
    effect_by_group,
    estimate_treatment,
    prepare_context,
    status_rules,
)
from services.causal.evidence import PROFILE_VERSION
from services.causal.refuters import REFUTERS
from services.causal.treatments import TreatmentRules, mine_treatments
from services.featurizer.logic import featurize_molecule, make_featurizer, murcko_scaffold
from services.predictor.spread import on_bits_of
from services.predictor.training import dense_matrix, features_matrix, stored_scaffolds
from shared.applicability import N_BITS
from shared.model_store import CAUSAL_PROFILE_FILE
from shared.verdicts import verdict_rules

logger = logging.getLogger(__name__)

PROFILE_FILE = CAUSAL_PROFILE_FILE
PROFILE_RULES = EffectRules(num_simulations=10)  # fewer simulations than a single question: 40 treatments
MAX_STRATA_STORED = 20
MECHANISM_CONFOUNDER = "mechanism"
PROFILE_ESTIMATORS = ("linear", "double_ml")  # propensity weighting adds nothing to the profile's fixed effects
ADJUSTMENT_RULE = (
    "adjust for the context columns (or the columns the training request declares confounders), each absorbed as "
    "fixed effects with every level kept; never for a variable computed from the outcome; mechanisms are effect "
    "modifiers (an effect per mechanism), not adjusters, unless declared"
)


@dataclass(frozen=True)
class TrainingArrays:
    """What the profile is built on: the usable rows and their SMILES, Murcko scaffolds, features and domain bits."""

    rows: list[dict[str, str]]
    smiles: list[str]
    scaffolds: list[str]
    x: np.ndarray
    ad_bits: list[list[int]]


def featurized_arrays(rows: list[dict[str, str]], featurizer_spec: dict[str, Any]) -> TrainingArrays:
    """Featurize ``rows`` here: for callers without the training's features file (benchmarks, older versions)."""
    featurizer = make_featurizer(featurizer_spec)
    kept_rows, kept = [], []
    for row in rows:
        molecule = featurize_molecule({"id": row["id"], "smiles": row["canonical_smiles"]}, featurizer)
        if molecule["error"] is None:
            kept_rows.append(row)
            kept.append(molecule)
    smiles = [m["canonical_smiles"] for m in kept]
    return TrainingArrays(kept_rows, smiles, [murcko_scaffold(s) for s in smiles],
                          dense_matrix([m["features"] for m in kept], featurizer.n_features),
                          [m["ad_bits"] for m in kept])


def stored_arrays(rows: list[dict[str, str]], features: dict[str, Any]) -> TrainingArrays:
    """The arrays the training read, from its features file (``load_features``): nothing is featurized again."""
    if list(features["ids"]) != [r["id"] for r in rows]:
        raise ValueError("the features file's rows are not the dataset's rows")
    ok = np.flatnonzero(features["ok"])
    kept = [rows[i] for i in ok]
    smiles = [r["canonical_smiles"] for r in kept]
    return TrainingArrays(kept, smiles, stored_scaffolds(features, ok) or [murcko_scaffold(s) for s in smiles],
                          features_matrix(features)[ok], on_bits_of(features["ad_packed"][ok]))


def build_profile(
    rows: list[dict[str, str]],
    context_columns: list[str],
    mechanism_column: str | None,
    model: dict[str, Any],
    seed: int,
    extra_smarts: list[str] | None = None,
    confounder_columns: list[str] | None = None,
    arrays: TrainingArrays | None = None,
) -> dict[str, Any]:
    """The causal profile of a model trained on ``rows`` with ``model = {"featurizer", "estimator", "seed"}``;
    ``arrays``: the training's own features of those rows (``stored_arrays``), else they are featurized here."""
    clock, steps = time.perf_counter(), {}

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        steps[step] = round(now - clock, 2)
        clock = now

    started = clock
    data = arrays or featurized_arrays(rows, model["featurizer"])
    rows, smiles, x, ad_bits = data.rows, data.smiles, data.x, data.ad_bits
    y = np.array([float(r["pactivity"]) for r in rows])
    bits = np.zeros((len(ad_bits), N_BITS), dtype=bool)
    for i, on in enumerate(ad_bits):
        bits[i, on] = True
    lap("featurize")  # or only read: the training's features file

    treatments, presence = mine_treatments([Chem.MolFromSmiles(s) for s in smiles], extra_smarts or [])
    lap("treatments")
    labels = [r.get(mechanism_column) or "" for r in rows] if mechanism_column else None
    ids, mechanism_section = mechanisms.mechanism_section(bits, y, labels, seed, smiles, treatments, presence)
    lap("mechanisms")

    declared = list(context_columns) if confounder_columns is None else list(confounder_columns)
    confounders = {c: ([mechanism_section["items"][i]["id"] for i in ids] if c == MECHANISM_CONFOUNDER
                       else [r.get(c) or "" for r in rows]) for c in declared}
    ctx = prepare_context(y, confounders, seed, PROFILE_RULES)
    labels_of = [item["label"] for item in mechanism_section["items"]]
    effects = []
    for j, treatment in enumerate(treatments):
        answer, reasons = estimate_treatment(ctx, presence[:, j], list(PROFILE_ESTIMATORS), list(REFUTERS), False)
        del answer["graph"]  # the same for every treatment: stored once under "confounders"
        answer["per_stratum"] = answer["per_stratum"][:MAX_STRATA_STORED]
        by_mechanism = effect_by_group(ctx, presence[:, j], ids, labels_of)
        for item in by_mechanism["groups"]:
            item["mechanism"] = mechanism_section["items"][item.pop("group")]["id"]
        effects.append({"treatment": treatment.id, "smarts": treatment.smarts, "name": treatment.to_dict().get("name"),
                        "status": answer.pop("verdict"), "reasons": reasons,
                        "adjusted_for": ctx.confounding.columns, "per_mechanism": by_mechanism, **answer})
    lap("effects")

    model_seed = int(model.get("seed", seed))
    spread = np.full(len(y), np.nan)
    # One pooled cross-validation serves focus, coverage and uncertainty; its folds keep identical structures
    # (the same compound measured in several assays) together, so no fold predicts a molecule it was trained on.
    folds, pooled = focus.cross_validated(x, y, model["estimator"], model_seed, coverage.structure_groups(ad_bits),
                                          spread)
    focus_section = focus.focus_section(x, y, ids, model["estimator"], model_seed, cv=(folds, pooled))
    for item in mechanism_section["items"]:
        item["focus"] = focus_section["per_mechanism"][item["id"]]["focus"]
    lap("focus")
    series_spread = np.full(len(y), np.nan)
    series = focus.series_cross_validated(
        x, y, model["estimator"], model_seed, data.scaffolds, series_spread)
    has_spread = not np.isnan(spread).any()
    similarity_check = spread_check = None  # a single series: nothing to check, the levels apply as calibrated
    if series is not None:
        series_errors = np.abs(series[1] - y)
        similarity_check = calibration.series_check(
            coverage.out_of_fold_similarity(ad_bits, series[0]), series_errors, error_rises=False)
        if has_spread:
            spread_check = calibration.series_check(series_spread, series_errors, error_rises=True)
    coverage_section = coverage.coverage_section(ad_bits, folds, np.abs(pooled - y), similarity_check)
    uncertainty_section = uncertainty.uncertainty_section(
        model["estimator"].get("name"), spread if has_spread else None, np.abs(pooled - y), spread_check)
    lap("coverage")

    counts = {s: sum(e["status"] == s for e in effects) for s in STATUSES}
    logger.info("causal profile of %d rows in %.1fs: %s", len(rows), time.perf_counter() - started, counts)
    profile = {
        "status": "ready",
        "version": PROFILE_VERSION,
        "seed": seed,
        "model": {"featurizer": model["featurizer"], "estimator": model["estimator"], "seed": model.get("seed")},
        "dataset": {"rows_used": len(rows), "context_columns": list(context_columns),
                    "mechanism_column": mechanism_column, "confounders": list(declared)},
        "rules": {
            "treatments": asdict(TreatmentRules()),
            "effects": PROFILE_RULES.describe(),
            "effect_status": status_rules(),
            "adjustment": ADJUSTMENT_RULE,
            "mechanisms": mechanisms.METHOD,
            "focus": focus_section["method"],
            "coverage": coverage.COVERAGE_RULE,
            "uncertainty": uncertainty.UNCERTAINTY_RULE,
            "verdict": verdict_rules(),
        },
        "treatments": [t.to_dict() for t in treatments],
        "confounders": {
            "columns": ctx.confounding.columns,
            "levels": ctx.confounding.levels,
            "graph": ctx.graph,
            "estimators": list(PROFILE_ESTIMATORS),
            "refuters": list(REFUTERS),
        },
        "mechanisms": mechanism_section,
        "effects": effects,
        "effect_counts": counts,
        "focus": focus_section,
        "coverage": coverage_section,
        "uncertainty": uncertainty_section,
        "build": {
            "seconds": round(time.perf_counter() - started, 2),
            "steps": steps,
            "library_versions": {"rdkit": rdkit.__version__, "scikit-learn": sklearn.__version__,
                                 "dowhy": dowhy.__version__},
        },
    }
    return json.loads(json.dumps(profile))  # exactly what the sidecar will hold (tuples become lists)
