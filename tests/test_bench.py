"""The benchmarks still run: each bench that CI smokes runs its `--smoke` size through the real
code and prints its side-by-side line (the figures themselves are measured by hand,
docs/measured-cost.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_the_cached_head_bench_compares_images_cached_and_exact_two_view_routes(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "bench/bench_cached_head.py"), "--smoke"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    lines = result.stdout.splitlines()
    table = [
        line.split() for line in lines if line.split()[:1] in (["images"], ["cached"], ["exact"])
    ]
    assert [row[0] for row in table if len(row) == 4] == ["images", "cached", "exact"], lines
    assert any(line.startswith("exact two-view route:") for line in lines), result.stdout


def test_the_image_store_bench_compares_the_store_with_the_jpeg_routes(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "bench/bench_image_store.py"), "--smoke"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    ratios = [line for line in result.stdout.splitlines() if line.startswith("ratio ")]
    assert [line.split()[3] for line in ratios] == ["eval:", "emotion:", "pain:"], result.stdout
    assert all(" store " in line and "x jpeg, " in line for line in ratios), ratios
    assert all(line.endswith("x kept") for line in ratios), ratios
    assert any(line.startswith("build 32 px:") for line in result.stdout.splitlines())


def test_the_backbone_bench_prints_each_backbone_beside_vgg16(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "bench/bench_backbones.py"), "--smoke"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    rows = [line.split() for line in result.stdout.splitlines()]
    table = [r for r in rows if len(r) == 6 and r[1] in ("train", "frozen")]
    assert [(r[0], r[1]) for r in table] == [
        (b, route) for route in ("train", "frozen") for b in ("vgg16", "resnet50", "vit_b_16")
    ]
    assert all(r[-1] == "1.00x" for r in table if r[0] == "vgg16"), table


@pytest.mark.slow  # trains a micro study, then eight retrains of its FreezeB5: minutes, not seconds
def test_the_controls_bench_prints_rates_dose_response_and_the_cross_target(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "bench/bench_controls.py"), "--smoke"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    lines = result.stdout.splitlines()
    assert [line.split()[1] for line in lines if line.startswith("rate ")] == [
        "recall:",
        "maps:",
        "probe:",
        "sham:",
    ], lines
    # the dose of params.yaml's lesion: the unlearned one's erase_weight (a projection's: its rank)
    doses = [line.split()[1] for line in lines if line.startswith("dose ")]
    assert doses == ["weight=0.1", "weight=0.4"], lines
    assert any(line.startswith("threshold (sensitivity cut): recall ") for line in lines)
    assert any(line.startswith("cross-target AU26 ") for line in lines), lines
