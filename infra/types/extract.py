#!/usr/bin/env python3
"""Copy the Bicep type definitions infra/ uses into infra/types/types.json, with provenance.

The source is a checkout of Azure/bicep-types-az `generated/` (on the development machines:
../shared/bicep-types, see its SOURCES.md). For every `type@apiVersion` a resource in infra/
declares, the `ResourceType` node and every node it reaches are copied; descriptions are
dropped (they are most of the size), references are renumbered into one node list. Nothing
else changes: property names, flags, literal values and discriminators are the compiler's.

  python3 infra/types/extract.py [SOURCE_DIR]      default ../shared/bicep-types

Re-run it after adding a resource type or changing an API version; infra/validate.py fails on
a `type@apiVersion` that is not in types.json and says to run this.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
INFRA = HERE.parent
ROOT = INFRA.parent
OUT = HERE / "types.json"
RESOURCE_RE = re.compile(r"^\s*resource\s+\w+\s+'([A-Za-z0-9.]+/[A-Za-z0-9./]+)@([0-9a-z-]+)'", re.M)


def wanted_types() -> tuple[list[str], set[str]]:
    """Types the deployment and the checker's samples use; the second set: samples only (a
    sample may name a type that does not exist on purpose)."""
    found: set[str] = set()
    samples: set[str] = set()
    files = [p for p in INFRA.rglob("*.bicep") if "checkov" not in p.parts]
    for path in files:
        for provider_type, api in RESOURCE_RE.findall(path.read_text(encoding="utf-8")):
            (samples if HERE / "tests" in path.parents else found).add(f"{provider_type}@{api}")
    return sorted(found | samples), samples - found


def main() -> int:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "bicep-types"
    index = json.loads((source / "index.json").read_text(encoding="utf-8"))
    sources_md = (source / "SOURCES.md").read_text(encoding="utf-8")
    commit = re.search(r"at commit\s+`([0-9a-f]{40})`", sources_md)
    lower = {k.lower(): k for k in index}
    nodes: list[dict] = []
    memo: dict[tuple[str, int], int] = {}
    files: dict[str, list] = {}
    types: dict[str, int] = {}
    provenance: dict[str, str] = {}
    missing: list[str] = []

    def load(name: str) -> list:
        if name not in files:
            files[name] = json.loads((source / name).read_text(encoding="utf-8"))
        return files[name]

    def copy(file: str, idx: int) -> int:
        key = (file, idx)
        if key in memo:
            return memo[key]
        new = len(nodes)
        memo[key] = new
        nodes.append({})
        nodes[new] = rewrite(file, load(file)[idx])
        return new

    def rewrite(file: str, value):
        if isinstance(value, dict):
            if set(value) == {"$ref"}:
                ref = value["$ref"]
                if not ref.startswith("#/"):
                    raise SystemExit(f"cross-file reference {ref} in {file}: not supported")
                return {"$ref": f"#/{copy(file, int(ref[2:]))}"}
            return {k: rewrite(file, v) for k, v in value.items() if k != "description"}
        if isinstance(value, list):
            return [rewrite(file, v) for v in value]
        return value

    wanted_all, samples_only = wanted_types()
    for wanted in wanted_all:
        key = lower.get(wanted.lower())
        if key is None:
            if wanted not in samples_only:
                missing.append(wanted)
            continue
        file, _, node = index[key].partition("#/")
        types[key] = copy(file, int(node))
        provenance[key] = index[key]
    digests = {
        name: hashlib.sha256((source / name).read_bytes()).hexdigest() for name in sorted(files)
    }
    doc = {
        "_provenance": {
            "repository": "https://github.com/Azure/bicep-types-az",
            "licence": "MIT",
            "commit": commit.group(1) if commit else "unknown",
            "folder": "generated/",
            "extracted_by": "infra/types/extract.py (descriptions dropped, references renumbered)",
            "types": provenance,
            "source_sha256": digests,
        },
        "types": types,
        "nodes": nodes,
    }
    # One node per line: small diffs when a type is added.
    lines = ['{']
    for k in ("_provenance", "types"):
        lines.append(f' "{k}": {json.dumps(doc[k], indent=1, sort_keys=True)},')
    lines.append(' "nodes": [')
    lines.append(",\n".join("  " + json.dumps(n, separators=(",", ":")) for n in nodes))
    lines.append(" ]")
    lines.append("}")
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{OUT.relative_to(ROOT)}: {len(types)} resource types, {len(nodes)} nodes")
    for m in missing:
        print(f"NOT IN SOURCE: {m}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
