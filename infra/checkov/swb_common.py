"""Helpers shared by Switchboard's custom checkov policies (not a check itself).

Checkov hands Bicep resources to checks as the pycep JSON of the resource body, with parameter
references replaced by the parameter's default value when it has one. Anything else that is
not a literal -- a parameter without default, a function call, a ternary -- stays an opaque
string or dict. The policies below treat such values as "not proven secure": a security setting
must be a literal (or a parameter defaulting to one) in the file that declares the resource, so
nobody can weaken it from a parameter file without the change showing up in review.
"""

from __future__ import annotations

from typing import Any

MISSING = object()


def get_path(conf: Any, *keys: str | int) -> Any:
    """Walk nested dicts/lists; MISSING if any step is absent or of the wrong shape."""
    node = conf
    for key in keys:
        if isinstance(key, int):
            if not isinstance(node, list) or key >= len(node):
                return MISSING
            node = node[key]
        else:
            if not isinstance(node, dict):
                return MISSING
            if key in node:
                node = node[key]
            elif f"'{key}'" in node:
                # pycep keeps the quotes of quoted object keys ('aad-enabled': ...).
                node = node[f"'{key}'"]
            else:
                return MISSING
    return node


def is_literal_true(value: Any) -> bool:
    return value is True


def is_literal_false(value: Any) -> bool:
    return value is False


def is_expression(value: Any) -> bool:
    """A Bicep expression pycep could not reduce to a literal (function call, operator, ...)."""
    return isinstance(value, dict) and any(
        k in value for k in ("function", "operator", "property_accessor", "index_accessor")
    )


def is_list_literal(value: Any) -> bool:
    return isinstance(value, list)


def non_empty(value: Any) -> bool:
    """Present and not an empty literal (a parameter name or expression counts as present)."""
    if value is MISSING or value is None:
        return False
    if isinstance(value, str):
        return value.strip() != ""
    return True


def iso8601_duration_seconds(value: Any) -> float | None:
    """Seconds in a simple ISO 8601 duration (PnDTnHnMnS); None if not a literal duration."""
    if not isinstance(value, str) or not value.startswith("P"):
        return None
    import re

    match = re.fullmatch(
        r"P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?",
        value,
    )
    if not match or value in ("P", "PT"):
        return None
    days = int(match.group("d") or 0)
    hours = int(match.group("h") or 0)
    minutes = int(match.group("m") or 0)
    seconds = float(match.group("s") or 0)
    return days * 86400 + hours * 3600 + minutes * 60 + seconds
