"""One row per seed of the demo's instrument checks (metrics/controls.json for the first seed,
controls-seed<k>.json for the others), then the counts the five-seed plan reads (PLAN.md).

    python experiments/2026-12-07-five-seed-controls/summarise.py STUDY_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

FLAGS = ("recall", "maps", "probe")


def rows(study: Path) -> list[dict]:
    out = []
    first = study / "metrics" / "controls.json"  # the first seed keeps the single-seed name
    paths = [first] if first.exists() else []
    for path in [*paths, *sorted((study / "metrics").glob("controls-seed*.json"))]:
        m = json.loads(path.read_text())
        seed = int(path.stem.removeprefix("controls-seed")) if "seed" in path.stem else 0
        out.append({"seed": seed, **m})
    return out


LESIONED_AU = 14  # the plan's lesion (controls.au); the metrics do not name it


def most_changed_other(m: dict) -> int:
    """The drawn AU other than the lesioned one whose sensitivity the lesion changed most."""
    prefix = "lesion_sensitivity_change_au"
    changes = {int(k.removeprefix(prefix)): abs(v) for k, v in m.items() if k.startswith(prefix)}
    changes.pop(LESIONED_AU, None)
    return max(changes, key=changes.get)


def main() -> None:
    seeds = rows(Path(sys.argv[1]))
    if not seeds:
        sys.exit(
            f"{sys.argv[1]}/metrics: no controls.json nor controls-seed<k>.json (run the study)"
        )
    print(
        "seed manip cut14 others (AU) sham_cut | lesion: recall maps probe"
        " | sham: recall maps probe | B5' significant"
    )
    for m in seeds:
        lesion = " ".join(
            "void"
            if m.get("lesion_void") == 1.0
            else ("pass" if m.get(f"lesion_{f}_pass") == 1.0 else "fail")
            for f in FLAGS
        )
        sham = " ".join(
            "void"
            if m.get("negative_void") == 1.0
            else ("pass" if m.get(f"negative_{f}_pass") == 1.0 else "FLAG")
            for f in FLAGS
        )
        print(
            f"{m['seed']} {'pass' if m['lesion_manipulation_pass'] == 1.0 else 'FAIL'} "
            f"{m['lesion_sensitivity_cut']:.3f} {m['lesion_other_change_max']:.3f} "
            f"(AU{most_changed_other(m)}) "
            f"{m['negative_sensitivity_cut']:.3f} | {lesion} | {sham} | "
            f"{m['sham_recall_n_significant']:.0f}"
        )
    valid = [m for m in seeds if m["lesion_manipulation_pass"] == 1.0]
    print(f"manipulation passes in {len(valid)} of {len(seeds)} seeds")
    shams = [m for m in seeds if m.get("negative_void") != 1.0]
    for f in FLAGS:
        found = sum(m.get(f"lesion_{f}_pass") == 1.0 for m in valid)
        flagged = sum(m.get(f"negative_{f}_pass") != 1.0 for m in shams)
        print(
            f"{f}: lesion found in {found} of {len(valid)} valid seeds; sham flagged in "
            f"{flagged} of {len(shams)} valid seeds"
        )
    total = sum(m["sham_recall_n_significant"] for m in seeds)
    print(f"FreezeB5 vs FreezeB5': {total:.0f} Holm-significant emotions in {len(seeds)} pairs")


if __name__ == "__main__":
    main()
