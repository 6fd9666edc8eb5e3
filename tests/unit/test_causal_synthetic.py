"""Semi-synthetic data for the causal tests: REAL AKT1 SMILES (the bundled ChEMBL reference file), SYNTHETIC outcomes.

Every outcome here is generated from a stated causal model, never measured; only the structures are real. The
helpers are imported by the other ``test_causal_*`` files; the tests below check the generated data have the
properties the other tests rely on (prevalence, assay confounding, Simpson reversal).
"""

from __future__ import annotations

import csv
from functools import lru_cache

import numpy as np
from rdkit import Chem

from services.predictor.reference import AKT1_FILE

SUPPORTED_SMARTS = "[F,Cl]"  # aryl/alkyl halogens: about a third of the sample
CONFOUNDED_SMARTS = "C1CCNCC1"  # piperidines: about a fifth
SIMPSON_SMARTS = "c1ccncc1"
ALLOSTERIC_SMARTS = "NC1(CCC1)c1ccccc1"  # the MK-2206/ARQ-type aminocyclobutyl-phenyl series
ATP_SITE_SMARTS = "c1ncnc2[nH]ccc12"  # pyrrolopyrimidines (capivasertib-like)


@lru_cache(maxsize=1)
def reference_smiles() -> tuple[str, ...]:
    with AKT1_FILE.open(newline="") as handle:
        return tuple(r["canonical_smiles"] for r in csv.DictReader(handle))


def sample_smiles(n: int, step: int = 6) -> list[str]:
    """Every ``step``-th real AKT1 structure, ``n`` of them (a spread over the file, not one series)."""
    return list(reference_smiles()[::step][:n])


def has(smiles: list[str], smarts: str) -> np.ndarray:
    pattern = Chem.MolFromSmarts(smarts)
    return np.array([Chem.MolFromSmiles(s).HasSubstructMatch(pattern) for s in smiles], dtype=int)


def rows_from(smiles: list[str], y: np.ndarray, **columns: np.ndarray) -> list[dict[str, str]]:
    """Dataset rows as ``shared.datasets.read_rows`` returns them: every value a string."""
    return [
        {"id": f"m{i}", "canonical_smiles": s, "pactivity": f"{v:.4f}", **{k: str(c[i]) for k, c in columns.items()}}
        for i, (s, v) in enumerate(zip(smiles, y, strict=True))
    ]


def confounded_assays(t: np.ndarray, p_high_treated: float, p_high_untreated: float, seed: int) -> np.ndarray:
    """Assay per molecule: 'A' with one probability for treated and another for untreated molecules."""
    u = np.random.default_rng(seed).random(len(t))
    return np.where(u < np.where(t == 1, p_high_treated, p_high_untreated), "A", "B")


def supported_case(seed: int = 0) -> tuple[list[dict[str, str]], str]:
    """pActivity = 6 + 1.0*[halogen] + 0.8*[assay A] + N(0, 0.5); assay mildly tied to the halogen (0.5 vs 0.3)."""
    smiles = sample_smiles(600)
    t = has(smiles, SUPPORTED_SMARTS)
    assay = confounded_assays(t, 0.5, 0.3, seed)
    y = 6 + 1.0 * t + 0.8 * (assay == "A") + np.random.default_rng(seed + 1).normal(0, 0.5, len(t))
    return rows_from(smiles, y, assay_chembl_id=assay), SUPPORTED_SMARTS


def confounded_case(seed: int = 0) -> tuple[list[dict[str, str]], str]:
    """pActivity = 6 + 1.5*[assay A] + N(0, 0.5): no piperidine effect, but assay A picks the piperidines (85/15)."""
    smiles = sample_smiles(600)
    t = has(smiles, CONFOUNDED_SMARTS)
    assay = confounded_assays(t, 0.85, 0.15, seed)
    y = 6 + 1.5 * (assay == "A") + np.random.default_rng(seed + 1).normal(0, 0.5, len(t))
    return rows_from(smiles, y, assay_chembl_id=assay), CONFOUNDED_SMARTS


def simpson_case(seed: int = 0) -> tuple[list[dict[str, str]], str]:
    """pActivity = 6 - 0.5*[pyridine] + 2.0*[assay A] + N(0, 0.4), assay A picks pyridines (90/10).

    Within each assay the pyridine lowers activity; pooled, it looks activating (Simpson's paradox).
    """
    smiles = sample_smiles(600)
    t = has(smiles, SIMPSON_SMARTS)
    assay = confounded_assays(t, 0.9, 0.1, seed)
    y = 6 - 0.5 * t + 2.0 * (assay == "A") + np.random.default_rng(seed + 1).normal(0, 0.4, len(t))
    return rows_from(smiles, y, assay_chembl_id=assay), SIMPSON_SMARTS


def two_mechanism_case(seed: int = 0) -> tuple[list[dict[str, str]], np.ndarray]:
    """300 aminocyclobutyl-phenyl (allosteric-type) + 60 pyrrolopyrimidine (ATP-site-type) real structures.

    Opposite SAR on shared features: allosteric pActivity = 6 + 1.2*[amide] + 0.8*[F]; ATP-site pActivity =
    7 - 1.2*[amide] - 0.8*[F]; noise N(0, 0.25). Returns the rows (no mechanism column) and the true series.
    """
    everything = list(reference_smiles())
    allosteric, atp_site = has(everything, ALLOSTERIC_SMARTS), has(everything, ATP_SITE_SMARTS)
    series_a = [s for s, hit in zip(everything, allosteric, strict=True) if hit][:300]
    series_b = [s for s, a, b in zip(everything, allosteric, atp_site, strict=True) if b and not a][:60]
    smiles = series_a + series_b
    truth = np.array([0] * len(series_a) + [1] * len(series_b))
    amide, fluorine = has(smiles, "C(=O)N"), has(smiles, "F")
    sar = np.where(truth == 0, 6 + 1.2 * amide + 0.8 * fluorine, 7 - 1.2 * amide - 0.8 * fluorine)
    y = sar + np.random.default_rng(seed).normal(0, 0.25, len(smiles))
    return rows_from(smiles, y), truth


# ---- the generated data have the properties the tests rely on ------------------------------------------------------


def test_supported_case_prevalence_is_about_a_third():
    rows, smarts = supported_case()
    share = has([r["canonical_smiles"] for r in rows], smarts).mean()
    assert 0.25 <= share <= 0.45


def test_confounded_case_ties_the_assay_to_the_substructure():
    rows, smarts = confounded_case()
    t = has([r["canonical_smiles"] for r in rows], smarts)
    in_a = np.array([r["assay_chembl_id"] == "A" for r in rows])
    assert 0.15 <= t.mean() <= 0.35
    assert in_a[t == 1].mean() > 0.75 and in_a[t == 0].mean() < 0.25


def test_two_mechanism_case_has_two_disjoint_real_series():
    rows, truth = two_mechanism_case()
    smiles = [r["canonical_smiles"] for r in rows]
    assert (truth == 0).sum() == 300 and (truth == 1).sum() == 60
    assert has(smiles, ALLOSTERIC_SMARTS)[truth == 1].sum() == 0
    assert len(set(smiles)) == len(smiles)
