"""The documented rule that turns the evidence about one prediction into a verdict and plain-language reasons.

Today the evidence is the applicability domain only; the model's causal profile (mechanism focus and the
adjusted effects of the substructures the prediction relies on) is judged here once it exists.

- ``caution``: the molecule is outside the applicability domain: it is less similar to every training molecule
  than the calibrated threshold, where held-out predictions were no better than the training mean.
- ``unknown``: inside the domain, but the model has no causal profile, so nothing says whether the structure
  the prediction relies on is causally supported or confounded.
"""

from __future__ import annotations

from typing import Any


def judge(domain: dict[str, Any], profile: dict[str, Any] | None) -> dict[str, Any]:
    reasons: list[str] = []
    if not domain["in_domain"]:
        reasons.append(
            f"outside the applicability domain: nearest training molecule has Tanimoto "
            f"{domain['max_similarity']:.2f}, below the calibrated threshold {domain['threshold']:.2f}"
        )
    if profile is None:
        reasons.append("this model has no causal profile yet, so causal support was not assessed")
    verdict = "caution" if not domain["in_domain"] else "unknown"
    return {"verdict": verdict, "reasons": reasons, "applicability_domain": domain}
