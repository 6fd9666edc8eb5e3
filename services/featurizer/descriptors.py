"""RDKit 2D descriptors as a featurizer (``rdkit2d``), and their concatenation with Morgan counts.

The descriptor list is written out here rather than read from ``Descriptors._descList``: its order defines the
feature columns a trained model expects, so a newer RDKit that adds, drops or reorders descriptors must not
silently shift them. A name RDKit no longer knows fails at import, loudly.
"""

from __future__ import annotations

import logging
import math

from rdkit import Chem
from rdkit.Chem import Descriptors

from services.featurizer.base import Featurizer, SparseVector, register_featurizer
from services.featurizer.morgan import MorganCounts

logger = logging.getLogger(__name__)

# RDKit 2026.09's Descriptors._descList, in its order, without Ipc: Ipc grows combinatorially with size (7e33 on
# AKT1 ligands) and overflows the float32 matrices scikit-learn trains on; AvgIpc carries the same information.
DESCRIPTOR_NAMES: tuple[str, ...] = (
    "MaxAbsEStateIndex", "MaxEStateIndex", "MinAbsEStateIndex", "MinEStateIndex", "qed", "SPS", "MolWt",
    "HeavyAtomMolWt", "ExactMolWt", "NumValenceElectrons", "NumRadicalElectrons", "MaxPartialCharge",
    "MinPartialCharge", "MaxAbsPartialCharge", "MinAbsPartialCharge", "FpDensityMorgan1", "FpDensityMorgan2",
    "FpDensityMorgan3", "BCUT2D_MWHI", "BCUT2D_MWLOW", "BCUT2D_CHGHI", "BCUT2D_CHGLO", "BCUT2D_LOGPHI",
    "BCUT2D_LOGPLOW", "BCUT2D_MRHI", "BCUT2D_MRLOW", "AvgIpc", "BalabanJ", "BertzCT", "Chi0", "Chi0n", "Chi0v",
    "Chi1", "Chi1n", "Chi1v", "Chi2n", "Chi2v", "Chi3n", "Chi3v", "Chi4n", "Chi4v", "HallKierAlpha", "Kappa1",
    "Kappa2", "Kappa3", "LabuteASA", "PEOE_VSA1", "PEOE_VSA10", "PEOE_VSA11", "PEOE_VSA12", "PEOE_VSA13",
    "PEOE_VSA14", "PEOE_VSA2", "PEOE_VSA3", "PEOE_VSA4", "PEOE_VSA5", "PEOE_VSA6", "PEOE_VSA7", "PEOE_VSA8",
    "PEOE_VSA9", "SMR_VSA1", "SMR_VSA10", "SMR_VSA2", "SMR_VSA3", "SMR_VSA4", "SMR_VSA5", "SMR_VSA6", "SMR_VSA7",
    "SMR_VSA8", "SMR_VSA9", "SlogP_VSA1", "SlogP_VSA10", "SlogP_VSA11", "SlogP_VSA12", "SlogP_VSA2", "SlogP_VSA3",
    "SlogP_VSA4", "SlogP_VSA5", "SlogP_VSA6", "SlogP_VSA7", "SlogP_VSA8", "SlogP_VSA9", "TPSA", "EState_VSA1",
    "EState_VSA10", "EState_VSA11", "EState_VSA2", "EState_VSA3", "EState_VSA4", "EState_VSA5", "EState_VSA6",
    "EState_VSA7", "EState_VSA8", "EState_VSA9", "VSA_EState1", "VSA_EState10", "VSA_EState2", "VSA_EState3",
    "VSA_EState4", "VSA_EState5", "VSA_EState6", "VSA_EState7", "VSA_EState8", "VSA_EState9", "FractionCSP3",
    "HeavyAtomCount", "NHOHCount", "NOCount", "NumAliphaticCarbocycles", "NumAliphaticHeterocycles",
    "NumAliphaticRings", "NumAmideBonds", "NumAromaticCarbocycles", "NumAromaticHeterocycles", "NumAromaticRings",
    "NumAtomStereoCenters", "NumBridgeheadAtoms", "NumHAcceptors", "NumHDonors", "NumHeteroatoms",
    "NumHeterocycles", "NumRotatableBonds", "NumSaturatedCarbocycles", "NumSaturatedHeterocycles",
    "NumSaturatedRings", "NumSpiroAtoms", "NumUnspecifiedAtomStereoCenters", "Phi", "RingCount", "MolLogP", "MolMR",
    "fr_Al_COO", "fr_Al_OH", "fr_Al_OH_noTert", "fr_ArN", "fr_Ar_COO", "fr_Ar_N", "fr_Ar_NH", "fr_Ar_OH", "fr_COO",
    "fr_COO2", "fr_C_O", "fr_C_O_noCOO", "fr_C_S", "fr_HOCCN", "fr_Imine", "fr_NH0", "fr_NH1", "fr_NH2", "fr_N_O",
    "fr_Ndealkylation1", "fr_Ndealkylation2", "fr_Nhpyrrole", "fr_SH", "fr_aldehyde", "fr_alkyl_carbamate",
    "fr_alkyl_halide", "fr_allylic_oxid", "fr_amide", "fr_amidine", "fr_aniline", "fr_aryl_methyl", "fr_azide",
    "fr_azo", "fr_barbitur", "fr_benzene", "fr_benzodiazepine", "fr_bicyclic", "fr_diazo", "fr_dihydropyridine",
    "fr_epoxide", "fr_ester", "fr_ether", "fr_furan", "fr_guanido", "fr_halogen", "fr_hdrzine", "fr_hdrzone",
    "fr_imidazole", "fr_imide", "fr_isocyan", "fr_isothiocyan", "fr_ketone", "fr_ketone_Topliss", "fr_lactam",
    "fr_lactone", "fr_methoxy", "fr_morpholine", "fr_nitrile", "fr_nitro", "fr_nitro_arom",
    "fr_nitro_arom_nonortho", "fr_nitroso", "fr_oxazole", "fr_oxime", "fr_para_hydroxylation", "fr_phenol",
    "fr_phenol_noOrthoHbond", "fr_phos_acid", "fr_phos_ester", "fr_piperdine", "fr_piperzine", "fr_priamide",
    "fr_prisulfonamd", "fr_pyridine", "fr_quatN", "fr_sulfide", "fr_sulfonamd", "fr_sulfone", "fr_term_acetylene",
    "fr_tetrazole", "fr_thiazole", "fr_thiocyan", "fr_thiophene", "fr_unbrch_alkane", "fr_urea",
)

_available = dict(Descriptors._descList)
_missing = [name for name in DESCRIPTOR_NAMES if name not in _available]
if _missing:
    raise ImportError(f"this RDKit lacks descriptors the rdkit2d featurizer needs: {_missing}")
_FUNCTIONS = [_available[name] for name in DESCRIPTOR_NAMES]


def descriptor_values(mol: Chem.Mol) -> list[float]:
    """The descriptors in ``DESCRIPTOR_NAMES`` order; one RDKit cannot compute (NaN, inf, or an error) is 0.

    Why 0: the Gasteiger-charge descriptors (partial charges, BCUT2D) are NaN for atoms Gasteiger has no
    parameters for (Se, Na and other metals...). Scikit-learn refuses NaN and inf, a fixed-length vector needs a value,
    and 0 is outside the usual range of most of them, so a tree can still split these molecules off.
    """
    values = []
    for function in _FUNCTIONS:
        try:
            value = float(function(mol))
        except Exception:  # RDKit raises on a few exotic molecules; treated like NaN
            value = math.nan
        values.append(value if math.isfinite(value) else 0.0)
    return values


def _sparse(values: list[float], offset: int = 0) -> SparseVector:
    indices = [i for i, v in enumerate(values) if v != 0.0]
    return {"indices": [offset + i for i in indices], "values": [values[i] for i in indices]}


@register_featurizer
class RDKit2D(Featurizer):
    name = "rdkit2d"

    @property
    def n_features(self) -> int:
        return len(DESCRIPTOR_NAMES)

    def featurize(self, mol: Chem.Mol) -> SparseVector:
        return _sparse(descriptor_values(mol))


@register_featurizer
class MorganCountsRDKit2D(Featurizer):
    """Morgan counts in columns [0, n_bits), then the descriptors in [n_bits, n_bits + 216)."""

    name = "morgan_counts+rdkit2d"

    def __init__(self, **params: int) -> None:
        super().__init__(**params)
        self._morgan = MorganCounts(**self.params)

    @property
    def n_features(self) -> int:
        return self._morgan.n_features + len(DESCRIPTOR_NAMES)

    def featurize(self, mol: Chem.Mol) -> SparseVector:
        counts = self._morgan.featurize(mol)
        descriptors = _sparse(descriptor_values(mol), offset=self._morgan.n_features)
        return {
            "indices": counts["indices"] + descriptors["indices"],
            "values": counts["values"] + descriptors["values"],
        }
