"""Typed check of Bicep resources against the compiler's own type definitions (offline).

No Bicep compiler runs on our machines, so this does the part of its type check that catches
deployment-time failures: for every `resource` (pycep's parse of the file) it checks

  type        `type@apiVersion` exists                                       (rule: type)
  property    every property set exists in the type, nested objects, array
              items and discriminated objects included                       (rule: property)
  read-only   no property set is read-only (flag 2)                          (rule: read-only)
  literal     a literal value has the type's kind (string, integer, bool,
              object, array) and, where the type lists allowed values, is one (rule: literal)

Expressions (parameters, variables, function calls, interpolated strings) are not evaluated:
their values are not checked, but the property names around them are. `existing` resources
only have their type checked. The types come from infra/types/types.json (extracted from
Azure/bicep-types-az by infra/types/extract.py; provenance inside).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TYPES_FILE = Path(__file__).resolve().parent / "types" / "types.json"
READ_ONLY = 2
# Keys of a resource body that are Bicep syntax, not part of the resource's type.
BICEP_KEYS = {"parent", "scope", "dependsOn"}
EXPRESSION_KEYS = {"function", "operator"}


class Types:
    def __init__(self, path: Path = TYPES_FILE) -> None:
        doc = json.loads(path.read_text(encoding="utf-8"))
        self.nodes: list[dict[str, Any]] = doc["nodes"]
        self.types = {k.lower(): v for k, v in doc["types"].items()}

    def node(self, ref: dict[str, str]) -> dict[str, Any]:
        return self.nodes[int(ref["$ref"][2:])]

    def resource(self, type_api: str) -> dict[str, Any] | None:
        index = self.types.get(type_api.lower())
        return None if index is None else self.nodes[index]


def _identifiers(doc: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for section in ("parameters", "variables", "resources", "modules"):
        names.update((doc.get(section) or {}).keys())
    for resource in (doc.get("resources") or {}).values():
        loop = (resource.get("config") or {}).get("loop_type") or {}
        detail = loop.get("detail") or {}
        for key in ("item_name", "index_name"):
            if detail.get(key):
                names.add(detail[key])
    return names


def _is_expression(value: Any, identifiers: set[str]) -> bool:
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in EXPRESSION_KEYS:
        return True
    if isinstance(value, str):
        return value in identifiers or "${" in value
    return False


def _literals(types: Types, node: dict[str, Any]) -> tuple[set[str], bool]:
    """Allowed string literals of a (union) type, and whether any string is allowed."""
    if node["$type"] == "StringLiteralType":
        return {node["value"]}, False
    if node["$type"] == "UnionType":
        allowed, free = set(), False
        for element in node["elements"]:
            sub, sub_free = _literals(types, types.node(element))
            allowed |= sub
            free |= sub_free
        return allowed, free
    return set(), node["$type"] in ("StringType", "AnyType")


class Checker:
    def __init__(self, types: Types, file: str, identifiers: set[str]) -> None:
        self.types = types
        self.file = file
        self.identifiers = identifiers
        self.findings: list[tuple[str, str]] = []

    def add(self, rule: str, where: str, message: str) -> None:
        self.findings.append((rule, f"{self.file}: {where}: {message}"))

    def value(self, node: dict[str, Any], value: Any, where: str) -> None:
        if value is None or _is_expression(value, self.identifiers):
            return
        kind = node["$type"]
        if kind == "AnyType":
            return
        if kind in ("ObjectType", "DiscriminatedObjectType"):
            if not isinstance(value, dict):
                self.add("literal", where, f"expected an object, got {json.dumps(value)[:60]}")
                return
            self.object(node, value, where)
        elif kind == "ArrayType":
            if not isinstance(value, list):
                self.add("literal", where, f"expected an array, got {json.dumps(value)[:60]}")
                return
            item = self.types.node(node["itemType"])
            for i, element in enumerate(value):
                self.value(item, element, f"{where}[{i}]")
        elif kind in ("StringLiteralType", "UnionType"):
            if kind == "UnionType" and any(
                self.types.node(e)["$type"] not in ("StringLiteralType", "StringType", "UnionType")
                for e in node["elements"]
            ):
                # A union of objects or mixed kinds: try each, accept if one fits.
                for element in node["elements"]:
                    probe = Checker(self.types, self.file, self.identifiers)
                    probe.value(self.types.node(element), value, where)
                    if not probe.findings:
                        return
                self.add("literal", where, f"{json.dumps(value)[:60]} fits none of the union's types")
                return
            allowed, free = _literals(self.types, node)
            if not isinstance(value, str):
                self.add("literal", where, f"expected a string, got {json.dumps(value)[:60]}")
            elif not free and value not in allowed:
                self.add("literal", where, f"'{value}' is not one of {sorted(allowed)}")
        elif kind == "StringType":
            if not isinstance(value, str):
                self.add("literal", where, f"expected a string, got {json.dumps(value)[:60]}")
            else:
                self._string_limits(node, value, where)
        elif kind == "IntegerType":
            if isinstance(value, bool) or not isinstance(value, int):
                self.add("literal", where, f"expected an integer, got {json.dumps(value)[:60]}")
            elif ("minValue" in node and value < node["minValue"]) or (
                "maxValue" in node and value > node["maxValue"]
            ):
                self.add("literal", where, f"{value} is outside [{node.get('minValue')}, {node.get('maxValue')}]")
        elif kind == "BooleanType":
            if not isinstance(value, bool):
                self.add("literal", where, f"expected true or false, got {json.dumps(value)[:60]}")

    def _string_limits(self, node: dict[str, Any], value: str, where: str) -> None:
        if "minLength" in node and len(value) < node["minLength"]:
            self.add("literal", where, f"'{value}' is shorter than {node['minLength']}")
        if "maxLength" in node and len(value) > node["maxLength"]:
            self.add("literal", where, f"'{value}' is longer than {node['maxLength']}")

    def object(self, node: dict[str, Any], value: dict[str, Any], where: str, top: bool = False) -> None:
        if node["$type"] == "DiscriminatedObjectType":
            properties = dict(node.get("baseProperties", {}))
            tag = value.get(node["discriminator"])
            elements = node.get("elements", {})
            if isinstance(tag, str) and not _is_expression(tag, self.identifiers):
                if tag not in elements:
                    self.add("literal", f"{where}.{node['discriminator']}", f"'{tag}' is not one of {sorted(elements)}")
                    return
                chosen = [self.types.node(elements[tag])]
            else:
                chosen = [self.types.node(e) for e in elements.values()]
            for element in chosen:
                properties.update(element.get("properties", {}))
            properties.setdefault(node["discriminator"], {"type": None, "flags": 1})
            additional = None
        else:
            properties = node.get("properties", {})
            additional = node.get("additionalProperties")
        lower = {k.lower(): k for k in properties}
        for raw_key, item in value.items():
            key = raw_key[1:-1] if raw_key.startswith("'") and raw_key.endswith("'") else raw_key
            path = f"{where}.{key}" if where else key
            if top and key in BICEP_KEYS:
                continue
            name = lower.get(key.lower())
            if name is None:
                if additional is not None:
                    self.value(self.types.node(additional), item, path)
                elif "${" not in key:
                    known = ", ".join(sorted(properties)[:12])
                    self.add("property", path, f"no property `{key}` in {node.get('name', 'this object')} (has: {known})")
                continue
            spec = properties[name]
            if spec.get("flags", 0) & READ_ONLY:
                self.add("read-only", path, f"`{name}` is read-only")
                continue
            if spec.get("type") is not None:
                self.value(self.types.node(spec["type"]), item, path)


def check_doc(types: Types, doc: dict[str, Any], file: str) -> list[tuple[str, str]]:
    identifiers = _identifiers(doc)
    checker = Checker(types, file, identifiers)
    for symbol, resource in (doc.get("resources") or {}).items():
        type_api = f"{resource['type']}@{resource['api_version']}"
        rtype = types.resource(type_api)
        if rtype is None:
            checker.add("type", symbol, f"unknown resource type or API version {type_api} "
                        "(not in infra/types/types.json; run infra/types/extract.py if it is new)")
            continue
        if resource.get("existing"):
            continue
        config = resource.get("config") or {}
        # Loops and conditions wrap the body: {"loop_type"|"condition": …, "config": body}.
        while isinstance(config, dict) and "config" in config and ("loop_type" in config or "condition" in config):
            config = config["config"]
        if not isinstance(config, dict) or _is_expression(config, identifiers):
            continue
        checker.object(types.node(rtype["body"]), config, f"{symbol} ({type_api})", top=True)
    return checker.findings


def check_files(files: list[Path], root: Path, parse) -> list[tuple[str, str]]:
    types = Types()
    findings: list[tuple[str, str]] = []
    for path in files:
        findings += check_doc(types, parse(path), str(path.relative_to(root)))
    return findings
