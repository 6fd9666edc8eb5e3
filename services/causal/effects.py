"""The causal effect of one substructure (or binary column) on pActivity, and the status rule it is judged by.

``estimate_question`` answers a user's question; the causal profile runs the very same ``estimate_treatment``
for each mined substructure. For one treatment, with ``n1`` rows with it and ``n0`` without:

- naive effect: mean pActivity with minus without (Welch 95% interval);
- adjusted effect: DoWhy backdoor identification on the graph confounders -> treatment, confounders ->
  pActivity, treatment -> pActivity, then each requested estimator (``estimators.py``); the first requested
  one (``linear`` by default) is the adjusted effect;
- per stratum: the naive difference inside each joint confounder level with at least ``min_stratum_rows`` rows
  and ``min_arm`` rows on each side; ``simpson_reversal`` when the pooled sign is opposite to the size-weighted
  majority of at least two strata's signs;
- refutations (``refuters.py``), only when the effect is estimable.

Status, first rule that applies:

1. ``not_estimable``: fewer than ``min_group_rows`` rows with or without the treatment; or, positivity, fewer
   than ``min_overlap_rows`` treated or untreated rows whose propensity (logistic regression of the treatment
   on the confounder indicators) lies within ``propensity_bounds`` [0.05, 0.95], or less than
   ``min_overlap_share`` of the treated rows there (most molecules with the substructure were only ever measured
   where nearly every molecule has it: no comparison at equal assay and mechanism); or no estimator produced a
   number.
2. ``confounded``: the naive interval excludes zero and the adjusted interval includes it; or the naive interval
   excludes zero and the adjusted effect keeps less than ``1 - max_shrink`` of it (shrinks by more than half);
   or the adjusted interval excludes zero with the opposite sign to the naive effect (reversal); or a Simpson
   reversal of a naive association whose interval excludes zero; or any refutation fails.
3. ``supported`` otherwise: the adjusted estimate agrees with the naive association (or there was none to
   lose) and survives the refutations. It says the estimate is trustworthy, not that it is large.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from dowhy.causal_identifier import IdentifiedEstimand
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from services.causal.estimators import ESTIMATORS, EffectData, Estimate, difference_in_means, run_estimator
from services.causal.graph import OUTCOME, TREATMENT, Confounding, backdoor_dot, encode_confounders, identify
from services.causal.questions import resolve_question
from services.causal.refuters import REFUTATION_RULE, REFUTERS, run_refuter
from services.causal.strata import simpson_reversal, stratum_effects

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EffectRules:
    min_group_rows: int = 20
    min_arm: int = 2
    propensity_bounds: tuple[float, float] = (0.05, 0.95)
    min_overlap_rows: int = 10
    min_overlap_share: float = 0.5
    min_stratum_rows: int = 10
    max_shrink: float = 0.5
    num_simulations: int = 20

    def describe(self) -> dict[str, Any]:
        return {**asdict(self), "interval": "95%", "refutation_passes_when": REFUTATION_RULE}


def status_rules(rules: EffectRules = EffectRules()) -> list[str]:
    """The status rule in words, with its numbers: stored in every profile under ``rules.effect_status``."""
    return [
        f"not_estimable: fewer than {rules.min_group_rows} molecules with or without the substructure; or "
        f"(positivity) fewer than {rules.min_overlap_rows} with (or without) it whose propensity given the "
        f"confounders lies in {list(rules.propensity_bounds)}, or under {rules.min_overlap_share:.0%} of the "
        "molecules with it there; or no adjusted estimate",
        "confounded: the naive 95% interval excludes 0 but the adjusted one includes it; or the adjusted effect "
        f"keeps less than {1 - rules.max_shrink:.0%} of a significant naive one; or the adjusted interval excludes "
        "0 with the opposite sign; or a Simpson reversal of a significant naive association; or any refutation "
        f"fails ({REFUTATION_RULE})",
        "supported: otherwise (the adjusted estimate keeps the naive association, or there was none to lose, and "
        "survives the refutations)",
    ]


@dataclass
class EffectContext:
    """Everything shared by the treatments of one question: outcome, confounders, graph and identified estimand."""

    y: np.ndarray
    confounding: Confounding
    graph: str
    estimand: IdentifiedEstimand
    seed: int
    rules: EffectRules

    def data(self, t: np.ndarray) -> EffectData:
        frame = self.confounding.dummies.assign(**{TREATMENT: t.astype(int), OUTCOME: self.y})
        return EffectData(frame, self.estimand, self.seed)


def prepare_context(
    y: np.ndarray, confounders: dict[str, list[str]], seed: int, rules: EffectRules = EffectRules()
) -> EffectContext:
    confounding = encode_confounders(confounders, len(y))
    graph = backdoor_dot(confounding.nodes)
    return EffectContext(np.asarray(y, dtype=float), confounding, graph, identify(confounding, graph), seed, rules)


def propensity(ctx: EffectContext, t: np.ndarray) -> np.ndarray:
    """P(treatment | confounders) from a logistic regression on the indicators (the positivity diagnostic)."""
    w = ctx.confounding.dummies.to_numpy(dtype=float)
    if w.shape[1] == 0 or len(np.unique(t)) < 2:
        return np.full(len(t), t.mean())
    return LogisticRegression(max_iter=1000).fit(w, t).predict_proba(w)[:, 1]


def _positivity_problems(t: np.ndarray, ctx: EffectContext) -> list[str]:
    rules, n1 = ctx.rules, int(t.sum())
    n0 = len(t) - n1
    if min(n1, n0) < rules.min_group_rows:
        return [f"only {n1} rows with and {n0} without the treatment (need {rules.min_group_rows} each)"]
    score = propensity(ctx, t)
    inside = (score >= rules.propensity_bounds[0]) & (score <= rules.propensity_bounds[1])
    o1, o0 = int(inside[t == 1].sum()), int(inside[t == 0].sum())
    if min(o1, o0) < rules.min_overlap_rows or o1 < rules.min_overlap_share * n1:
        return [f"too little overlap: only {o1} of {n1} rows with the treatment (and {o0} without) have a "
                f"propensity within {list(rules.propensity_bounds)} given "
                f"{', '.join(ctx.confounding.columns) or 'nothing'}"]
    return []


def _confounding_problems(
    naive: Estimate, adjusted: Estimate, simpson: bool, refutations: list[dict], rules: EffectRules
) -> list[str]:
    problems = []
    if naive.excludes_zero() and not adjusted.excludes_zero():
        problems.append(f"the naive association {naive.value:+.2f} loses significance after adjustment "
                        f"({adjusted.value:+.2f}, 95% CI {adjusted.ci[0]:+.2f} to {adjusted.ci[1]:+.2f})")
    elif naive.excludes_zero() and abs(adjusted.value) < (1 - rules.max_shrink) * abs(naive.value):
        problems.append(f"adjustment shrinks the naive association {naive.value:+.2f} to {adjusted.value:+.2f}")
    if adjusted.excludes_zero() and np.sign(adjusted.value) != np.sign(naive.value):
        problems.append(f"adjustment reverses the naive association ({naive.value:+.2f} -> {adjusted.value:+.2f})")
    if simpson and naive.excludes_zero():
        problems.append("Simpson reversal: the pooled association has the opposite sign inside most strata")
    problems += [f"the {r['name']} refutation fails (p = {r['p_value']})" for r in refutations if not r["passed"]]
    return problems


def estimate_treatment(
    ctx: EffectContext, t: np.ndarray, estimators: list[str], refuters: list[str], refute_confounded: bool = True
) -> tuple[dict[str, Any], list[str]]:
    """The answer for one binary treatment vector, and the plain-language reasons behind its verdict.

    ``refute_confounded=False`` skips the refuters when the estimates alone already make the treatment
    confounded (refutations can only demote, never promote): the profile's saving.
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
    per_stratum = stratum_effects(t, y, ctx.confounding.strata, rules.min_stratum_rows, rules.min_arm)
    simpson = simpson_reversal(naive.value if naive else None, per_stratum)
    data = ctx.data(t)
    estimates = [e for e in (run_estimator(name, data) for name in estimators) if e] if computable else []
    primary = next((e for e in estimates if e.estimator == estimators[0]), None)

    problems = _positivity_problems(t, ctx) if computable else ["the treatment is (almost) never or always present"]
    if not problems and primary is None:
        problems = [f"the {estimators[0]} estimator produced no number"]
    refutations: list[dict[str, Any]] = []
    if problems:
        verdict = "not_estimable"
    else:
        problems = _confounding_problems(naive, primary, simpson, [], rules)
        if refuters and (refute_confounded or not problems):
            # Refuters re-estimate linearly: reuse the linear estimate when it was asked for.
            linear = next((e for e in estimates if e.estimator == "linear"), None) or run_estimator("linear", data)
            refutations = [run_refuter(name, data, linear, rules.num_simulations, ctx.seed) for name in refuters]
            problems = _confounding_problems(naive, primary, simpson, refutations, rules)
        verdict = "confounded" if problems else "supported"
        if verdict == "supported":  # say why, as for the other statuses
            passed = f"; {len(refutations)} refutations passed" if refutations else ""
            lo, hi = primary.ci
            problems = [f"the adjusted effect {primary.value:+.2f} (95% CI {lo:+.2f} to {hi:+.2f}) keeps the naive "
                        f"association {naive.value:+.2f} once the confounders are adjusted for{passed}"]
    answer = {
        "naive_effect": {"value": round(naive.value, 4), "ci": [round(c, 4) for c in naive.ci]} if naive
        else {"value": None, "ci": None},
        "adjusted_effect": primary.to_dict() if primary else {"estimator": estimators[0], "value": None, "ci": None},
        "estimates": [e.to_dict() for e in estimates],
        "per_stratum": per_stratum,
        "simpson_reversal": simpson,
        "refutations": refutations,
        "verdict": verdict,
        "graph": ctx.graph,
    }
    return answer, problems


def estimate_question(rows: list[dict[str, str]], question: dict[str, Any]) -> dict[str, Any]:
    """Answer ``{"treatment": {"smarts"} | {"column"}, "outcome", "confounders", "estimators", "refuters", "seed"}``.

    Unknown SMARTS, columns, estimators or refuters raise ``InvalidRequest`` listing what is known.
    """
    resolved = resolve_question(rows, question, list(ESTIMATORS), list(REFUTERS))
    ctx = prepare_context(resolved.y, resolved.confounders, resolved.seed)
    answer, reasons = estimate_treatment(ctx, resolved.t, resolved.estimators, resolved.refuters)
    # The treatment itself is not logged: a SMARTS can be as confidential as a structure.
    logger.info("effect question on %d rows: %s (%s)", len(resolved.y), answer["verdict"],
                "; ".join(reasons) or "no objection")
    return answer
