"""The causal effect of one substructure (or binary column) on pActivity, and the status rule it is judged by.

``estimate_question`` answers a user's question; the causal profile runs the very same ``estimate_treatment``
for each substructure. For one treatment, with ``n1`` rows with it and ``n0`` without:

- naive effect: mean pActivity with minus without (Welch 95% interval);
- adjusted effect: DoWhy backdoor identification on the graph context -> treatment, context -> pActivity,
  treatment -> pActivity (``graph.py``), then each requested estimator (``estimators.py``); the first requested one
  (``linear``, fixed effects absorbed, by default) is the adjusted effect;
- overlap: joint context levels holding rows with and without the treatment, and how many rows they hold;
- the confounding test: naive minus adjusted, tested with both influence functions on the same rows
  (cluster-robust by the first context column), a Hausman-type test of "adjusting changes nothing";
- per stratum: the naive difference inside each joint context level with both arms (shown, not used);
- refutations (``refuters.py``) of the linear estimate.

``shared.verdicts.EFFECT_STATUSES`` is the rule, first that applies; each status has one meaning. ``NULL_BAND`` is
0.3 log units, a factor of two in potency: about the repeatability of one assay, so an effect inside it is no effect
a chemist would act on.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from dowhy.causal_identifier import IdentifiedEstimand
from scipy import stats
from threadpoolctl import threadpool_limits

from services.causal.estimators import ESTIMATORS, EffectData, Estimate, difference_in_means, run_estimator
from services.causal.fixed_effects import Overlap, difference_p_value, fit_within, naive_influence, overlap
from services.causal.graph import OUTCOME, TREATMENT, Confounding, backdoor_dot, encode_confounders, identify
from services.causal.questions import resolve_question
from services.causal.refuters import REFUTATION_RULE, REFUTERS, run_refuter
from services.causal.strata import stratum_effects
from shared.verdicts import ALPHA, EFFECT_STATUSES, MIN_GROUP_ROWS, MIN_OVERLAP_ROWS, NULL_BAND

logger = logging.getLogger(__name__)

STATUSES = EFFECT_STATUSES


@dataclass(frozen=True)
class EffectRules:
    min_group_rows: int = MIN_GROUP_ROWS
    min_overlap_rows: int = MIN_OVERLAP_ROWS
    min_stratum_rows: int = 4
    min_arm: int = 2
    null_band: float = NULL_BAND
    alpha: float = ALPHA
    num_simulations: int = 20

    def describe(self) -> dict[str, Any]:
        return {**asdict(self), "interval": "95%", "refutation_passes_when": REFUTATION_RULE}


def status_rules() -> dict[str, str]:
    """Each status and its meaning: stored in every profile under ``rules.effect_status``."""
    return dict(STATUSES)


@dataclass
class EffectContext:
    """Everything shared by the treatments of one question: outcome, confounders, graph and identified estimand."""

    y: np.ndarray
    confounding: Confounding
    graph: str
    estimand: IdentifiedEstimand
    seed: int
    rules: EffectRules

    @property
    def has_context(self) -> bool:
        return bool(self.confounding.nodes)

    @property
    def cluster(self) -> np.ndarray | None:
        return self.confounding.level_arrays[0] if self.has_context else None

    def data(self, t: np.ndarray) -> EffectData:
        frame = self.confounding.codes.assign(**{TREATMENT: t.astype(int), OUTCOME: self.y})
        return EffectData(frame, self.estimand, self.seed, self.confounding.nodes[0] if self.has_context else None)


def prepare_context(
    y: np.ndarray, confounders: dict[str, list[str]], seed: int, rules: EffectRules = EffectRules()
) -> EffectContext:
    confounding = encode_confounders(confounders, len(y))
    graph = backdoor_dot(confounding.nodes)
    return EffectContext(np.asarray(y, dtype=float), confounding, graph, identify(confounding, graph), seed, rules)


def _interval(e: Estimate) -> str:
    return f"{e.value:+.2f} (95% CI {e.ci[0]:+.2f} to {e.ci[1]:+.2f})"


def _untestable(ctx: EffectContext, t: np.ndarray, seen: Overlap, linear: Estimate | None) -> list[str]:
    rules, n1 = ctx.rules, int(t.sum())
    n0 = len(t) - n1
    if min(n1, n0) < rules.min_group_rows:
        return [f"only {n1} molecules with and {n0} without the substructure (need {rules.min_group_rows} each)"]
    if not ctx.has_context:
        return ["no context (assay, document, isoform...) was recorded, so whether the association is confounded "
                "cannot be checked"]
    if min(seen.treated, seen.untreated) < rules.min_overlap_rows:
        return [f"too little overlap: only {seen.informative_levels} of {seen.levels} context levels hold molecules "
                f"with and without it ({seen.treated} with, {seen.untreated} without; need {rules.min_overlap_rows} "
                "each)"]
    if linear is None:
        return ["the substructure does not vary within the context levels: its effect is not identified"]
    return []


def _confounding(naive: Estimate, linear: Estimate, p_value: float, rules: EffectRules) -> list[str]:
    problems = []
    shift = naive.value - linear.value
    if p_value < rules.alpha and abs(shift) >= rules.null_band:
        problems.append(f"adjusting for the context changes the naive association {_interval(naive)} to "
                        f"{_interval(linear)} (p = {p_value:.2g})")
    if naive.excludes_zero() and linear.excludes_zero() and np.sign(naive.value) != np.sign(linear.value):
        problems.append(f"Simpson reversal: the pooled association {naive.value:+.2f} reverses to {linear.value:+.2f} "
                        "at equal context")
    return problems


def classify(primary: Estimate, refutations: list[dict[str, Any]], rules: EffectRules) -> tuple[str, list[str]]:
    """null, causal or inconclusive for an estimate that is testable and not confounded."""
    failed = [f"the {r['name']} refutation fails" for r in refutations if not r["passed"]]
    if -rules.null_band <= primary.ci[0] and primary.ci[1] <= rules.null_band:
        return "null", [f"the adjusted effect {_interval(primary)} lies within +/-{rules.null_band} of 0"]
    if primary.excludes_zero() and not failed:
        passed = f"; {len(refutations)} refutations passed" if refutations else ""
        return "causal", [f"the adjusted effect {_interval(primary)} excludes 0{passed}"]
    return "inconclusive", failed or [f"the adjusted effect {_interval(primary)} is too uncertain to tell"]


def estimate_treatment(
    ctx: EffectContext, t: np.ndarray, estimators: list[str], refuters: list[str], refute_confounded: bool = True
) -> tuple[dict[str, Any], list[str]]:
    """The answer for one binary treatment vector, and the plain-language reasons behind its status.

    ``refute_confounded=False`` skips the refuters when the estimates already make the treatment confounded (they
    cannot change that status): the profile's saving.
    """
    # Thousands of tiny least-squares problems: BLAS threads only add overhead (5x slower on small matrices).
    with threadpool_limits(limits=1, user_api="blas"):
        return _estimate_treatment(ctx, np.asarray(t, dtype=int), estimators, refuters, refute_confounded)


def _estimate_treatment(
    ctx: EffectContext, t: np.ndarray, estimators: list[str], refuters: list[str], refute_confounded: bool
) -> tuple[dict[str, Any], list[str]]:
    y, rules = ctx.y, ctx.rules
    n1 = int(t.sum())
    computable = min(n1, len(t) - n1) >= 2
    naive = Estimate("naive", *difference_in_means(t, y)) if computable else None
    data = ctx.data(t)
    estimates = [e for e in (run_estimator(name, data) for name in estimators) if e] if computable else []
    primary = next((e for e in estimates if e.estimator == estimators[0]), None)
    linear = next((e for e in estimates if e.estimator == "linear"), None)
    if linear is None and computable:
        linear = run_estimator("linear", data)  # the confounding test and the refuters need it

    seen = overlap(t, ctx.confounding.strata)
    problems = (_untestable(ctx, t, seen, linear) if computable
                else ["the substructure is (almost) never or always present"])
    if not problems and primary is None:
        problems = [f"the {estimators[0]} estimator produced no number"]
    test, refutations = None, []
    if problems:
        status = "untestable"
    else:
        # No problem: both groups have rows (naive), the linear fit identified the effect and the primary gave one.
        assert naive is not None and linear is not None and linear.influence is not None and primary is not None
        p_value = difference_p_value(naive_influence(t, y), linear.influence, naive.value - linear.value, ctx.cluster)
        test = {"difference": round(naive.value - linear.value, 4), "p_value": float(f"{p_value:.3g}")}
        problems = _confounding(naive, linear, p_value, rules)
        if refuters and (refute_confounded or not problems):
            refutations = [run_refuter(name, data, linear, rules.num_simulations, ctx.seed) for name in refuters]
        if problems:
            status = "confounded"
        else:
            status, problems = classify(primary, refutations, rules)
    answer = {
        "naive_effect": {"value": round(naive.value, 4), "ci": [round(c, 4) for c in naive.ci]} if naive
        else {"value": None, "ci": None},
        "adjusted_effect": primary.to_dict() if primary else {"estimator": estimators[0], "value": None, "ci": None},
        "estimates": [e.to_dict() for e in estimates],
        "overlap": seen.to_dict(),
        "confounding_test": test,
        "per_stratum": stratum_effects(t, y, ctx.confounding.strata, rules.min_stratum_rows, rules.min_arm),
        "simpson_reversal": any(p.startswith("Simpson") for p in problems),
        "refutations": refutations,
        "verdict": status,
        "graph": ctx.graph,
    }
    return answer, problems


def effect_by_group(
    ctx: EffectContext, t: np.ndarray, groups: np.ndarray, labels: list[str], min_rows: int | None = None
) -> dict[str, Any]:
    """The adjusted effect inside each group (mechanism): an effect modifier, never an adjuster.

    Each group's effect is the fixed-effects estimate on its own rows (context absorbed within the group); a group
    with fewer than ``min_group_rows`` with or without the treatment gets no number. ``heterogeneous`` is Cochran's
    Q test across the groups' estimates (independent rows), p < ``alpha``.
    """
    rules = ctx.rules
    floor = rules.min_group_rows if min_rows is None else min_rows
    cluster = ctx.cluster
    items, values, variances = [], [], []
    for g, label in enumerate(labels):
        rows = np.flatnonzero(groups == g)
        n1 = int(t[rows].sum())
        item: dict[str, Any] = {"group": g, "label": label, "n": int(len(rows)), "n_treated": n1,
                                "value": None, "ci": None}
        if min(n1, len(rows) - n1) >= floor:
            try:
                fit = fit_within(ctx.y[rows], t[rows], [a[rows] for a in ctx.confounding.level_arrays], None,
                                 None if cluster is None else np.unique(cluster[rows], return_inverse=True)[1])
                item["value"], item["ci"] = round(fit.value, 4), [round(c, 4) for c in fit.ci]
                values.append(fit.value)
                variances.append(fit.se**2)
            except ValueError:
                pass  # not identified inside this group
        items.append(item)
    heterogeneity: dict[str, Any] = {
        "q": None, "p_value": None, "heterogeneous": False,
        "note": f"not tested: {len(values)} of {len(labels)} groups have an estimate (each needs at least {floor} "
                "molecules with and without the substructure), and the test compares two or more"}
    if len(values) >= 2 and all(v > 0 for v in variances):
        w = 1 / np.asarray(variances)
        pooled = float(np.sum(w * values) / w.sum())
        q = float(np.sum(w * (np.asarray(values) - pooled) ** 2))
        p_value = float(stats.chi2.sf(q, len(values) - 1))
        heterogeneity = {"q": round(q, 3), "p_value": float(f"{p_value:.3g}"),
                         "heterogeneous": bool(p_value < rules.alpha)}
    return {"groups": items, **heterogeneity}


def estimate_question(rows: list[dict[str, str]], question: dict[str, Any]) -> dict[str, Any]:
    """Answer ``{"treatment": {"smarts"} | {"column"}, "outcome", "confounders", "effect_modifiers", "estimators",
    "refuters", "seed"}``. Unknown SMARTS, columns, estimators or refuters raise ``InvalidRequest``."""
    resolved = resolve_question(rows, question, list(ESTIMATORS), list(REFUTERS))
    ctx = prepare_context(resolved.y, resolved.confounders, resolved.seed)
    answer, reasons = estimate_treatment(ctx, resolved.t, resolved.estimators, resolved.refuters)
    answer["reasons"] = reasons
    answer["confounders"] = {"columns": ctx.confounding.columns, "levels": ctx.confounding.levels}
    answer["effect_modifiers"] = {}
    for column, values in resolved.modifiers.items():
        names = sorted(set(values))
        codes = np.array([names.index(v) for v in values])
        answer["effect_modifiers"][column] = effect_by_group(ctx, resolved.t, codes, names)
    # The treatment itself is not logged: a SMARTS can be as confidential as a structure.
    logger.info("effect question on %d rows: %s", len(resolved.y), answer["verdict"])
    return answer
