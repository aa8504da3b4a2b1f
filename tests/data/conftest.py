"""Writers for tiny hand-made dataset trees (real files in tmp_path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


class TreeWriter:
    """Writes files under a root, creating folders as needed."""

    def __init__(self, root: Path):
        self.root = root

    def image(self, rel: str, size: tuple[int, int] = (40, 30), fmt: str | None = None) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, (120, 90, 60)).save(path, format=fmt)
        return path

    def text(self, rel: str, content: str = "") -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        return path

    def npy(self, rel: str, value) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, value)
        return path


def matlab(*values: float) -> str:
    """One line as MATLAB's ASCII save writes it: `   2.0000000e+00   4.0000000e+00`."""
    return "".join(f"{v:16.7e}" for v in values) + "\n"


def points_text(points: np.ndarray) -> str:
    return "".join(matlab(x, y) for x, y in points)


def face_points(n: int, width: int, height: int, seed: int = 0) -> np.ndarray:
    """n landmark points inside the middle of a width x height image."""
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(0.3, 0.7, n) * width, rng.uniform(0.3, 0.7, n) * height])


TreeWriter.matlab = staticmethod(matlab)
TreeWriter.points_text = staticmethod(points_text)
TreeWriter.face_points = staticmethod(face_points)


@pytest.fixture
def tree(tmp_path: Path) -> TreeWriter:
    """A writer rooted at tmp_path/root; also carries matlab(), points_text(), face_points()."""
    return TreeWriter(tmp_path / "root")
