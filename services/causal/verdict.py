"""The documented rule that turns the evidence about one prediction into a verdict and plain-language reasons.

The verdict answers one question: *can I lean on this predicted pActivity for this molecule?* It combines three
things, each computed elsewhere and judged here.

1. **Reliability of the number.** The applicability domain (the nearest training molecule's Tanimoto similarity
   reaches the calibrated threshold), coverage (that similarity reaches the profile's ``well_covered_similarity``)
   and the model's own uncertainty (its trees' spread is at most the ``confident_spread``, the spread that also
   scales the per-molecule conformal interval). A level whose signal failed its series check is null and skipped.
   Trees disagreeing more than ``MAX_SPREAD_RATIO`` times that level make the number ``unsupported`` whatever
   its substructures: the model's own uncertainty is then too large to lean on it.
2. **Focus.** The molecule's most likely mechanism (given labels, or a chemical series found from structure
   alone), and the model's focus there: ``min(1, RMSE specialist / RMSE pooled)`` in cross-validation; at least
   ``FOCUS_THRESHOLD`` means the other mechanisms' SAR does not pull this one's predictions.
3. **Causal agreement of the reliance.** The prediction minus the model's baseline is split additively over the
   molecule's substructures (ring systems, functional groups, linkers: ``attributions.py``). For each relied-on
   substructure (``|contribution| >= MIN_CONTRIBUTION``), its causal effect from the profile (the effect inside the
   molecule's mechanism when the effect differs between mechanisms) decides the reliance (``RELIANCE``):
   ``consistent`` when the contribution lies between no reliance and the far end of the effect's 95% interval,
   widened by ``RELIANCE_TOLERANCE`` (the model may lean less on it than its effect, never more, nor against its
   direction); otherwise ``confounded`` when the effect's status is
   confounded (the model learnt the pooled association the assays made) or ``contradicted`` (causal, null or
   inconclusive:
   the model leans on it differently from what the substructure does); ``untestable`` when the effect is
   untestable or known less precisely than ``MAX_TESTABLE_HALF_WIDTH``, or the substructure is not profiled. An
   inconclusive effect (its interval holds 0 but reaches past the null band) still bounds the effect: a contribution
   outside its interval contradicts it, one inside is not contradicted by the adjusted evidence.
   The shares are of the molecule's substructure weight: each substructure weighs its |contribution|, at least
   ``MIN_CONTRIBUTION``. One the model barely leans on still counts (leaning less than the effect is consistent
   with it), so a prediction near the baseline is judged by what its substructures are known to do, and a
   molecule whose substructures are untestable (no context recorded) is never supported. ``supported`` also needs
   that no relied-on substructure is contradicted or confounded: one substructure the model leans on against its
   causal effect is reason enough for caution.

``shared.verdicts.VERDICTS`` is the rule, first that applies (and ``RELIANCE``, ``EFFECT_STATUSES`` the others):
written there once, so the result schemas, the OpenAPI document and the README read the same words.
"""

from __future__ import annotations

from typing import Any

from shared.verdicts import (
    CONSISTENT_NEEDED,
    FOCUS_THRESHOLD,
    MAX_AGAINST_SHARE,
    MAX_SPREAD_RATIO,
    MAX_TESTABLE_HALF_WIDTH,
    MIN_CONSISTENT_SHARE,
    MIN_CONTRIBUTION,
    RELIANCE_TOLERANCE,
)

NO_PROFILE = "this model has no causal profile yet, so causal support was not assessed"
AGAINST_RELIANCE = "of its substructure weight disagrees with the causal effects"  # after the share


def reliance(contribution: float | None, status: str, value: float | None, ci: list[float] | None) -> str:
    """How the model's reliance on one substructure compares with its causal effect (``RELIANCE``).

    The allowed range runs from no reliance at all to the far end of the effect's interval, widened by
    ``RELIANCE_TOLERANCE``: ``[min(0, lo) - tol, max(0, hi) + tol]``. Leaning less on a substructure than its
    effect is allowed, because an attribution shares credit with the substructures that come with it (the forest
    may have split on a neighbour instead); leaning on it beyond its effect, or against its direction, is not.
    """
    testable = ("causal", "null", "confounded", "inconclusive")
    if contribution is None or value is None or ci is None or status not in testable:
        return "untestable"
    if (ci[1] - ci[0]) / 2 > MAX_TESTABLE_HALF_WIDTH:
        return "untestable"
    if min(0.0, ci[0]) - RELIANCE_TOLERANCE <= contribution <= max(0.0, ci[1]) + RELIANCE_TOLERANCE:
        return "consistent"
    return "confounded" if status == "confounded" else "contradicted"


def _weight(item: dict[str, Any]) -> float:
    """|contribution|, at least ``MIN_CONTRIBUTION``; 1 for every substructure when there are no attributions."""
    return 1.0 if item.get("contribution") is None else max(abs(item["contribution"]), MIN_CONTRIBUTION)


def _relied_on(item: dict[str, Any]) -> bool:
    return item.get("contribution") is None or abs(item["contribution"]) >= MIN_CONTRIBUTION


def _describe(item: dict[str, Any]) -> str:
    contribution = "" if item.get("contribution") is None else f", contribution {item['contribution']:+.2f}"
    effect = "" if item.get("adjusted_effect") is None else f", causal effect {item['adjusted_effect']:+.2f}"
    label = item.get("name") or item["substructure"]
    return f"{label} ({item['status'].replace('_', ' ')}{contribution}{effect}: {item['reliance']})"


def coverage_reason(similarity: float, level: float) -> str:
    return (f"the model's nearest training analogue (Tanimoto {similarity:.2f}) is less similar than {level:.2f}, "
            "the level from which its cross-validated error was at or below its average")


def spread_reason(spread: float, level: float) -> str:
    return (f"the model's trees disagree (spread {spread:.2f}) more than {level:.2f}, the level up to which its "
            "cross-validated error was at or below its average")


def _share(evidence: list[dict[str, Any]], kinds: tuple[str, ...]) -> float:
    total = sum(_weight(e) for e in evidence)
    return sum(_weight(e) for e in evidence if e["reliance"] in kinds) / total if total else 0.0


def _focus_reason(mechanism: dict[str, Any] | None) -> str:
    if mechanism is None:
        return "the molecule could not be assigned to a mechanism"
    focus = mechanism.get("focus")
    if focus is None:
        return (f"likely mechanism {mechanism['label']} (p = {mechanism['probability']:.2f}) is too small to tell "
                "whether the model is focused on it")
    level = "at least" if focus >= FOCUS_THRESHOLD else "below"
    return (f"likely mechanism {mechanism['label']} (p = {mechanism['probability']:.2f}); the model's focus there is "
            f"{focus:.2f}, {level} the {FOCUS_THRESHOLD} needed")


def too_uncertain_reason(spread: float, level: float) -> str:
    return (f"the trees disagree more than {MAX_SPREAD_RATIO:g} times that level ({spread:.2f} > "
            f"{MAX_SPREAD_RATIO:g} x {level:.2f}): the model's own uncertainty is too large to lean on the number, "
            "whatever its substructures")


def _causal(in_domain: bool, mechanism: dict | None, evidence: list[dict], footing: list[str],
            too_uncertain: str | None = None) -> tuple[str, list[str]]:
    """The verdict once the domain is known; ``footing`` holds the coverage and spread reasons that apply, and
    ``too_uncertain`` the reason the trees disagree beyond ``MAX_SPREAD_RATIO`` times the confident spread."""
    relied = sorted((e for e in evidence if _relied_on(e)), key=_weight, reverse=True)
    against = _share(evidence, ("contradicted", "confounded"))
    consistent = _share(evidence, ("consistent",))
    disagreeing = [e for e in relied if e["reliance"] in ("contradicted", "confounded")]
    reasons = list(footing) + [_focus_reason(mechanism)]
    if not relied:
        reasons.append("the prediction does not rely measurably on any substructure (it stays near the model's "
                       "baseline)")
    else:
        reasons.append(f"the prediction relies most on {_describe(relied[0])}")
    if evidence:
        reasons.append(f"{consistent:.0%} of its substructure weight is consistent with the causal effects "
                       f"({CONSISTENT_NEEDED} is needed)")
    if against > MAX_AGAINST_SHARE:
        named = f"{against:.0%} {AGAINST_RELIANCE}: " + "; ".join(_describe(e) for e in disagreeing)
        if not in_domain or footing:
            return "unsupported", [*footing, named]
        return "caution", [named, "inside the domain with no coverage or tree-agreement concern, the number should "
                                  "hold in the assays its close analogues were measured in, but not in another"]
    if too_uncertain is not None:
        return "unsupported", [*reasons, too_uncertain]
    focus = mechanism.get("focus") if mechanism else None
    focused = focus is not None and focus >= FOCUS_THRESHOLD
    if disagreeing:
        reasons.append("it relies on a substructure against its causal effect: " + "; ".join(
            _describe(e) for e in disagreeing))
    elif in_domain and not footing and focused and consistent > MIN_CONSISTENT_SHARE:
        return "supported", reasons
    return "caution", reasons


def judge(
    domain: dict[str, Any],
    profile: dict[str, Any] | None,
    mechanism: dict[str, Any] | None = None,
    evidence: list[dict[str, Any]] | None = None,
    problem: str | None = None,
    spread: float | None = None,
    attribution: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The verdict of one molecule.

    ``profile`` is the model's causal profile summary (its ``well_covered_similarity`` and ``confident_spread``
    levels, each None when not applied), None when it has none; ``mechanism`` and ``evidence`` are this
    molecule's (each evidence item carries its ``reliance``); ``problem`` says why a profile that exists was not
    usable; ``spread`` is the trees' standard deviation for this molecule (None: not an ensemble);
    ``attribution`` the additive split's baseline and remainder, passed through.
    """
    reasons: list[str] = []
    if not domain["in_domain"]:
        reasons.append(
            f"outside the applicability domain: nearest training molecule has Tanimoto "
            f"{domain['max_similarity']:.2f}, below the calibrated threshold {domain['threshold']:.2f}"
        )
    verdict = "caution" if not domain["in_domain"] else "unknown"
    if profile is None or problem is not None:
        reasons.append(NO_PROFILE if problem is None else f"{problem}, so causal support was not assessed")
    else:
        level = profile.get("well_covered_similarity")
        spread_level = profile.get("confident_spread")
        footing = []  # the number's own footing, judged only inside the domain (outside, the domain reason says it)
        if domain["in_domain"] and level is not None and domain["max_similarity"] < level:
            footing.append(coverage_reason(domain["max_similarity"], level))
        too_uncertain = None
        if domain["in_domain"] and spread is not None and spread_level is not None and spread > spread_level:
            footing.append(spread_reason(spread, spread_level))
            if spread > MAX_SPREAD_RATIO * spread_level:
                too_uncertain = too_uncertain_reason(spread, spread_level)
        verdict, causal_reasons = _causal(domain["in_domain"], mechanism, evidence or [], footing, too_uncertain)
        reasons += causal_reasons
    result = {
        "verdict": verdict,
        "reasons": reasons,
        "applicability_domain": domain,
        "mechanism": mechanism,
        "evidence": evidence or [],
    }
    if attribution is not None:
        result["attribution"] = attribution
    return result
