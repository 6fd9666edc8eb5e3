"""The documented rule that turns the evidence about one prediction into a verdict and plain-language reasons.

The verdict answers one question: *can I lean on this predicted pActivity for this molecule?* It combines five
checks.

1. **Applicability domain.** Is some training molecule similar enough? The nearest training molecule's Tanimoto
   similarity (ECFP4-like bits) must reach the model's calibrated threshold, below which held-out predictions
   were no better than predicting the training mean.
2. **Mechanism focus.** Which mechanism (binding mode, or a chemical series found in the training data) does the
   molecule most likely belong to, and does the model predict that mechanism about as well as a model trained on
   it alone would? That ratio is the *focus*. A focus below 0.8 means the other mechanisms' SAR is pulling the
   predictions for this one.
3. **Causal evidence.** Which profiled substructures of the molecule does the prediction rely on? The
   *contribution* of a substructure is the prediction minus the prediction with the substructure's fingerprint
   environments removed (positive: it raises the predicted pActivity); it counts as relied on from
   |contribution| >= 0.05. For each such substructure, the profile says whether its effect on activity is:
   - *supported*: it holds once assay (or other context) and mechanism are adjusted for;
   - *confounded*: it is explained by which assay or series the compounds were measured in;
   - *not estimable*: it was never seen apart from its assay or series.

   The mechanism is adjusted for as a confounder, except for a substructure that (nearly) coincides with one
   mechanism: such a label is read off the structure, a descendant of the substructure rather than a common
   cause, and adjusting for it would remove the very effect asked for (see ``profile.py``, rule
   ``rules.adjustment``). That substructure's effect is judged with the context columns alone.

4. **Coverage.** Does the model know this chemistry well? When the profile is built, a 3-fold cross-validation
   (folds keep molecules with identical fingerprint bits together) gives each training molecule an out-of-fold
   absolute error and its nearest-neighbour similarity to the other folds;
   the error is fitted as a non-increasing (isotonic) function of that similarity, and the
   *well-covered similarity* is the smallest similarity at which the fit is at or below the overall
   out-of-fold MAE (``coverage.py``, rule ``rules.coverage``). It is calibrated on the training data only, and
   it is usually stricter than the domain threshold: the domain asks "better than the mean?", coverage asks "at
   least as good as the model usually is?". Applied only when similarity still predicts error for new series (a
   cross-validation holding out whole Murcko scaffolds, ``calibration.series_check``).
5. **Model uncertainty.** Do the model's trees agree on this molecule? For a tree ensemble (random forest, extra
   trees), the *spread* is the standard deviation of the individual trees' predictions. In the same
   cross-validation as coverage, each training molecule's out-of-fold absolute error is fitted as a non-decreasing
   (isotonic) function of its fold model's spread, and the *confident spread* is the largest spread at which the
   fit is still at or below the overall out-of-fold MAE (``uncertainty.py``, rule ``rules.uncertainty``). Training
   data only, and applied only when the spread still predicts error for new series (same check as coverage).
   Other estimators (knn, gradient boosting) have no spread: the profile stores null and the condition is skipped.

The verdicts, first that applies:

- **unsupported**: more than half of what the prediction relies on (weighted by |contribution|) is on
  confounded substructures, *and* nothing else vouches for the number: the molecule is outside the domain, or
  its nearest training analogue is less similar than the well-covered similarity, or the trees' spread is above
  the confident spread. The number leans on chemistry whose apparent effect is not causal, far from what the
  model knows well.
- **caution**: more than half of the relied-on weight is confounded, but the molecule is well covered and the
  trees agree: the number reproduces how its close analogues measured in the assays that measured them, and
  should not be carried to another assay. Otherwise: the molecule is outside the applicability domain; or its
  nearest training analogue is less similar than the well-covered similarity; or the trees' spread is above the
  confident spread; or the model's focus on its mechanism is below 0.8 or unknown; or the prediction relies on
  no profiled substructure; or the evidence falls short of *supported* below.
- **supported**: inside the domain, nearest training analogue at least as similar as the well-covered
  similarity, trees' spread at most the confident spread, focus at least 0.8, and more than half of what the
  prediction relies on (weighted by |contribution|) is on substructures with a supported effect: the mirror of
  *unsupported*. A not-estimable substructure is no evidence of confounding, but no support either: its effect
  was never seen apart from its assay or series (an earlier rule let a not-estimable lead pass; on one PIK3CA
  scaffold split the predictions it let through were less accurate than the caution ones). A profile built
  before the well-covered similarity or the confident spread existed does not carry it, a level whose signal
  failed the series check is null, and a non-ensemble model has no confident spread: that condition is then
  skipped.
- **unknown**: inside the domain, but the model has no usable causal profile. Outside the domain it is caution.

Why confounded reliance alone is not *unsupported*: an assay-confounded substructure carries the potency level
of the assays that measured its series. For a close analogue of those compounds, measured the same way, the
model's number still holds (on held-out scaffolds of PIK3CA and AKT such predictions were no worse than the
rest); what it cannot do is travel to a new assay or a new series. Where coverage and agreement are missing as
well, nothing but confounded associations is left behind the number. ``tests/benchmarks/causal.py`` measures
both, and the README gives the figures.
"""

from __future__ import annotations

from typing import Any

FOCUS_THRESHOLD = 0.8
MIN_CONTRIBUTION = 0.05
MAX_CONFOUNDED_SHARE = 0.5
MIN_SUPPORTED_SHARE = 0.5  # supported needs more than this share of the relied-on weight on supported effects
NO_PROFILE = "this model has no causal profile yet, so causal support was not assessed"
CONFOUNDED_RELIANCE = "of what the prediction relies on is confounded by assay or mechanism"  # after the share


def verdict_rules() -> dict[str, Any]:
    """The thresholds and the rule in words, stored in every profile under ``rules.verdict``."""
    return {
        "focus_threshold": FOCUS_THRESHOLD,
        "min_contribution": MIN_CONTRIBUTION,
        "max_confounded_share": MAX_CONFOUNDED_SHARE,
        "min_supported_share": MIN_SUPPORTED_SHARE,
        "rule": [
            f"unsupported: more than {MAX_CONFOUNDED_SHARE:.0%} of the relied-on weight (|contribution| >= "
            f"{MIN_CONTRIBUTION}) is on confounded substructures, and the molecule is outside the applicability "
            "domain, or below the well_covered_similarity, or above the confident_spread",
            f"caution: more than {MAX_CONFOUNDED_SHARE:.0%} of the relied-on weight is confounded but the molecule "
            "is inside the domain, well covered and the trees agree (the number holds for its analogues' assays, "
            "not beyond); or outside the applicability domain; or the nearest training analogue's Tanimoto is "
            "below the profile's well_covered_similarity (from which the cross-validated error was at or below its "
            "average); or the trees' spread (standard deviation of the tree predictions) is above the profile's "
            "confident_spread (up to which the cross-validated error was at or below its average); "
            f"or focus below {FOCUS_THRESHOLD} or unknown; or no relied-on substructure; or the evidence is short "
            "of supported",
            "supported: inside the domain, nearest-analogue Tanimoto >= well_covered_similarity, trees' spread <= "
            f"confident_spread (each skipped when the profile has it null: not calibrated, failed its series check, or "
            f"no spread for non-ensembles), focus >= {FOCUS_THRESHOLD}, and more than {MIN_SUPPORTED_SHARE:.0%} of "
            "the relied-on weight on substructures with a supported effect (not_estimable ones are no support)",
            "unknown: inside the domain, no usable causal profile",
        ],
    }


def _weight(item: dict[str, Any]) -> float:
    return 1.0 if item.get("contribution") is None else abs(item["contribution"])


def _describe(item: dict[str, Any]) -> str:
    contribution = "" if item.get("contribution") is None else f", contribution {item['contribution']:+.2f}"
    effect = "" if item.get("adjusted_effect") is None else f", adjusted effect {item['adjusted_effect']:+.2f}"
    return f"{item['substructure']} ({item['status'].replace('_', ' ')}{contribution}{effect})"


def coverage_reason(similarity: float, level: float) -> str:
    return (f"the model's nearest training analogue (Tanimoto {similarity:.2f}) is less similar than {level:.2f}, "
            "the level from which its cross-validated error was at or below its average")


def spread_reason(spread: float, level: float) -> str:
    return (f"the model's trees disagree (spread {spread:.2f}) more than {level:.2f}, the level up to which its "
            "cross-validated error was at or below its average")


def _share(relied: list[dict[str, Any]], status: str) -> float:
    """The share of the relied-on weight on substructures of ``status`` (0 when nothing is relied on)."""
    total = sum(_weight(e) for e in relied)
    return sum(_weight(e) for e in relied if e["status"] == status) / total if total else 0.0


def _causal(in_domain: bool, mechanism: dict | None, evidence: list[dict], footing: list[str]) -> tuple[str, list[str]]:
    """The verdict once the domain is known; ``footing`` holds the coverage and spread reasons that apply."""
    relied = sorted((e for e in evidence if _weight(e) >= MIN_CONTRIBUTION), key=_weight, reverse=True)
    confounded = [e for e in relied if e["status"] == "confounded"]
    share = _share(relied, "confounded")
    if share > MAX_CONFOUNDED_SHARE:
        named = (f"{share:.0%} {CONFOUNDED_RELIANCE}: "
                 + "; ".join(_describe(e) for e in confounded[:3]))
        if not in_domain or footing:
            return "unsupported", [*footing, named]
        return "caution", [named, "inside the domain with no coverage or tree-agreement concern, the number should "
                                  "hold in the assays its close analogues were measured in, but not in another"]
    reasons = list(footing)
    supported_share = _share(relied, "supported")
    focus = mechanism.get("focus") if mechanism else None
    if mechanism is None:
        reasons.append("the molecule could not be assigned to a mechanism")
    elif focus is None:
        reasons.append(f"likely mechanism {mechanism['label']} (p = {mechanism['probability']:.2f}) is too small "
                       "to tell whether the model is focused on it")
    else:
        level = "at least" if focus >= FOCUS_THRESHOLD else "below"
        reasons.append(f"likely mechanism {mechanism['label']} (p = {mechanism['probability']:.2f}); the model's "
                       f"focus there is {focus:.2f}, {level} the {FOCUS_THRESHOLD} needed")
    if not relied:
        reasons.append("the prediction does not rely measurably on any profiled substructure")
    else:
        reasons.append(f"the prediction relies most on {_describe(relied[0])}")
        reasons.append(f"{supported_share:.0%} of what it relies on has a supported effect ("
                       f"{'more' if supported_share > MIN_SUPPORTED_SHARE else 'not more'} than the "
                       f"{MIN_SUPPORTED_SHARE:.0%} needed)")
    focused = focus is not None and focus >= FOCUS_THRESHOLD
    if in_domain and not footing and focused and supported_share > MIN_SUPPORTED_SHARE:
        return "supported", reasons
    return "caution", reasons


def judge(
    domain: dict[str, Any],
    profile: dict[str, Any] | None,
    mechanism: dict[str, Any] | None = None,
    evidence: list[dict[str, Any]] | None = None,
    problem: str | None = None,
    spread: float | None = None,
) -> dict[str, Any]:
    """The verdict of one molecule.

    ``profile`` is the model's causal profile (or any summary of it; its ``well_covered_similarity``, when
    present, is the coverage level; its ``confident_spread``, the uncertainty level), None when it has none;
    ``mechanism`` and ``evidence`` are this molecule's, from the profile; ``problem`` says why a profile that
    exists was not usable; ``spread`` is the standard deviation of the trees' predictions for this molecule (None:
    not a tree ensemble, or not computed), and the uncertainty condition is skipped when it or the level is None.
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
        if domain["in_domain"] and None not in (spread, spread_level) and spread > spread_level:
            footing.append(spread_reason(spread, spread_level))
        verdict, causal_reasons = _causal(domain["in_domain"], mechanism, evidence or [], footing)
        reasons += causal_reasons
    return {
        "verdict": verdict,
        "reasons": reasons,
        "applicability_domain": domain,
        "mechanism": mechanism,
        "evidence": evidence or [],
    }
