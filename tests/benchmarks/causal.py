"""Causal-engine benchmark on real data: profile build time, annotation cost, and whether verdicts are useful.

Run ``.venv/bin/python tests/benchmarks/causal.py`` (``--data`` points at the folder holding the real files,
default ``../shared/data`` beside the repo; see its PROVENANCE.md). Figures printed:

1. build time of the causal profile of AKT1/2/3 (Papyrus kinase200 means plus the 183 flagged records: 4,683
   rows; context ``gene``; mechanism hint ``allosteric`` when the record carries the aminocyclobutyl-phenyl motif
   or the curated allosteric-series label, else ``atp_site_presumed``), with the served spec (100-tree forest);
2. for every bundled dataset with context (PIK3CA IC50 records with ``assay_chembl_id``, mechanisms discovered;
   the AKT set above), on scaffold splits (``--split-seeds``) and on whole-context splits (whole assays, or whole
   isoforms for AKT: ``--context-split``): a model and its profile are built on the training part only (the
   domain threshold on an inner scaffold split, as the trainer does), the held-out molecules are annotated as
   served, and per verdict the n, share and MAE are printed, next to two baselines measured on the same held-out
   in-domain molecules: nearest-neighbour similarity tertiles and tree-spread tertiles (MAE of the most and the
   least trusted third, and their ratio);
3. the figures the verdict is held to: ``supported`` share of the in-domain predictions (target >= 25%),
   MAE(supported) / MAE(unsupported) (target <= 0.6), and whether it separates better than both baselines (a lower
   ratio than best-tertile / worst-tertile); with ``--context-split``, whether supported predictions transport:
   their MAE on whole-context splits within 10% of the scaffold-split MAE of the same seed;
4. MAE(unsupported) - MAE(supported) with a percentile bootstrap 95% interval (2,000 resamples, seed 0) and the
   one-sided Mann-Whitney p-value that supported errors are smaller.

The rule was fixed (``shared/verdicts.py``) before any of these splits was run with it; the README records which
splits were looked at while the engine was built and which came after.
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

FEATURIZER = {"name": "morgan_counts", "params": {"radius": 2, "n_bits": 2048}}
ESTIMATOR = {"name": "random_forest", "params": {"n_estimators": 100}}  # as the reference models serve
MODEL = {"featurizer": FEATURIZER, "estimator": ESTIMATOR, "seed": 0}
ALLOSTERIC_GUESSES = {"akt_allosteric_series", "ph_domain_lipid_like"}
TARGETS = {"supported_share": 0.25, "mae_ratio": 0.6, "transport": 0.10}
BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED = 2000, 0


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


def evaluate(
    rows: list[dict[str, str]], context: list[str], mechanism: str | None, split_seed: int, split: str,
) -> dict[str, Any]:
    """Held-out molecules annotated as served, with their absolute errors, similarity, spread and the profile."""
    from services.causal.evidence import CausalContext, compile_profile
    from services.causal.logic import annotate_molecules
    from services.causal.profile import build_profile
    from services.causal.uncertainty import tree_spread
    from services.predictor.estimators import make_estimator
    from services.predictor.evaluation import group_split, split_keys
    from shared.applicability import NearestNeighbourIndex, pack_fingerprints

    rows, molecules, x = featurized(rows)
    y = np.array([float(r["pactivity"]) for r in rows])
    keys = split_keys(split, [m["canonical_smiles"] for m in molecules], {c: [r[c] for r in rows] for c in context})
    train, test = group_split(keys, 0.2, split_seed, big_groups_train=split == "scaffold")
    model, _ = make_estimator(ESTIMATOR, 0)
    model.fit(x[train], y[train])
    threshold = domain_threshold([molecules[i] for i in train], x[train], y[train])
    profile = build_profile([rows[i] for i in train], context, mechanism, MODEL, seed=split_seed)
    model.set_params(n_jobs=1)  # as the predictor loader serves it
    held_out = [dict(molecules[i]) for i in test]
    index = NearestNeighbourIndex(pack_fingerprints([molecules[i]["ad_bits"] for i in train]))
    causal = CausalContext(compile_profile(profile), model, FEATURIZER, 2048)
    started = time.perf_counter()  # a worker pays these once: shap's import and the model's explainer
    annotate_molecules([dict(m) for m in held_out[:2]], index, threshold, causal)
    first_call = time.perf_counter() - started
    started = time.perf_counter()
    for start in range(0, len(held_out), 500):  # chunks as the pipeline sends them
        annotate_molecules(held_out[start:start + 500], index, threshold, causal)
    ms = (time.perf_counter() - started) / len(held_out) * 1000
    predicted = model.predict(x[test])
    validity = [m["causal_validity"] for m in held_out]
    return {
        "errors": np.abs(predicted - y[test]),
        "verdicts": np.array([v["verdict"] for v in validity]),
        "in_domain": np.array([v["applicability_domain"]["in_domain"] for v in validity]),
        "similarity": np.array([v["applicability_domain"]["max_similarity"] for v in validity]),
        "spread": tree_spread(model, x[test]),
        "reliance": Counter(e["reliance"] for v in validity for e in v["evidence"]
                            if e["additive"] and abs(e["contribution"] or 0) >= 0.05),
        "short_of_supported": Counter(reason for v in validity if v["verdict"] != "supported"
                                      and v["applicability_domain"]["in_domain"] for reason in shortfalls(v)),
        "profile": profile, "ms": ms, "first_call": first_call, "n_train": len(train), "validity": validity,
        "rmse": float(np.sqrt(np.mean((predicted - y[test]) ** 2))),
    }


SHORTFALLS = {"trees disagree": "trees disagree", "nearest training analogue": "not well covered",
              "below the 0.8 needed": "focus below 0.8", "too small to tell": "focus unknown",
              "(not more than": "consistent share <= 50%", "against its causal effect": "a relied-on substructure "
              "disagrees", "of its substructure weight disagrees": "mostly contradicted or confounded"}


def shortfalls(validity: dict[str, Any]) -> set[str]:
    """Which conditions of ``supported`` an in-domain prediction missed, read from its reasons."""
    return {label for phrase, label in SHORTFALLS.items() if any(phrase in r for r in validity["reasons"])}


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


def tertile_ratio(errors: np.ndarray, signal: np.ndarray, trusted_high: bool) -> tuple[float, float, float]:
    """(MAE of the most trusted third, MAE of the least trusted third, their ratio) by a baseline signal."""
    order = np.argsort(-signal if trusted_high else signal, kind="stable")
    thirds = np.array_split(order, 3)
    best, worst = errors[thirds[0]].mean(), errors[thirds[-1]].mean()
    return float(best), float(worst), float(best / worst)


def summarize(name: str, split: str, seed: int, result: dict[str, Any]) -> dict[str, Any]:
    errors, verdicts, in_domain = result["errors"], result["verdicts"], result["in_domain"]
    profile = result["profile"]
    print(f"\n== {name}, {split} split seed {seed}: {result['n_train']} train / {len(errors)} held-out "
          f"({in_domain.sum()} in domain), held-out RMSE {result['rmse']:.3f}; profile "
          f"{profile['build']['seconds']:.1f}s {profile['effect_counts']}; annotation {result['ms']:.2f} ms/molecule "
          f"(after a first call of {result['first_call']:.1f}s: shap's import and the explainer)")
    total = sum(result["reliance"].values())
    print(f"   relied-on substructures (|contribution| >= 0.05): "
          f"{ {k: f'{v / total:.0%}' for k, v in sorted(result['reliance'].items())} }")
    print(f"   in-domain predictions short of supported, by condition missed (one may miss several): "
          f"{dict(result['short_of_supported'].most_common())}")
    print(f"   {'verdict':<12} {'n':>5} {'share':>6} {'MAE':>7}")
    for verdict in ("supported", "caution", "unsupported", "unknown"):
        chosen = errors[verdicts == verdict]
        if len(chosen):
            print(f"   {verdict:<12} {len(chosen):>5} {len(chosen) / len(errors):6.1%} {chosen.mean():7.3f}")
    inside = in_domain
    e_in, v_in = errors[inside], verdicts[inside]
    share = float(np.mean(v_in == "supported")) if inside.any() else 0.0
    sup, uns = e_in[v_in == "supported"], errors[verdicts == "unsupported"]
    ratio = float(sup.mean() / uns.mean()) if len(sup) and len(uns) else None
    not_sup = e_in[v_in != "supported"]
    ratio_rest = float(sup.mean() / not_sup.mean()) if len(sup) and len(not_sup) else None
    sim = tertile_ratio(e_in, result["similarity"][inside], trusted_high=True) if inside.sum() >= 3 else None
    spr = (tertile_ratio(e_in, result["spread"][inside], trusted_high=False)
           if result["spread"] is not None and inside.sum() >= 3 else None)
    print(f"   supported: {share:.1%} of in-domain predictions (target >= {TARGETS['supported_share']:.0%}); "
          f"MAE supported / unsupported = {ratio if ratio is None else round(ratio, 3)} (target <= "
          f"{TARGETS['mae_ratio']}); supported / rest of in-domain = "
          f"{ratio_rest if ratio_rest is None else round(ratio_rest, 3)}")
    for label, base in (("nearest-neighbour similarity", sim), ("tree spread", spr)):
        if base:
            print(f"   baseline {label} tertiles (in domain): most trusted MAE {base[0]:.3f}, least {base[1]:.3f}, "
                  f"ratio {base[2]:.3f}")
    better = None
    if ratio is not None and sim and spr:
        better = ratio < sim[2] and ratio < spr[2]
        print(f"   separation better than both baselines: {better}")
    if len(sup) and len(uns):
        d = difference_statistics(sup, uns)
        print(f"   MAE unsupported - supported: {d['difference']:+.3f} (bootstrap 95% CI {d['low']:+.3f} to "
              f"{d['high']:+.3f}); one-sided Mann-Whitney p = {d['p_value']:.3g}")
    return {"name": name, "split": split, "seed": seed, "share": share, "ratio": ratio, "ratio_rest": ratio_rest,
            "sim": sim[2] if sim else None, "spread": spr[2] if spr else None, "better": better,
            "mae_supported": float(sup.mean()) if len(sup) else None, "n_supported": int(len(sup))}


def print_summary(results: list[dict[str, Any]]) -> None:
    print("\n== summary (in-domain supported share; MAE ratios, lower separates better)")
    print(f"   {'data':<7} {'split':<9} {'seed':>4} {'supported':>9} {'n':>5} {'sup/uns':>8} {'sup/rest':>8} "
          f"{'NN tert':>8} {'spread t':>8} {'better':>6} {'MAE sup':>8}")
    for r in results:
        def show(v: float | None) -> str:
            return "-" if v is None else f"{v:.3f}"
        print(f"   {r['name']:<7} {r['split']:<9} {r['seed']:>4} {r['share']:>9.1%} {r['n_supported']:>5} "
              f"{show(r['ratio']):>8} {show(r['ratio_rest']):>8} {show(r['sim']):>8} {show(r['spread']):>8} "
              f"{str(r['better']):>6} {show(r['mae_supported']):>8}")
    scaffold = {(r["name"], r["seed"]): r for r in results if r["split"] == "scaffold"}
    for r in results:
        base = scaffold.get((r["name"], r["seed"]))
        if r["split"] == "context" and base and base["mae_supported"] and r["mae_supported"]:
            change = r["mae_supported"] / base["mae_supported"] - 1
            print(f"   transport {r['name']} seed {r['seed']}: supported MAE {r['mae_supported']:.3f} on whole-context "
                  f"split (n={r['n_supported']}) vs {base['mae_supported']:.3f} on scaffold split "
                  f"(n={base['n_supported']}) ({change:+.0%}; target within {TARGETS['transport']:.0%})")


def build_time(rows: list[dict[str, str]]) -> None:
    from services.causal.profile import build_profile

    started = time.perf_counter()
    profile = build_profile(rows, ["gene"], "mechanism", MODEL, seed=0)
    print(f"== profile build, AKT {len(rows)} rows (context gene, mechanism hints), model {ESTIMATOR}: "
          f"{time.perf_counter() - started:.1f}s; steps {profile['build']['steps']}; "
          f"{len(profile['treatments'])} treatments, {profile['effect_counts']}")


CAPIVASERTIB = "NC(=O)C1(CCN(CC1)c1ncnc2[nH]ccc12)Cc1ccc(Cl)cc1"


def capivasertib_example(rows: list[dict[str, str]]) -> None:
    """The README's example: capivasertib annotated by a model and profile built on the whole AKT set."""
    import json

    from services.causal.evidence import CausalContext, compile_profile
    from services.causal.logic import annotate_molecules
    from services.causal.profile import build_profile
    from services.featurizer.logic import featurize_molecule, make_featurizer
    from services.predictor.estimators import make_estimator
    from shared.applicability import NearestNeighbourIndex, pack_fingerprints

    rows, molecules, x = featurized(rows)
    model, _ = make_estimator(ESTIMATOR, 0)
    model.fit(x, np.array([float(r["pactivity"]) for r in rows]))
    model.set_params(n_jobs=1)
    profile = build_profile(rows, ["gene"], "mechanism", MODEL, seed=0)
    query = [featurize_molecule({"id": "capivasertib", "smiles": CAPIVASERTIB}, make_featurizer(FEATURIZER))]
    index = NearestNeighbourIndex(pack_fingerprints([m["ad_bits"] for m in molecules]))
    threshold = domain_threshold(molecules, x, np.array([float(r["pactivity"]) for r in rows]))
    annotate_molecules(query, index, threshold, CausalContext(compile_profile(profile), model, FEATURIZER, 2048))
    print(json.dumps(query[0]["causal_validity"], indent=1))


def capture(path: Path, name: str, split: str, seed: int, result: dict[str, Any]) -> None:
    """Append one split's held-out molecules: error, tree spread and the served ``causal_validity``."""
    import json

    with path.open("a") as handle:
        for i, validity in enumerate(result["validity"]):
            spread = None if result["spread"] is None else float(result["spread"][i])
            handle.write(json.dumps({"dataset": name, "split": split, "seed": seed, "error": float(result["errors"][i]),
                                     "spread": spread, "validity": validity}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--skip-build", action="store_true", help="only the verdict tables")
    parser.add_argument("--split-seeds", type=int, nargs="*", default=[0], help="splits to evaluate")
    parser.add_argument("--context-split", action="store_true", help="also hold out whole assays / isoforms")
    parser.add_argument("--datasets", nargs="*", default=["PIK3CA", "AKT"])
    parser.add_argument("--example", action="store_true", help="only the README's capivasertib example")
    parser.add_argument("--capture", type=Path, help="also write every held-out molecule's verdict inputs (JSON "
                        "lines) for tests/benchmarks/verdict_replay.py")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    akt = akt_rows(args.data)
    if args.example:
        capivasertib_example(akt)
        return
    if not args.skip_build:
        build_time(akt)
    sets = {"PIK3CA": (pik3ca_rows(args.data), ["assay_chembl_id"], None), "AKT": (akt, ["gene"], "mechanism")}
    results = []
    for split in ("scaffold", "context") if args.context_split else ("scaffold",):
        for seed in args.split_seeds:
            for name in args.datasets:
                rows, context, mechanism = sets[name]
                result = evaluate(rows, context, mechanism, seed, split)
                results.append(summarize(name, split, seed, result))
                if args.capture:
                    capture(args.capture, name, split, seed, result)
    print_summary(results)


if __name__ == "__main__":
    main()
