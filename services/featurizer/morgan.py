"""Morgan (ECFP-like) fingerprints, as counts or bits, plus the fixed fingerprint of the applicability domain."""

from __future__ import annotations

from functools import lru_cache

from rdkit import Chem
from rdkit.Chem import rdFingerprintGenerator

from services.featurizer.base import Featurizer, SparseVector, register_featurizer

# The applicability domain always compares ECFP4-like bits, whatever features the model uses.
AD_RADIUS, AD_BITS = 2, 2048


@lru_cache(maxsize=16)
def _generator(radius: int, n_bits: int) -> rdFingerprintGenerator.FingerprintGenerator64:
    return rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)


def ad_bits(mol: Chem.Mol) -> list[int]:
    """On-bit indices of the applicability-domain fingerprint."""
    return list(_generator(AD_RADIUS, AD_BITS).GetFingerprint(mol).GetOnBits())


class _Morgan(Featurizer):
    @property
    def n_features(self) -> int:
        return int(self.params["n_bits"])

    def _gen(self) -> rdFingerprintGenerator.FingerprintGenerator64:
        return _generator(int(self.params["radius"]), int(self.params["n_bits"]))


@register_featurizer
class MorganCounts(_Morgan):
    name = "morgan_counts"

    def featurize(self, mol: Chem.Mol) -> SparseVector:
        counts = self._gen().GetCountFingerprint(mol).GetNonzeroElements()
        indices = sorted(counts)
        return {"indices": indices, "values": [counts[i] for i in indices]}


@register_featurizer
class MorganBits(_Morgan):
    name = "morgan_bits"

    def featurize(self, mol: Chem.Mol) -> SparseVector:
        indices = list(self._gen().GetFingerprint(mol).GetOnBits())
        return {"indices": indices, "values": [1] * len(indices)}
