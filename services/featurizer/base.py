"""Typed featurizer base class and the registry models name their featurizer from."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from rdkit import Chem

from shared import catalog
from shared.messages import SparseFeatures

SparseVector = SparseFeatures  # {"indices": [...], "values": [...]}: JSON-friendly and small


class Featurizer(ABC):
    """Turns one standardized molecule into a fixed-length vector, sent between services in sparse form."""

    name: ClassVar[str]

    def __init__(self, **params: Any) -> None:
        self.params = catalog.resolve_spec("featurizer", catalog.FEATURIZERS, {"name": self.name, "params": params})[
            "params"
        ]

    @property
    @abstractmethod
    def n_features(self) -> int: ...

    @abstractmethod
    def featurize(self, mol: Chem.Mol) -> SparseVector: ...

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "params": dict(self.params)}


FEATURIZERS: dict[str, type[Featurizer]] = {}


def register_featurizer(cls: type[Featurizer]) -> type[Featurizer]:
    FEATURIZERS[cls.name] = cls
    return cls


def make_featurizer(spec: dict[str, Any]) -> Featurizer:
    """A featurizer from ``{"name": ..., "params": {...}}``; an unknown name lists the known ones."""
    full = catalog.resolve_spec("featurizer", catalog.FEATURIZERS, spec)
    return FEATURIZERS[full["name"]](**full["params"])
