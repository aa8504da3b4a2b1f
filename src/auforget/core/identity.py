"""Run identities: what makes two runs "the same run", for resume and reuse.

A training checkpoint resumes, and `main` reuses a FINISHED run, only when the identity matches:
the entry point, its parameters, the source of the modules the step imports, the data (content
hash of the split manifests, rows in order) and the upstream runs it read.

Why only the modules the step imports: a run's result can depend on no other code, and hashing
the whole package made an edit to the report's wording retrain every network of a study. The
modules are found by reading the import statements of the step's module and of everything it
imports in turn (lazy imports inside functions included), so the set errs on the side of more
code, never less. A module's package data counts as its code: a file next to the module that its
source names in a string (data/faces.py reads face_template.json). dvc.yaml's deps name the same
files (`step_sources`; a test keeps them in step).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import re
from pathlib import Path

import pandas as pd

PACKAGE_DIR = Path(__file__).resolve().parents[1]
PACKAGE = PACKAGE_DIR.name
_FILE_NAME = re.compile(r"[\w.-]{1,100}\.\w+")  # a bare file name, as package data is named


def _module_file(module: str) -> Path | None:
    """The source file of a dotted module of this package (a package's __init__.py), or None."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE_DIR).with_suffix("")
    parts = [PACKAGE, *rel.parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Dotted names of this package's modules that the file imports, anywhere in it."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from .faces import x
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)  # from pkg import module
    return {name for name in found if _module_file(name) is not None}


def _data_files(path: Path) -> list[Path]:
    """Files next to the module `path` (not modules) that its source names in a string constant:
    the package data it reads, e.g. "face_template.json" in data/faces.py."""
    names = {
        node.value
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and _FILE_NAME.fullmatch(node.value)
        and not node.value.endswith(".py")
    }
    return sorted(path.parent / name for name in names if (path.parent / name).is_file())


@functools.cache
def step_modules(module: str) -> tuple[str, ...]:
    """Every module of this package that `module` imports, directly or not, with itself and the
    packages they sit in (whose __init__.py runs on import), sorted."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = _module_file(name)
        if path is None:
            raise ValueError(f"no module {name} in {PACKAGE_DIR}")
        seen.add(name)
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        todo.extend(_imports(path) - seen)
    return tuple(sorted(seen))


def step_sources(module: str) -> list[Path]:
    """The source files of step_modules(module), each followed by the package data it reads,
    relative to the package's parent (src/)."""
    files = []
    for name in step_modules(module):
        path = _module_file(name)
        files += [path, *_data_files(path)]
    return [path.relative_to(PACKAGE_DIR.parent) for path in files]


def stage_module(stage: str) -> str:
    """The module that runs a stage: auforget.stages.<stage>; a variant named <stage>-<what>
    (probes-survey) runs in its stage's module."""
    return f"{PACKAGE}.stages.{stage.split('-')[0]}"


def code_version(module: str | None = None) -> str:
    """Content hash of the source `module` depends on (step_sources), or of the whole package
    (modules and package data) when no module is given (the version a report page names)."""
    if module is None:
        files = sorted([*PACKAGE_DIR.rglob("*.py"), *PACKAGE_DIR.rglob("*.json")])
    else:
        files = [PACKAGE_DIR.parent / rel for rel in step_sources(module)]
    h = hashlib.sha256()
    for path in files:
        h.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def fingerprint(stage: str, *parts: object) -> str:
    """A run's identity: the stage, the given parts (params, data digest, upstream runs) and the
    version of the code the stage imports. Same identity = same result, so checkpoints resume
    and `main` reuses."""
    payload = json.dumps(
        [code_version(stage_module(stage)), stage, *parts], sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def manifest_digest(*frames: pd.DataFrame) -> str:
    """Content hash of manifests (rows in order), for run identities."""
    h = hashlib.sha256()
    for frame in frames:
        h.update(pd.util.hash_pandas_object(frame, index=False).values.tobytes())
    return h.hexdigest()[:16]
