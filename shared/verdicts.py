"""What every status and verdict means, written once: the causal engine applies these rules, the result schemas
and the OpenAPI document list these names, and the README's tables are printed from here
(``python -m shared.verdicts``). Kept free of RDKit, scikit-learn and DoWhy so the gateway can import it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

NULL_BAND = 0.3  # log units (a factor of two in potency, about one assay's repeatability): inside it, no effect
ALPHA = 0.05
MIN_GROUP_ROWS, MIN_OVERLAP_ROWS = 20, 10
FOCUS_THRESHOLD = 0.8
MIN_CONTRIBUTION = 0.05  # log units: a substructure contributing less is not "relied on"; it still weighs this
RELIANCE_TOLERANCE = NULL_BAND
MAX_TESTABLE_HALF_WIDTH = 1.0  # log units: an effect known less precisely than +/-1 cannot disagree with a reliance
MIN_CONSISTENT_SHARE = 0.0  # supported: more than this share of the substructure weight is consistent (0: some)
CONSISTENT_NEEDED = "some" if MIN_CONSISTENT_SHARE == 0 else f"more than {MIN_CONSISTENT_SHARE:.0%}"
CONSISTENT_LACKING = "none" if MIN_CONSISTENT_SHARE == 0 else f"at most {MIN_CONSISTENT_SHARE:.0%}"
MAX_AGAINST_SHARE = 0.5  # unsupported: more than this share is contradicted or confounded (and no footing)
MAX_SPREAD_RATIO = 2.0  # unsupported: inside the domain, the trees disagree more than this x the confident spread

# The status of a substructure's effect on pActivity, first that applies.
EFFECT_STATUSES: dict[str, str] = {
    "untestable": f"no context column (assay, document, isoform...) was recorded, so confounding cannot be checked; "
                  f"or fewer than {MIN_GROUP_ROWS} molecules with or without the substructure; or no overlap: fewer "
                  f"than {MIN_OVERLAP_ROWS} with (or without) it in context levels that hold both; or the effect is "
                  "not identified",
    "confounded": f"adjusting for the context significantly changes the naive association (naive minus adjusted, "
                  f"p < {ALPHA}, by at least {NULL_BAND} log units) or reverses it (both 95% intervals exclude 0, "
                  "with opposite signs: a Simpson reversal)",
    "null": f"the adjusted 95% interval lies within +/-{NULL_BAND} log units of 0: no effect worth acting on",
    "causal": "the adjusted 95% interval excludes 0 and every refutation passes",
    "inconclusive": "otherwise: the adjusted interval is too wide to tell, or a refutation failed",
}

# How the model's reliance on one substructure (its additive contribution) compares with the causal effect.
RELIANCE: dict[str, str] = {
    "consistent": f"the contribution lies between 0 and the far end of the substructure's adjusted 95% interval, "
                  f"give or take {RELIANCE_TOLERANCE} log units: the model leans on it no more than its causal effect "
                  "and not against it (less is allowed: an attribution shares credit with co-occurring substructures)",
    "confounded": "beyond that range, and the substructure's apparent effect is confounded by the context: the "
                  "model leans on the pooled association the assays made",
    "contradicted": "beyond that range, for a substructure whose effect is causal, null or inconclusive",
    "untestable": f"the substructure's effect is untestable, or known less precisely than +/-"
                  f"{MAX_TESTABLE_HALF_WIDTH} log units, or the substructure is too rare to be profiled",
}

# The verdict of one prediction, first that applies. Shares are of the molecule's substructure weight: each
# substructure weighs its |contribution|, at least MIN_CONTRIBUTION, so one the model barely leans on still counts
# (leaning less on it than its causal effect agrees with that effect), and a prediction near the baseline is judged
# by what its substructures are known to do.
VERDICTS: dict[str, str] = {
    "unknown": "inside the applicability domain, but the model has no usable causal profile",
    "unsupported": f"more than {MAX_AGAINST_SHARE:.0%} of the substructure weight is contradicted or confounded, and "
                   "nothing else vouches for the number: outside the domain, not well covered, or the trees disagree; "
                   f"or, inside the domain, the trees disagree more than {MAX_SPREAD_RATIO:g} times the confident "
                   "spread: the model's own uncertainty is too large to lean on the number, whatever its substructures",
    "supported": f"inside the domain, well covered, the trees agree, focus at least {FOCUS_THRESHOLD}, no substructure "
                 f"the prediction relies on is contradicted or confounded, and {CONSISTENT_NEEDED} of the substructure "
                 "weight is consistent with the substructures' causal effects (an untestable substructure neither "
                 "vouches for the number nor counts against it)",
    "caution": f"otherwise: outside the domain; or not well covered; or the trees disagree (up to {MAX_SPREAD_RATIO:g} "
               f"times the confident spread); or focus below "
               f"{FOCUS_THRESHOLD} or unknown; or a relied-on substructure is contradicted or confounded; or "
               f"{CONSISTENT_LACKING} of the substructure weight is consistent with a causal effect; or "
               "mostly contradicted or confounded reliance on familiar ground (the number holds for its analogues' "
               "assays, not beyond)",
}


def verdict_rules() -> dict[str, Any]:
    """The thresholds and the rule in words: stored in every profile under ``rules.verdict`` when it is built, and
    given in its place whenever a profile is read, because verdicts are judged by the rule served now."""
    return {
        "focus_threshold": FOCUS_THRESHOLD,
        "min_contribution": MIN_CONTRIBUTION,
        "reliance_tolerance": RELIANCE_TOLERANCE,
        "max_testable_half_width": MAX_TESTABLE_HALF_WIDTH,
        "min_consistent_share": MIN_CONSISTENT_SHARE,
        "max_against_share": MAX_AGAINST_SHARE,
        "max_spread_ratio": MAX_SPREAD_RATIO,
        "reliance": RELIANCE,
        "verdicts": VERDICTS,
    }

def verdict_counts(results: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How many molecules got each verdict; a molecule that failed counts under ``error``."""
    return dict(Counter((r.get("causal_validity") or {}).get("verdict") or "error" for r in results))


def markdown_tables() -> str:
    """The three rule tables as Markdown, for the README."""
    parts = []
    for title, rules in (("effect status", EFFECT_STATUSES), ("reliance", RELIANCE), ("verdict", VERDICTS)):
        parts.append(f"| {title} | meaning |\n|---|---|\n" + "\n".join(f"| `{k}` | {v} |" for k, v in rules.items()))
    return "\n\n".join(parts)


if __name__ == "__main__":
    print(markdown_tables())
