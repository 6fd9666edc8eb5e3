"""What a depiction request holds and how it is cached: shared by the gateway (asks) and the featurizer (draws).

The gateway holds no RDKit, so ``featurize.depict`` draws a job's results on the featurizer queue and keeps each SVG
as a job attachment (``attachment_name``), as long as the job itself. A result's relied-on substructures are
highlighted by atom, coloured by their causal status (the evidence's ``status``); the same colours make the page's
legend.
"""

from __future__ import annotations

from typing import Any

DEPICT_TASK = "featurize.depict"
MAX_ATOMS = 150  # heavy atoms; a larger structure is answered 422 structure_too_large, not drawn
WIDTH, HEIGHT = 320, 240
TOO_LARGE = "too_large"  # the attachment's text when the worker declined to draw

# Colour by effect status; the first status listed wins where two substructures share an atom.
STATUS_COLOURS: dict[str, str] = {
    "contradicted": "#d62728",
    "confounded": "#ff7f0e",
    "causal": "#2ca02c",
    "null": "#9467bd",
    "inconclusive": "#bcbd22",
    "untestable": "#7f7f7f",
    "not_profiled": "#c7c7c7",
}
STATUS_PRIORITY = tuple(STATUS_COLOURS)


def attachment_name(index: int) -> str:
    return f"depiction:{index}"


def highlight_status(item: dict[str, Any]) -> str:
    """The colour key of one evidence item: a contradicted reliance shows as such, else the effect's status."""
    if item.get("reliance") == "contradicted":
        return "contradicted"
    return str(item.get("status") or "not_profiled")


def depiction_item(index: int, result: dict[str, Any]) -> dict[str, Any]:
    """One result as the depict task takes it: its SMILES and the atoms to highlight, with their colour key."""
    evidence = (result.get("causal_validity") or {}).get("evidence") or []
    highlights = [{"atoms": list(e.get("atoms") or []), "status": highlight_status(e)} for e in evidence
                  if e.get("atoms") and e.get("contribution") is not None]
    return {"index": index, "smiles": result.get("canonical_smiles"), "highlights": highlights}
