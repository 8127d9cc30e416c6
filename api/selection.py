"""What a query selects below the current field, fragments included."""

from __future__ import annotations

from collections.abc import Iterable

from strawberry.types.nodes import SelectedField, Selection

from api.context import Info


def selects(info: Info, *path: str) -> bool:
    """Whether the operation selects the field at `path` (field names) below the current field."""
    return any(
        _selects(field.selections, path) for field in info.selected_fields if isinstance(field, SelectedField)
    )


def _selects(selections: Iterable[Selection], path: tuple[str, ...]) -> bool:
    name, rest = path[0], path[1:]
    for selection in selections:
        if isinstance(selection, SelectedField):
            if selection.name == name and (not rest or _selects(selection.selections, rest)):
                return True
        elif _selects(selection.selections, path):  # an inline fragment or a fragment spread
            return True
    return False
