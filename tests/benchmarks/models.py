"""Reference-model benchmark: how good each bundled model is, against two baselines, and how fast it serves.

For each reference model (akt1, akt, pik3ca), built from scratch in a temporary directory through the same
ingestion and training path a lab's model takes, it prints:

- scaffold-split held-out RMSE and R² of the model, and the RMSE of two baselines measured in the same run on the
  same split: the training-side mean, and the activity of the most Tanimoto-similar training molecule (1-NN);
- the measured coverage of the 80% and 90% conformal intervals on that held-out split;
- build time (ingestion with standardization, featurization, evaluation, final fit) and the fit part alone;
- predictions per second of the loaded model (``predict_chunk`` on 1,000 featurized molecules).

It also measures what each standardization step costs per molecule on 1,000 AKT1 SMILES.
Usage: ``.venv/bin/python tests/benchmarks/models.py [--models akt1 pik3ca] [--limit N]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

N_PREDICT = 1000


def standardization_cost() -> None:
    """Per-step cost of the standardization, and of the tautomer canonicalization it leaves out (and why)."""
    from rdkit import Chem
    from rdkit.Chem.MolStandardize import rdMolStandardize

    from services.featurizer.logic import STANDARDIZATION, standardize_mol
    from services.predictor.reference import load_akt1

    mols = [Chem.MolFromSmiles(s) for s in load_akt1().smiles[:N_PREDICT]]
    previous = 0.0
    for n in range(1, len(STANDARDIZATION) + 1):
        started = time.perf_counter()
        parents = [standardize_mol(m, STANDARDIZATION[:n]) for m in mols]
        per_molecule = (time.perf_counter() - started) / len(mols) * 1000
        print(f"  + {STANDARDIZATION[n - 1]:<18} {per_molecule - previous:7.3f} ms/molecule "
              f"(cumulative {per_molecule:.3f})")
        previous = per_molecule
    enumerator = rdMolStandardize.TautomerEnumerator()
    started = time.perf_counter()
    tautomers = [enumerator.Canonicalize(p) for p in parents]
    per_molecule = (time.perf_counter() - started) / len(mols) * 1000
    changed = sum(Chem.MolToSmiles(a) != Chem.MolToSmiles(b) for a, b in zip(parents, tautomers, strict=True))
    print(f"  (left out) canonical tautomer {per_molecule:7.3f} ms/molecule; it would change {changed} of "
          f"{len(mols)} AKT1 parents")


def predictions_per_second(store: object, manifest: dict, datasets_dir: Path) -> float:
    from services.featurizer.logic import featurize_chunk
    from services.predictor.loader import ModelCache
    from services.predictor.logic import predict_chunk
    from shared.datasets import read_rows

    smiles = [r["canonical_smiles"] for r in read_rows(datasets_dir, manifest["dataset"]["id"])]
    ref = {"name": manifest["name"], "version": manifest["version"], "featurizer": manifest["featurizer"]}
    message = {"job_id": "bench", "chunk": 0, "model": ref,
               "molecules": [{"id": str(i), "smiles": smiles[i % len(smiles)]} for i in range(N_PREDICT)]}
    featurized = featurize_chunk(message)
    model = ModelCache(store, capacity=1).get(manifest["name"], manifest["version"])
    predict_chunk(featurized, model)  # warm-up: the first call pays one-off costs
    started = time.perf_counter()
    predict_chunk(featurized, model)
    return N_PREDICT / (time.perf_counter() - started)


def benchmark(name: str, limit: int | None, root: Path) -> None:
    from services.predictor.reference import build_reference
    from shared.model_store import ModelStore

    store = ModelStore(root / "models")
    started = time.perf_counter()
    manifest = build_reference(store, name, limit, root / "datasets")
    build_seconds = time.perf_counter() - started
    metrics, interval = manifest["metrics"], manifest["interval"]
    held_out, cv = metrics["held_out"], metrics["cross_validation"]
    rate = predictions_per_second(store, manifest, root / "datasets")
    data = manifest["dataset"]
    print(f"\n== {name}: {data['rows_used']} rows used ({data['rows_read']} read, {data['rows_rejected']} rejected); "
          f"contexts {data['context_columns']}, mechanism {data['mechanism_column']}")
    print(f"  scaffold held-out (n_test={metrics['n_test']}, {metrics['n_test_groups']} scaffolds): "
          f"model RMSE {held_out['rmse']:.3f}  R² {held_out['r2']:.3f}  Spearman {held_out['spearman']:.3f}")
    print(f"  baselines on the same split: mean predictor RMSE {metrics['mean_predictor_rmse']:.3f}, "
          f"1-NN Tanimoto RMSE {metrics['nearest_neighbour_rmse']:.3f}")
    beaten = [b for b in ("mean_predictor_rmse", "nearest_neighbour_rmse") if held_out["rmse"] < metrics[b]]
    verdict = "beats both baselines" if len(beaten) == 2 else f"does NOT beat both baselines (beats only {beaten})"
    print(f"  -> the model {verdict}")
    print(f"  {cv['n_folds']}-fold CV on the training side: RMSE {cv['overall']['rmse']:.3f}  "
          f"R² {cv['overall']['r2']:.3f} (mean predictor {cv['mean_predictor_rmse']:.3f})")
    for column, groups in cv["per_context"].items():
        shown = ", ".join(f"{k} {v['rmse']:.2f} (n={v['n']})" for k, v in list(groups.items())[:6])
        print(f"  CV RMSE per {column} ({len(groups)} groups with n>=5): {shown}{' ...' if len(groups) > 6 else ''}")
    if cv["per_mechanism"]:
        print("  CV RMSE per mechanism: " + ", ".join(f"{k} {v['rmse']:.2f} (n={v['n']})"
                                                    for k, v in cv["per_mechanism"].items()))
    coverage = interval["measured_coverage"]
    print(f"  intervals ({interval['method']}): 80% ±{interval['half_width_80']:.2f} covers {coverage['80']:.3f}, "
          f"90% ±{interval['half_width']:.2f} covers {coverage['90']:.3f} of {coverage['n']} held-out molecules")
    print(f"  AD threshold {manifest['applicability_domain']['threshold']}; build {build_seconds:.1f} s "
          f"(evaluation + fit {manifest['training_seconds']:.1f} s); {rate:,.0f} predictions/s (predict_chunk, "
          f"{N_PREDICT} molecules)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["akt1", "akt", "pik3ca"])
    parser.add_argument("--limit", type=int, default=None, help="rows per dataset (every k-th), for a quick run")
    args = parser.parse_args()
    print("standardization cost on 1,000 AKT1 SMILES:")
    standardization_cost()
    with tempfile.TemporaryDirectory(prefix="causalmol-bench-") as tmp:
        for name in args.models:
            benchmark(name, args.limit, Path(tmp))


if __name__ == "__main__":
    main()
