"""DoWhy refuters behind a typed base class and a small registry, always seeded and re-estimating linearly.

Each refuter re-runs the ``linear`` estimate ``num_simulations`` times on altered data; DoWhy tests whether the
original estimate (zero for the placebo) is consistent with the simulated ones (normal approximation below 100
simulations) and its p-value is reported. When a refutation **passes**:

- ``placebo_treatment``: the treatment column is permuted; passes when zero is consistent with the placebo
  effects (DoWhy p > 0.05);
- ``random_common_cause``: an independent random confounder is added; passes when the mean new effect stays
  inside the original 95% interval. (DoWhy's own test is not used for the verdict here: the simulated effects
  barely move, so their spread is tiny and a second-order shift of no practical size reads as "significant".)
- ``data_subset``: the effect is re-estimated on random 80% subsets; passes when the original estimate is
  consistent with the subset estimates (DoWhy p > 0.05).

A ``numpy.random.RandomState`` is passed (not an int: with an int DoWhy's subset refuter draws the same subset
every time), so a seed gives the same numbers.
"""

from __future__ import annotations

import logging
import math
import warnings
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
from dowhy.causal_estimator import CausalEstimate
from dowhy.causal_refuter import CausalRefutation
from dowhy.causal_refuters.data_subset_refuter import refute_data_subset
from dowhy.causal_refuters.placebo_treatment_refuter import PlaceboType, refute_placebo_treatment
from dowhy.causal_refuters.random_common_cause import refute_random_common_cause

from services.causal.estimators import EffectData, Estimate
from services.causal.graph import TREATMENT

logger = logging.getLogger(__name__)
# DoWhy warns on every call that fewer than 100 simulations use a normal approximation: that is our choice.
logging.getLogger("dowhy.causal_refuter").setLevel(logging.ERROR)

SUBSET_FRACTION = 0.8
SIGNIFICANCE = 0.05
REFUTATION_RULE = (
    "placebo and data subset: DoWhy p > 0.05; random common cause: the new effect stays in the original 95% interval"
)


class EffectRefuter(ABC):
    name: ClassVar[str]
    expects_zero: ClassVar[bool] = False  # placebo: the refuted effect should vanish rather than stay

    @abstractmethod
    def _run(self, data: EffectData, estimate: CausalEstimate, sims: int, rng: np.random.RandomState) -> Any: ...

    def refute(self, data: EffectData, estimate: Estimate, num_simulations: int, seed: int) -> dict[str, Any]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result: CausalRefutation = self._run(data, estimate.dowhy, num_simulations, np.random.RandomState(seed))
        new_effect = float(result.new_effect)
        p_value = float(result.refutation_result["p_value"])
        return {
            "name": self.name,
            "new_effect": round(new_effect, 4),
            "p_value": round(p_value, 4) if math.isfinite(p_value) else None,
            "passed": self.passes(new_effect, p_value, estimate),
        }

    def passes(self, new_effect: float, p_value: float, estimate: Estimate) -> bool:
        if math.isfinite(p_value):
            return p_value > SIGNIFICANCE
        # every simulation gave the same number: it passes only if that is the expected one
        return math.isclose(new_effect, 0.0 if self.expects_zero else estimate.value, abs_tol=1e-6)


REFUTERS: dict[str, EffectRefuter] = {}


def register_refuter(cls: type[EffectRefuter]) -> type[EffectRefuter]:
    REFUTERS[cls.name] = cls()
    return cls


@register_refuter
class PlaceboTreatment(EffectRefuter):
    name = "placebo_treatment"
    expects_zero = True

    def _run(self, data: EffectData, estimate: CausalEstimate, sims: int, rng: np.random.RandomState) -> Any:
        return refute_placebo_treatment(
            data=data.frame, target_estimand=data.estimand, estimate=estimate, treatment_names=[TREATMENT],
            num_simulations=sims, placebo_type=PlaceboType.PERMUTE, random_state=rng,
        )


@register_refuter
class RandomCommonCause(EffectRefuter):
    name = "random_common_cause"

    def _run(self, data: EffectData, estimate: CausalEstimate, sims: int, rng: np.random.RandomState) -> Any:
        return refute_random_common_cause(
            data=data.frame, target_estimand=data.estimand, estimate=estimate, num_simulations=sims, random_state=rng
        )

    def passes(self, new_effect: float, p_value: float, estimate: Estimate) -> bool:
        return estimate.ci[0] - 1e-9 <= new_effect <= estimate.ci[1] + 1e-9  # tolerance: a zero-width interval


@register_refuter
class DataSubset(EffectRefuter):
    name = "data_subset"

    def _run(self, data: EffectData, estimate: CausalEstimate, sims: int, rng: np.random.RandomState) -> Any:
        return refute_data_subset(
            data=data.frame, target_estimand=data.estimand, estimate=estimate, subset_fraction=SUBSET_FRACTION,
            num_simulations=sims, random_state=rng,
        )


def run_refuter(name: str, data: EffectData, estimate: Estimate, num_simulations: int, seed: int) -> dict[str, Any]:
    """One refutation; if DoWhy itself fails, the refutation is reported as not passed, with no numbers."""
    try:
        return REFUTERS[name].refute(data, estimate, num_simulations, seed)
    except Exception as exc:  # noqa: BLE001  (a refuter crash is evidence against the estimate, not a 500)
        logger.warning("refuter %s failed: %s", name, exc)
        return {"name": name, "new_effect": None, "p_value": None, "passed": False}
