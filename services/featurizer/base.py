"""Typed featurizer base class and the registry models name their featurizer from."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from rdkit import Chem

from shared.errors import InvalidRequest

SparseVector = dict[str, list]  # {"indices": [...], "values": [...]}: JSON-friendly and small


class Featurizer(ABC):
    """Turns one standardized molecule into a fixed-length vector, sent between services in sparse form."""

    name: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **params: Any) -> None:
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise InvalidRequest(
                f"unknown parameters for featurizer '{self.name}': {sorted(unknown)}",
                {"known_parameters": sorted(self.defaults)},
            )
        self.params = {**self.defaults, **params}

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
    cls = FEATURIZERS.get(spec.get("name", ""))
    if cls is None:
        raise InvalidRequest(
            f"unknown featurizer '{spec.get('name')}'", {"known_featurizers": sorted(FEATURIZERS)}
        )
    return cls(**spec.get("params", {}))
