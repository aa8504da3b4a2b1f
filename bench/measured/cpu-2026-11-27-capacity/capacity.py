"""The small profile against the same five blocks at 96 px and at twice the width, seeds 5-7 (and 8-10).

    .venv/bin/python bench/measured/cpu-2026-11-27-capacity/capacity.py

Reads the metrics each variant's `auforget main` wrote (`px96/`, `wide2/`) and the small
profile's on the same seeds (`../cpu-2026-11-27-smirk-worlds/base/`), and prints the worlds'
table for them (criterion C's columns; see PLAN.md), then what each network costs and reaches.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "cpu-2026-11-27-smirk-worlds"))
from worlds import _read, seed_suffixes, world_table  # noqa: E402

VARIANTS = {HERE.parent / "cpu-2026-11-27-smirk-worlds" / "base": "small: 64 px, 8-64 channels",
            HERE / "px96": "px96: 96 px, 8-64 channels",
            HERE / "wide2": "wide2: 64 px, 16-128 channels",
            HERE / "px96-seeds-8-10": "px96 (small96), confirmation seeds 8-10",
            HERE / "wide2-seeds-8-10": "wide2, confirmation seeds 8-10"}


def costs() -> None:
    print("\n| network | emotion macro recall | FreezeB0 pain macro F1 | FreezeB5 pain macro F1 | wall, 3 seeds cold |")
    print("|---|---|---|---|---|")
    for folder, label in VARIANTS.items():
        if not folder.exists():
            continue
        seeds = seed_suffixes(folder)
        emotion, pain_b0, pain_b5 = ([_read(folder, f"{stem}{s}")[f"test_{key}"] for s in seeds]
                                     for stem, key in (("emotion", "recall_macro"), ("transfer-b0", "f1_macro"),
                                                       ("transfer-b5", "f1_macro")))
        timing = folder / "time.txt"
        wall = next((line.split(": ", 1)[1] for line in timing.read_text().splitlines() if "Elapsed" in line), "?") \
            if timing.exists() else "?"
        cells = [", ".join(f"{v:.3f}" for v in values) for values in (emotion, pain_b0, pain_b5)]
        print(f"| {label} | {cells[0]} (mean {np.mean(emotion):.3f}) | {cells[1]} | {cells[2]} | {wall} |")


if __name__ == "__main__":
    world_table({folder: label for folder, label in VARIANTS.items() if folder.exists()})
    costs()
