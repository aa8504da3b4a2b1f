"""Write the params file an experiment's study runs with: the repository's params.yaml, then the
experiment's override on top, then any `section.key=VALUE` given after it.

    python experiments/merge_params.py BASE OVERRIDE [section.key=VALUE ...] > merged.yaml

OVERRIDE (an experiment's params.yaml) holds only the keys that differ from BASE, by section.
Each VALUE is read as YAML (`study.seeds=[8, 9, 10]`, `transfer.lr=0.001`). The merged file is
loaded with auforget's own loader before it is written, so an unknown section or key, or a bad
value, fails at once with the loader's message instead of minutes into a study.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import yaml

from auforget.core.config import load_params


def merge(base: dict, override: dict, assignments: list[str]) -> dict:
    """BASE with OVERRIDE's keys replaced section by section, then each `section.key=VALUE`."""
    merged = {section: dict(body or {}) for section, body in base.items()}
    for section, body in (override or {}).items():
        merged.setdefault(section, {}).update(body or {})
    for item in assignments:
        name, sep, value = item.partition("=")
        section, dot, key = name.partition(".")
        if not (sep and dot and section and key):
            raise SystemExit(f"merge_params: expected section.key=VALUE, got {item!r}")
        merged.setdefault(section, {})[key] = yaml.safe_load(value)
    return merged


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit(__doc__)
    base = yaml.safe_load(Path(argv[0]).read_text()) or {}
    override = yaml.safe_load(Path(argv[1]).read_text()) or {}
    text = yaml.safe_dump(merge(base, override, argv[2:]), sort_keys=False)
    with tempfile.TemporaryDirectory() as tmp:
        check = Path(tmp) / "params.yaml"
        check.write_text(text)
        load_params(check)  # raises ValueError naming the bad section, key or value
    sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
