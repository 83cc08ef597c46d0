"""Finding a domain's evaluation suite: the ``converso.evaluations`` entry-point group (crm_tools registers
``crm``), so the generic machinery never imports a domain."""

from __future__ import annotations

from importlib.metadata import entry_points

from converso.evaluation.episode import EvalSuite

ENTRY_POINT_GROUP = "converso.evaluations"


class UnknownSuiteError(LookupError):
    pass


def suite_names() -> list[str]:
    return sorted(point.name for point in entry_points(group=ENTRY_POINT_GROUP))


def find_suite(name: str | None = None) -> EvalSuite:
    """The suite registered as ``name`` (the only one registered when None)."""
    points = {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}
    if name is None and len(points) == 1:
        name = next(iter(points))
    if name not in points:
        known = ", ".join(sorted(points)) or "none (reinstall with `pip install -e .`)"
        raise UnknownSuiteError(f"No evaluation suite named {name!r}. Accepted: {known}.")
    return points[name].load()
