"""The house rules CI enforces: ruff's lint and format, and the layers contract (imports only
point down: core < data < analysis < nn < tracking < workflow < stages < cli)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return found


@pytest.mark.parametrize(
    "args", [["check", "."], ["format", "--check", "."]], ids=["ruff-check", "ruff-format"]
)
def test_ruff(args):
    result = subprocess.run([_tool("ruff"), *args], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_the_layers_contract_holds():
    result = subprocess.run(
        [_tool("lint-imports"), "--no-cache"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_no_import_circles_inside_the_package():
    """No module imports, directly or not, a module that imports it back."""
    import grimp

    graph = grimp.build_graph("auforget", cache_dir=None)
    circles = [
        (a, b)
        for a in sorted(graph.modules)
        for b in graph.find_modules_directly_imported_by(a)
        if a != b and graph.chain_exists(importer=b, imported=a)
    ]
    assert not circles, circles[:10]
