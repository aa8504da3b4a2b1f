"""The small profile against the same five blocks at 96 px and at twice the width, seeds 5-7
(and 8-10).

    python experiments/2026-11-27-capacity/capacity.py RUNS_DIR

RUNS_DIR holds one folder of metrics/*.json (and time.txt) per network and seed set, named as
VARIANTS below; run.sh writes `small/`, `px96/` and `px96-seeds-8-10/` (`wide2` needs code that no
parameter expresses, see variant.diff.txt). Prints the smirk worlds' table for them (criterion
C's columns; see PLAN.md), using ../2026-11-27-smirk-worlds/worlds.py, then what each network
costs and reaches. Folders that are missing are left out.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "2026-11-27-smirk-worlds"))
from worlds import _read, seed_suffixes, world_table  # noqa: E402

VARIANTS = {
    "small": "small: 64 px, 8-64 channels",
    "px96": "px96: 96 px, 8-64 channels",
    "wide2": "wide2: 64 px, 16-128 channels",
    "px96-seeds-8-10": "px96 (small96), confirmation seeds 8-10",
    "wide2-seeds-8-10": "wide2, confirmation seeds 8-10",
}


def _wall(timing: Path) -> str:
    """Wall time from GNU time's record (the runs of 2026-11-27) or run.sh's `wall_s N`."""
    for line in timing.read_text().splitlines() if timing.exists() else []:
        if "Elapsed" in line:
            return line.split(": ", 1)[1]
        if line.startswith("wall_s"):
            return f"{line.split()[1]} s"
    return "?"


def costs(runs: dict[Path, str]) -> None:
    print(
        "\n| network | emotion macro recall | FreezeB0 pain macro F1 | FreezeB5 pain macro F1 "
        "| wall, 3 seeds cold |"
    )
    print("|---|---|---|---|---|")
    for folder, label in runs.items():
        seeds = seed_suffixes(folder)
        emotion, pain_b0, pain_b5 = (
            [_read(folder, f"{stem}{s}")[f"test_{key}"] for s in seeds]
            for stem, key in (
                ("emotion", "recall_macro"),
                ("transfer-b0", "f1_macro"),
                ("transfer-b5", "f1_macro"),
            )
        )
        wall = _wall(folder / "time.txt")
        cells = [", ".join(f"{v:.3f}" for v in values) for values in (emotion, pain_b0, pain_b5)]
        mean = np.mean(emotion)
        print(f"| {label} | {cells[0]} (mean {mean:.3f}) | {cells[1]} | {cells[2]} | {wall} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    runs = {Path(sys.argv[1]) / name: label for name, label in VARIANTS.items()}
    present = {folder: label for folder, label in runs.items() if folder.is_dir()}
    world_table(present)
    costs(present)
