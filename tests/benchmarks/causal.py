"""Causal-engine benchmark on real data: profile build time, annotation cost, and whether verdicts are informative.

Run ``.venv/bin/python tests/benchmarks/causal.py`` (``--data`` points at the folder holding the real files,
default ``/work/shared/data``; see its PROVENANCE.md). Figures printed:

1. build time of the causal profile of AKT1/2/3 (Papyrus kinase200 means plus the 183 flagged records: 4,683
   rows; context ``gene``; mechanism hint ``allosteric`` when the record carries the aminocyclobutyl-phenyl motif
   or the curated allosteric-series label, else ``atp_site_presumed``), with the model's default spec;
2. for each real dataset (PIK3CA IC50 records with ``assay_chembl_id`` as context and mechanisms discovered;
   the AKT set above with its mechanism hints), on a balanced scaffold split: a model is trained on the training
   part (its applicability-domain threshold calibrated on an inner scaffold split, as the trainer does), the
   profile is built on the training part only, the held-out molecules are annotated, and the absolute error is
   tabulated per verdict (n, share, MAE, median, RMSE; caution split into mostly-confounded reliance on
   familiar ground and its other reasons; also inside and outside the domain), with the
   annotation cost per molecule;
   Each held-out set is annotated twice with the same model and profile: as served (a coverage or spread level
   whose signal failed the series check on held-out scaffolds is not applied, ``calibration.series_check``) and
   with both calibrated levels applied regardless (the rule before the series check), so the two tables differ
   by that check only;
3. the supported-vs-unsupported contrast: MAE(unsupported) - MAE(supported) with a percentile bootstrap 95%
   interval (2,000 resamples of each group, seed 0) and the one-sided Mann-Whitney p-value that supported
   predictions have smaller absolute errors.

``--split-seeds 0 1 2`` repeats step 2 on other scaffold splits (the profile's seed follows the split's) and ends
with one line per dataset and split: how robust the contrast is to the split, not only on the default one.
``--context-split`` adds PIK3CA split by assay (whole assays held out, ``group_split`` as the trainer's "context"
split): there the assay confounding that ``unsupported`` names no longer carries over, so the summary also gives
MAE(unsupported) - MAE(caution).
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

FEATURIZER = {"name": "morgan_counts", "params": {"radius": 2, "n_bits": 2048}}
ESTIMATOR = {"name": "random_forest", "params": {}}
MODEL = {"featurizer": FEATURIZER, "estimator": ESTIMATOR, "seed": 0}
ALLOSTERIC_GUESSES = {"akt_allosteric_series", "ph_domain_lipid_like"}


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def akt_rows(data: Path) -> list[dict[str, str]]:
    rows = []
    for r in _read(data / "akt_papyrus_kinase200_nonallosteric_meanpchembl.csv"):
        allosteric = r["aminocyclobutylphenyl_motif"] == "True"
        rows.append({"id": r["InChIKey"] + "_" + r["gene"], "canonical_smiles": r["SMILES"],
                     "pactivity": r["pchembl_value_Mean"], "gene": r["gene"],
                     "mechanism": "allosteric" if allosteric else "atp_site_presumed"})
    for r in _read(data / "akt_papyrus_allosteric_flagged_records.csv"):
        allosteric = r["aminocyclobutylphenyl_motif"] == "True" or r["curated_mechanism_guess"] in ALLOSTERIC_GUESSES
        rows.append({"id": r["Activity_ID"], "canonical_smiles": r["SMILES"], "pactivity": r["pchembl_value_Mean"],
                     "gene": r["gene"], "mechanism": "allosteric" if allosteric else "atp_site_presumed"})
    return rows


def pik3ca_rows(data: Path) -> list[dict[str, str]]:
    return [{"id": f"{r['compound_chembl_id']}_{r['assay_chembl_id']}", "canonical_smiles": r["canonical_smiles"],
             "pactivity": r["pchembl_value"], "assay_chembl_id": r["assay_chembl_id"]}
            for r in _read(data / "pik3ca_CHEMBL4005-1_IC50_chembl32.csv")]


def featurized(rows: list[dict[str, str]]) -> tuple[list[dict], list[dict], np.ndarray]:
    from services.featurizer.logic import featurize_molecule, make_featurizer
    from services.predictor.training import dense_matrix

    featurizer = make_featurizer(FEATURIZER)
    molecules = [featurize_molecule({"id": r["id"], "smiles": r["canonical_smiles"]}, featurizer) for r in rows]
    keep = [i for i, m in enumerate(molecules) if m["error"] is None]
    rows, molecules = [rows[i] for i in keep], [molecules[i] for i in keep]
    return rows, molecules, dense_matrix([m["features"] for m in molecules], featurizer.n_features)


def domain_threshold(molecules: list[dict], x: np.ndarray, y: np.ndarray) -> float:
    """As the trainer does: an inner scaffold split calibrates where the model stops beating the mean."""
    from services.predictor.estimators import make_estimator
    from services.predictor.training import scaffold_split
    from shared.applicability import NearestNeighbourIndex, calibrate_threshold, pack_fingerprints

    inner_train, inner_test = scaffold_split([m["canonical_smiles"] for m in molecules], seed=1)
    model, _ = make_estimator(ESTIMATOR, 0)
    model.fit(x[inner_train], y[inner_train])
    errors = np.abs(model.predict(x[inner_test]) - y[inner_test])
    index = NearestNeighbourIndex(pack_fingerprints([molecules[i]["ad_bits"] for i in inner_train]))
    similarity = np.array([index.max_similarity(molecules[i]["ad_bits"]) for i in inner_test])
    baseline = float(np.sqrt(np.mean((y[inner_test] - y[inner_train].mean()) ** 2)))
    return calibrate_threshold(similarity, errors, baseline)


def _annotate(held_out: list[dict], index: Any, threshold: float, causal: Any) -> tuple[list[dict], float]:
    """Copies of ``held_out`` annotated in chunks of 500 as the pipeline sends them, and ms per molecule."""
    from services.causal.logic import annotate_molecules

    molecules = [dict(m) for m in held_out]
    started = time.perf_counter()
    for start in range(0, len(molecules), 500):
        annotate_molecules(molecules[start:start + 500], index, threshold, causal)
    return molecules, (time.perf_counter() - started) / len(molecules) * 1000


def evaluate(
    rows: list[dict[str, str]], context: list[str], mechanism: str | None, split_seed: int = 0,
    split: str = "scaffold",
) -> tuple[list[dict], list[dict], np.ndarray, dict, tuple[float, float], dict]:
    """Held-out molecules annotated as served and with every calibrated level applied (the rule before the series
    check), their absolute errors, the profile, ms per molecule (as served, levels forced), held-out metrics."""
    import dataclasses

    from services.causal.evidence import CausalContext, compile_profile
    from services.causal.profile import build_profile
    from services.predictor.estimators import make_estimator
    from services.predictor.evaluation import group_split, split_keys
    from services.predictor.training import regression_metrics
    from shared.applicability import NearestNeighbourIndex, pack_fingerprints

    rows, molecules, x = featurized(rows)
    y = np.array([float(r["pactivity"]) for r in rows])
    smiles = [m["canonical_smiles"] for m in molecules]
    keys = split_keys(split, smiles, {c: [r[c] for r in rows] for c in context})
    train, test = group_split(keys, 0.2, split_seed, big_groups_train=split == "scaffold")
    model, _ = make_estimator(ESTIMATOR, 0)
    model.fit(x[train], y[train])
    threshold = domain_threshold([molecules[i] for i in train], x[train], y[train])
    profile = build_profile([rows[i] for i in train], context, mechanism, MODEL, seed=split_seed)
    model.set_params(n_jobs=1)  # as the predictor loader serves it
    held_out = [dict(molecules[i]) for i in test]
    for molecule, value in zip(held_out, model.predict(x[test]), strict=True):
        molecule["prediction"] = {"value": round(float(value), 4), "unit": "pActivity", "interval": None}
    index = NearestNeighbourIndex(pack_fingerprints([molecules[i]["ad_bits"] for i in train]))
    compiled = compile_profile(profile)
    causal = CausalContext(compiled, model, FEATURIZER, 2048)
    forced = dataclasses.replace(compiled, well_covered_similarity=profile["coverage"]["calibrated_similarity"],
                                 confident_spread=profile["uncertainty"]["calibrated_spread"])
    before = CausalContext(forced, model, FEATURIZER, 2048)
    annotated, ms_with = _annotate(held_out, index, threshold, causal)
    annotated_before, ms_without = _annotate(held_out, index, threshold, before)

    predicted = np.array([m["prediction"]["value"] for m in held_out])
    return (annotated, annotated_before, np.abs(predicted - y[test]), profile, (ms_with, ms_without),
            regression_metrics(y[test], predicted))


BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED = 2000, 0


def difference_statistics(supported: np.ndarray, unsupported: np.ndarray) -> dict[str, float]:
    """MAE(unsupported) - MAE(supported) with a percentile bootstrap 95% CI (each group resampled, fixed seed)
    and the one-sided Mann-Whitney p-value of "supported errors are smaller"."""
    from scipy.stats import mannwhitneyu

    rng = np.random.default_rng(BOOTSTRAP_SEED)
    draws = np.array([
        rng.choice(unsupported, len(unsupported)).mean() - rng.choice(supported, len(supported)).mean()
        for _ in range(BOOTSTRAP_RESAMPLES)
    ])
    low, high = np.percentile(draws, [2.5, 97.5])
    p_value = mannwhitneyu(supported, unsupported, alternative="less").pvalue
    return {"difference": float(unsupported.mean() - supported.mean()), "low": float(low), "high": float(high),
            "p_value": float(p_value)}


def contrast(errors: np.ndarray, verdicts: np.ndarray, against: str = "supported") -> dict[str, float] | None:
    """MAE(unsupported) - MAE(``against``) with its statistics; None when a group is empty."""
    other, unsupported = errors[verdicts == against], errors[verdicts == "unsupported"]
    return difference_statistics(other, unsupported) if len(other) and len(unsupported) else None


def confounded_on_familiar_ground(molecules: list[dict]) -> np.ndarray:
    """``caution`` because most of the reliance is confounded, though the molecule is covered and the trees agree."""
    from services.causal.verdict import CONFOUNDED_RELIANCE

    return np.array([m["causal_validity"]["verdict"] == "caution"
                     and any(CONFOUNDED_RELIANCE in r for r in m["causal_validity"]["reasons"]) for m in molecules])


def print_verdict_statistics(
    errors: np.ndarray, verdicts: np.ndarray, in_domain: np.ndarray, familiar: np.ndarray
) -> None:
    print(f"   {'verdict':<13} {'n':>5} {'share':>6} {'MAE':>7} {'median':>7} {'RMSE':>7}")
    groups = [(v, verdicts == v) for v in ("supported", "caution", "unsupported", "unknown")]
    groups += [("  confounded", familiar), ("  other", (verdicts == "caution") & ~familiar)]  # caution's two kinds
    groups += [("in domain", in_domain), ("out of domain", ~in_domain), ("all", np.ones_like(in_domain))]
    for label, mask in groups:
        chosen = errors[mask]
        if len(chosen):
            print(f"   {label:<13} {len(chosen):>5} {len(chosen) / len(errors):6.1%} {chosen.mean():7.3f} "
                  f"{np.median(chosen):7.3f} {np.sqrt(np.mean(chosen ** 2)):7.3f}")
    d = contrast(errors, verdicts)
    if d is None:
        print("   MAE unsupported - supported: not computable (a group is empty)")
    else:
        print(f"   MAE unsupported - supported: {d['difference']:+.3f} (bootstrap 95% CI {d['low']:+.3f} to "
              f"{d['high']:+.3f}, {BOOTSTRAP_RESAMPLES} resamples, seed {BOOTSTRAP_SEED}); one-sided Mann-Whitney "
              f"p = {d['p_value']:.3g} (supported errors smaller)")


def print_level(name: str, section: dict[str, Any], level_key: str, calibrated_key: str) -> None:
    check = section.get("series_check") or {}
    applied = "applied" if section.get("applied", True) else "NOT applied"
    print(f"   {name} (training CV only): calibrated {section.get(calibrated_key)}, {applied} ({level_key} = "
          f"{section.get(level_key)}); series check on held-out scaffolds: Spearman {check.get('spearman')}, "
          f"one-sided p = {check.get('p_value')}, n = {check.get('n')}")


def verdict_table(
    name: str, rows: list[dict[str, str]], context: list[str], mechanism: str | None, split_seed: int = 0,
    split: str = "scaffold",
) -> dict[str, Any]:
    held_out, held_out_before, errors, profile, (per_molecule_ms, ms_before), metrics = evaluate(
        rows, context, mechanism, split_seed, split)
    verdicts = np.array([m["causal_validity"]["verdict"] for m in held_out])
    verdicts_before = np.array([m["causal_validity"]["verdict"] for m in held_out_before])
    n_train = profile["dataset"]["rows_used"]
    print(f"\n== {name}, {split} split seed {split_seed}: {n_train} train / {len(held_out)} held-out, held-out RMSE "
          f"{metrics['rmse']:.3f}, MAE {metrics['mae']:.3f}; profile built in "
          f"{profile['build']['seconds']:.1f}s; {profile['effect_counts']}; mechanisms "
          f"{[(m['id'], m['label'][:40], m['size'], m['focus']) for m in profile['mechanisms']['items']]}")
    print(f"   annotation: {per_molecule_ms:.2f} ms per molecule (AD + mechanism + evidence + tree spread + "
          f"verdict); {ms_before:.2f} ms with both levels forced")
    coverage, uncertainty = profile["coverage"], profile["uncertainty"]
    print_level("coverage", coverage, "well_covered_similarity", "calibrated_similarity")
    similarity = np.array([m["causal_validity"]["applicability_domain"]["max_similarity"] for m in held_out])
    print(f"   {np.mean(similarity >= coverage['calibrated_similarity']):.1%} of held-out molecules at or above the "
          f"calibrated similarity; training OOF error by similarity (from, n, MAE): "
          f"{[(b['similarity_from'], b['n'], b['mae']) for b in coverage['per_similarity']]}")
    if uncertainty.get("calibrated_spread") is not None:
        print_level("uncertainty", uncertainty, "confident_spread", "calibrated_spread")
        bins = [(b["quantile_from"], b["spread_from"], b["spread_to"], b["n"], b["mae"])
                for b in uncertainty["per_spread_quantile"]]
        print(f"   training OOF error by spread quantile (from, spread from-to, n, MAE): {bins}")
    else:
        print(f"   uncertainty: {uncertainty.get('note', 'no level in the profile')}")
    in_domain = np.array([m["causal_validity"]["applicability_domain"]["in_domain"] for m in held_out])
    print("   AS SERVED (levels applied only where their series check passed; caution split into mostly-confounded "
          "reliance on familiar ground and the other reasons):")
    print_verdict_statistics(errors, verdicts, in_domain, confounded_on_familiar_ground(held_out))
    print("   BEFORE THE SERIES CHECK (same model and profile, both calibrated levels applied):")
    print_verdict_statistics(errors, verdicts_before, in_domain, confounded_on_familiar_ground(held_out_before))
    return {"name": name.split(" ")[0], "split": split, "seed": split_seed, "verdicts": verdicts, "errors": errors}


def print_robustness(results: list[dict[str, Any]]) -> None:
    print("\n== supported vs unsupported (and unsupported vs caution), per dataset and split (as served)")
    for r in results:
        v, e = r["verdicts"], r["errors"]
        counts = " ".join(f"{k} n={int(np.sum(v == k))} MAE={e[v == k].mean():.3f}" if np.any(v == k) else f"{k} n=0"
                          for k in ("supported", "caution", "unsupported"))
        d = contrast(e, v)
        diff = "not computable" if d is None else (
            f"{d['difference']:+.3f} (95% CI {d['low']:+.3f} to {d['high']:+.3f}, p = {d['p_value']:.3g})")
        cu = contrast(e, v, against="caution")
        vs_caution = "not computable" if cu is None else f"{cu['difference']:+.3f} (p = {cu['p_value']:.3g})"
        print(f"   {r['name']:<7} {r['split']} seed {r['seed']}: {counts}; MAE unsupported - supported {diff}; "
              f"unsupported - caution {vs_caution}")


def build_time(rows: list[dict[str, str]]) -> dict[str, Any]:
    from services.causal.profile import build_profile

    started = time.perf_counter()
    profile = build_profile(rows, ["gene"], "mechanism", MODEL, seed=0)
    print(f"== profile build, AKT {len(rows)} rows (context gene, mechanism hints), model {ESTIMATOR['name']}: "
          f"{time.perf_counter() - started:.1f}s; steps {profile['build']['steps']}; "
          f"{len(profile['treatments'])} treatments, {profile['effect_counts']}")
    return profile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    parser.add_argument("--skip-build", action="store_true", help="only the verdict tables")
    parser.add_argument("--split-seeds", type=int, nargs="*", default=[0],
                        help="scaffold splits to evaluate (none: only the build time)")
    parser.add_argument("--context-split", action="store_true", help="also PIK3CA with whole assays held out")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    akt = akt_rows(args.data)
    if not args.skip_build:
        build_time(akt)
    results = []
    for seed in args.split_seeds:
        results.append(verdict_table("PIK3CA (context assay_chembl_id, mechanisms discovered)",
                                     pik3ca_rows(args.data), ["assay_chembl_id"], None, seed))
        results.append(verdict_table("AKT (context gene, mechanism hints)", akt, ["gene"], "mechanism", seed))
    for seed in args.split_seeds if args.context_split else []:
        results.append(verdict_table("PIK3CA (context assay_chembl_id, mechanisms discovered)",
                                     pik3ca_rows(args.data), ["assay_chembl_id"], None, seed, "context"))
    print_robustness(results)


if __name__ == "__main__":
    main()
