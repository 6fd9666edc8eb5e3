"""Normalised split-conformal intervals: each molecule's interval scales with its sigma (``spread.py``).

Rule: calibrated (with ``crepes.ConformalRegressor``) on the out-of-fold residuals of the K-fold cross-validation on
the training side of the held-out split, each molecule's sigma taken from the fold model that predicted it. The
nonconformity score is |y - y_hat| / (sigma + beta); at level c its quantile q_c is crepes' (the
floor((1-c)(n+1))-th largest score). A served molecule's interval is y_hat +/- q_c x (sigma + beta): the card keeps
q_c and beta, so serving needs no crepes object.

beta: of the multiples ``BETA_MULTIPLES`` of the median calibration sigma, the one giving the narrowest mean 90%
interval on the calibration molecules (ties: the smaller). In the sigma's own units (pActivity for a tree spread,
Tanimoto distance for the neighbour distance), so one rule fits both kinds; at least a tenth of the median, so a
molecule whose trees happen to agree (or which has near-duplicates in training) gets no zero-width interval. The
choice matters where sigma is a weak difficulty estimate: on the AKT1 reference with knn the neighbour distance
ranks error poorly, and a fixed 0.1 x median made the intervals wider than one constant width; a large multiple
shrinks them towards that constant instead. Picking one of seven values on the calibration data costs a negligible
part of the quantile's calibration, and the coverage is measured on the held-out split anyway.

Like the plain CV-residual interval it replaces, this is not CV+: no finite-sample guarantee, hence the coverage
measured on the held-out split (overall and per nearest-neighbour similarity bin), which neither the calibration nor
the cross-validated models saw.

Mondrian by similarity: with at least ``MIN_BIN_ROWS`` calibration molecules per bin, the quantiles are calibrated
separately in ``SIMILARITY_BINS`` bins of the calibration molecules' nearest-neighbour similarity (to the other
folds), the bins' edges being that similarity's quantiles (tertiles); a served molecule takes the quantile of its
bin (its similarity to the training set). Why: one quantile over all calibration molecules lets the many easy ones
(near-duplicates, rows at a dataset's inactive floor) set the error-to-sigma ratio for the unfamiliar ones, which
then under-cover; each bin's own quantile keeps the nominal coverage within the bin. Same beta in every bin. Too few
calibration molecules for two bins of ``MIN_BIN_ROWS``: one quantile, as before. Mondrian is a training option
(``"intervals": "mondrian"``), not the default: on the confirmation splits of ``tests/benchmarks/intervals.py`` it
evened the coverage across similarity tertiles but did not bring the overall coverage closer to nominal, which the
criterion written there beforehand asked of it.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
from crepes import ConformalRegressor

from services.predictor.evaluation import INTERVAL_LEVELS
from services.predictor.spread import K_NEIGHBOURS, NEIGHBOUR_DISTANCE, SIGMA_DESCRIPTIONS

logger = logging.getLogger(__name__)

METHOD = "normalized_conformal"
MONDRIAN_METHOD = "mondrian_normalized_conformal"
SIMILARITY_BINS = 3  # Mondrian categories: tertiles of the calibration molecules' nearest-neighbour similarity
MIN_BIN_ROWS = 100  # calibration molecules per Mondrian bin, at least; fewer bins (down to one) below it
BETA_MULTIPLES = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)  # of the median calibration sigma
MIN_BETA = 1e-3  # only when (almost) every calibration sigma is zero
SIMILARITY_EDGES = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0)  # nearest training neighbour Tanimoto; last bin closed
DESCRIPTION = (
    "normalised split-conformal (crepes ConformalRegressor with sigmas): nonconformity |y - y_hat| / (sigma + beta) "
    "on the out-of-fold residuals of the K-fold cross-validation on the training side, sigma from the fold model "
    "that predicted each molecule; interval = y_hat +/- quantiles[level] x (sigma + beta). beta: the multiple "
    "(0.1 to 10) of the median calibration sigma with the narrowest mean 90% calibration interval, so no interval "
    "has zero width and a weak sigma shrinks towards one constant width. Not CV+: no finite-sample guarantee, hence "
    "the coverage measured on the held-out split, overall and per nearest-neighbour similarity bin. Where "
    "'mondrian' is given, the quantiles are calibrated per bin of nearest-neighbour similarity (its 'edges', "
    "tertiles of the calibration molecules' similarity; a molecule takes the quantiles of its bin). half_width and "
    "half_width_80 are the median half-widths over the calibration molecules, for clients that read one constant "
    "width."
)


def level_key(level: float) -> str:
    return str(round(level * 100))


def choose_beta(residuals: np.ndarray, sigmas: np.ndarray) -> float:
    """The module rule's beta, to 4 significant digits (the card's value is the one calibrated with)."""
    if len(sigmas) == 0:
        return MIN_BETA
    median, level = float(np.median(sigmas)), max(INTERVAL_LEVELS)
    candidates = [float(f"{max(m * median, MIN_BETA):.4g}") for m in BETA_MULTIPLES]

    def mean_width(beta: float) -> float:
        return calibrate(residuals, sigmas, beta, (level,))[level_key(level)] * float(np.mean(sigmas + beta))

    return min(candidates, key=mean_width)  # min keeps the first, the smallest, of equal widths


def calibrate(residuals: np.ndarray, sigmas: np.ndarray, beta: float,
              levels: tuple[float, ...] = INTERVAL_LEVELS) -> dict[str, float]:
    """The nonconformity quantile per level, as crepes computes it; too few rows for a level: the largest score."""
    regressor = ConformalRegressor().fit(np.asarray(residuals, dtype=np.float64), sigmas=sigmas + beta)
    quantiles = {}
    for level in levels:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # crepes warns, and answers an infinite interval, when n is too small
            # y_hat 0 and sigma 1 read the quantile itself off crepes' interval
            q = float(regressor.predict_int(np.zeros(1), sigmas=np.ones(1), confidence=level)[0, 1])
        quantiles[level_key(level)] = q if np.isfinite(q) else float(regressor.alphas[0])
    return quantiles


def mondrian_edges(similarity: np.ndarray) -> list[float]:
    """The inner edges of the Mondrian similarity bins (the module rule), [] when there are too few rows for two."""
    similarity = np.asarray(similarity, dtype=np.float64)
    for n_bins in range(min(SIMILARITY_BINS, len(similarity) // MIN_BIN_ROWS), 1, -1):
        edges = sorted({round(float(q), 4) for q in np.quantile(similarity, np.arange(1, n_bins) / n_bins)})
        if np.bincount(similarity_bins(similarity, edges), minlength=len(edges) + 1).min() >= MIN_BIN_ROWS:
            return edges  # ties (e.g. many exact duplicates) can leave a bin short: then try fewer bins
    return []


def similarity_bins(similarity: np.ndarray, edges: list[float]) -> np.ndarray:
    """Each molecule's bin: 0 below the first edge, i from edge i-1 (inclusive) to edge i."""
    return np.searchsorted(np.asarray(edges, dtype=np.float64), np.asarray(similarity, dtype=np.float64),
                           side="right")


def calibrate_by_bin(residuals: np.ndarray, sigmas: np.ndarray, beta: float, bins: np.ndarray, n_bins: int,
                     levels: tuple[float, ...] = INTERVAL_LEVELS) -> list[dict[str, float]]:
    """crepes' Mondrian quantile per bin and level (bins numbered 0 to n_bins - 1, each non-empty)."""
    return [calibrate(residuals[bins == b], sigmas[bins == b], beta, levels) for b in range(n_bins)]


def half_widths(sigmas: np.ndarray, beta: float, quantile: float | np.ndarray) -> np.ndarray:
    """The serving formula: q x (sigma + beta), per molecule (equal to crepes' ``predict_int`` half-width)."""
    return quantile * (np.asarray(sigmas, dtype=np.float64) + beta)


def _rounded(value: float) -> float:
    return round(float(value), 4)


def _measured(abs_residuals: np.ndarray, widths: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, Any]:
    return {"n": int(rows.sum()),
            "coverage": {k: _rounded(np.mean(abs_residuals[rows] <= w[rows])) if rows.any() else None
                         for k, w in widths.items()},
            "mean_width": {k: _rounded(np.mean(2 * w[rows])) if rows.any() else None for k, w in widths.items()}}


def coverage_by_similarity(abs_residuals: np.ndarray, widths: dict[str, np.ndarray],
                           similarity: np.ndarray) -> list[dict[str, Any]]:
    """Per nearest-neighbour similarity bin [from, to) (the last closed): n, coverage and mean full width per level."""
    bins = []
    for low, high in zip(SIMILARITY_EDGES[:-1], SIMILARITY_EDGES[1:], strict=True):
        rows = (similarity >= low) & ((similarity < high) if high < SIMILARITY_EDGES[-1] else (similarity <= high))
        bins.append({"similarity_from": low, "similarity_to": high, **_measured(abs_residuals, widths, rows)})
    return bins


def interval_section(
    cal_residuals: np.ndarray, cal_sigmas: np.ndarray, sigma_kind: str, test_residuals: np.ndarray,
    test_sigmas: np.ndarray, test_similarity: np.ndarray, held_out: str, cal_similarity: np.ndarray | None = None,
) -> dict[str, Any]:
    """The card's ``interval``: calibrated on the out-of-fold rows (Mondrian by their similarity when
    ``cal_similarity`` is given and there are enough rows), measured on the held-out rows."""
    beta = choose_beta(cal_residuals, cal_sigmas)
    quantiles = calibrate(cal_residuals, cal_sigmas, beta)
    card: dict[str, Any] = {"method": METHOD, "quantiles": quantiles, "beta": beta}
    edges = [] if cal_similarity is None else mondrian_edges(cal_similarity)
    if edges and cal_similarity is not None:  # edges come from cal_similarity only
        cal_bins = similarity_bins(cal_similarity, edges)
        by_bin = calibrate_by_bin(np.asarray(cal_residuals), np.asarray(cal_sigmas), beta, cal_bins, len(edges) + 1)
        card.update(method=MONDRIAN_METHOD, mondrian={
            "by": "nearest-neighbour Tanimoto similarity to the training set", "edges": edges,
            "quantiles": by_bin, "calibration_n": np.bincount(cal_bins).tolist()})
    cal_widths = served_half_widths(card, cal_sigmas, len(cal_sigmas), cal_similarity)
    median = {k: _rounded(np.median(w)) for k, w in cal_widths.items() if w is not None}
    abs_test = np.abs(test_residuals)
    widths = {k: w for k, w in served_half_widths(card, test_sigmas, len(abs_test), test_similarity).items()
              if w is not None}
    overall = _measured(abs_test, widths, np.ones(len(abs_test), dtype=bool))
    sigma: dict[str, Any] = {"kind": sigma_kind, "description": SIGMA_DESCRIPTIONS[sigma_kind]}
    if sigma_kind == NEIGHBOUR_DISTANCE:
        sigma["k"] = K_NEIGHBOURS
    logger.info("%s on %d rows (%s): beta %.4g, q90 %.3f, similarity edges %s", card["method"], len(cal_residuals),
                sigma_kind, beta, quantiles["90"], edges)
    return {
        "method": card["method"],
        "description": DESCRIPTION,
        "coverage": max(INTERVAL_LEVELS),
        "levels": list(INTERVAL_LEVELS),
        "sigma": sigma,
        "beta": beta,
        "quantiles": quantiles,
        **({"mondrian": card["mondrian"]} if edges else {}),
        "half_width": median["90"],
        "half_width_80": median["80"],
        "calibration_n": int(len(cal_residuals)),
        "measured_coverage": {
            **overall["coverage"], "n": overall["n"], "mean_width": overall["mean_width"], "on": held_out,
            "per_similarity_bin": coverage_by_similarity(abs_test, widths, test_similarity),
        },
    }


def served_half_widths(interval: dict[str, Any], sigmas: np.ndarray | None, n: int,
                       similarity: np.ndarray | None = None) -> dict[str, np.ndarray | None]:
    """Half-width per molecule for "90" and "80": normalised where the card has quantiles (per similarity bin
    where it has ``mondrian`` and ``similarity`` is given), else the constant ``half_width`` / ``half_width_80``
    of an older card (None where the card has none)."""
    if "quantiles" in interval and sigmas is not None:
        mondrian = interval.get("mondrian")
        if mondrian and similarity is not None:
            bins = similarity_bins(similarity, mondrian["edges"])
            return {k: half_widths(sigmas, interval["beta"], np.array([q[k] for q in mondrian["quantiles"]])[bins])
                    for k in interval["quantiles"]}
        return {k: half_widths(sigmas, interval["beta"], q) for k, q in interval["quantiles"].items()}
    constant = {"90": interval.get("half_width"), "80": interval.get("half_width_80")}
    return {k: None if w is None else np.full(n, float(w)) for k, w in constant.items()}
