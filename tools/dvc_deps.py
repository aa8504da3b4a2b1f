"""Write each dvc.yaml stage's source deps: the files of the modules the stage imports.

The same files make up the code part of a run's identity (auforget.core.identity.step_sources),
so `dvc repro` and `auforget main` rerun a step for the same code changes. Run it after adding
or moving an import:

    python tools/dvc_deps.py            # rewrite dvc.yaml in place
    python tools/dvc_deps.py --check    # exit 1 and name the stages whose deps differ

Only the `src/` entries of each stage's deps are replaced; data and metrics deps stay as written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ruamel.yaml import YAML

from auforget.core.identity import stage_module, step_sources

ROOT = Path(__file__).resolve().parents[1]


def expected_sources(stage: str) -> list[str]:
    """The src/ paths a dvc.yaml stage should list for the stage of that name."""
    return [f"src/{rel.as_posix()}" for rel in step_sources(stage_module(stage))]


def _stage_deps(body: dict) -> list:
    return (body.get("do") or body)["deps"]


def differences(dvc_yaml: Path = ROOT / "dvc.yaml") -> dict[str, tuple[list[str], list[str]]]:
    """stage -> (listed src deps, expected src deps), for the stages where they differ."""
    stages = YAML().load(dvc_yaml)["stages"]
    out = {}
    for stage, body in stages.items():
        listed = [str(d) for d in _stage_deps(body) if str(d).startswith("src/")]
        expected = expected_sources(stage)
        if listed != expected:
            out[stage] = (listed, expected)
    return out


def rewrite(dvc_yaml: Path = ROOT / "dvc.yaml") -> list[str]:
    """Replace each stage's src/ deps with the expected ones; returns the stages changed."""
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    doc = yaml.load(dvc_yaml)
    changed = []
    for stage, body in doc["stages"].items():
        deps = _stage_deps(body)
        listed = [str(d) for d in deps if str(d).startswith("src/")]
        expected = expected_sources(stage)
        if listed == expected:
            continue
        keep = [d for d in deps if not str(d).startswith("src/")]
        deps.clear()
        deps.extend(keep + expected)
        changed.append(stage)
    yaml.dump(doc, dvc_yaml)
    return changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report differences, change nothing")
    args = parser.parse_args()
    if args.check:
        diff = differences()
        for stage, (listed, expected) in diff.items():
            print(
                f"{stage}: dvc.yaml lists {len(listed)} source files, the stage imports "
                f"{len(expected)}"
            )
        return 1 if diff else 0
    print("rewrote the source deps of:", ", ".join(rewrite()) or "nothing (all in step)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
