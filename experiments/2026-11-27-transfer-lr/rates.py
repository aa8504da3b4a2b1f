"""The pain transfer's learning rate side by side: FreezeB0 against FreezeB5, per rate.

    python experiments/2026-11-27-transfer-lr/rates.py RUNS_DIR [RUN ...]

RUNS_DIR holds one folder of metrics/*.json per run (run.sh writes them). For each rate folder
(`lr0.01/`, `lr0.003/`, `lr0.001/` on seeds 20-22; `seeds-23-25-*` if the confirmation ran): the
plan's score (planted findings + controls kept across seeds, as planted.json judges them), its
conditions (b) contempt's seed-mean drop and (c) FreezeB0's pain macro F1 against FreezeB5's,
then per-emotion recall drops B5 - B0 with seed intervals, and the planted emotions' drops beyond
the other seven's mean (what `forgetting` logs as excess_*).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from auforget.analysis.stats import seed_interval
from auforget.core.config import EMOTIONS

PLANTED_FORGOTTEN = ("surprise", "contempt")
CONTROLS = ("sad", "disgust", "anger")


def _read(folder: Path, name: str) -> dict:
    return json.loads((folder / f"{name}.json").read_text())


def suffixes(folder: Path) -> list[str]:
    """'' for the first seed, '-seed<s>' for the others, from the retrain files present."""
    extra = sorted(p.stem.removeprefix("retrain-b0") for p in folder.glob("retrain-b0-seed*.json"))
    return [""] + extra


def drops(folder: Path, emotion: str) -> list[float]:
    return [
        _read(folder, f"retrain-b5{s}")[f"test_recall_{emotion}"]
        - _read(folder, f"retrain-b0{s}")[f"test_recall_{emotion}"]
        for s in suffixes(folder)
    ]


def pain_f1(folder: Path, k: int) -> float:
    return float(
        np.mean([_read(folder, f"transfer-b{k}{s}")["test_f1_macro"] for s in suffixes(folder)])
    )


def summary(folder: Path) -> dict[str, float]:
    planted = _read(folder, "planted")
    others = [e for e in EMOTIONS if e not in PLANTED_FORGOTTEN]
    return {
        "planted": planted["seeds_planted_recovered"],
        "controls": planted["seeds_control_recovered"],
        "score": planted["seeds_planted_recovered"] + planted["seeds_control_recovered"],
        "contempt": planted["seeds_recall_contempt_value"],
        "contempt_p": planted["seeds_recall_contempt_p"],
        "surprise": planted["seeds_recall_surprise_value"],
        "surprise_p": planted["seeds_recall_surprise_p"],
        "au14": planted["seeds_probe_au14_value"],
        "au14_p": planted["seeds_probe_au14_p"],
        "region_contempt": planted["seeds_region_contempt_value"],
        "region_surprise": planted["seeds_region_surprise_value"],
        "others_drop": float(np.mean([np.mean(drops(folder, e)) for e in others])),
        "pain_f1_b0": pain_f1(folder, 0),
        "pain_f1_b5": pain_f1(folder, 5),
    }


def beyond(folder: Path, emotion: str) -> list[float]:
    """Per seed: the emotion's drop minus the other seven emotions' mean drop (forgetting's
    excess_*)."""
    per = {e: drops(folder, e) for e in EMOTIONS}
    return [
        per[emotion][i] - float(np.mean([per[e][i] for e in EMOTIONS if e != emotion]))
        for i in range(len(per[emotion]))
    ]


def main(folders: list[Path]) -> None:
    print(
        "| run | score | planted (of 5) | controls kept (of 3) | contempt drop (p) "
        "| surprise drop (p) | AU14 probe drop (p) | contempt region top | surprise region top "
        "| other six emotions' mean drop | pain macro F1 B0 / B5 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for f in folders:
        s = summary(f)
        cells = [
            f"{s['score']:.0f}",
            f"{s['planted']:.0f}",
            f"{s['controls']:.0f}",
            f"{s['contempt']:+.3f} ({s['contempt_p']:.2g})",
            f"{s['surprise']:+.3f} ({s['surprise_p']:.2g})",
            f"{s['au14']:+.3f} ({s['au14_p']:.2g})",
            f"{s['region_contempt']:.2f}",
            f"{s['region_surprise']:.2f}",
            f"{s['others_drop']:+.3f}",
            f"{s['pain_f1_b0']:.3f} / {s['pain_f1_b5']:.3f}",
        ]
        print(f"| {f.name} | " + " | ".join(cells) + " |")
    for f in folders:
        print(f"\n{f.name}: recall drop B5 - B0, mean [95% t interval] (per seed)")
        for e in EMOTIONS:
            d = drops(f, e)
            iv = seed_interval(d)
            tag = (
                " (planted: forgotten)"
                if e in PLANTED_FORGOTTEN
                else " (control)"
                if e in CONTROLS
                else ""
            )
            per_seed = ", ".join(f"{x:+.3f}" for x in d)
            print(f"  {e:9s} {iv.mean:+.3f} [{iv.low:+.3f}, {iv.high:+.3f}] ({per_seed}){tag}")
        for e in PLANTED_FORGOTTEN:
            d = beyond(f, e)
            iv = seed_interval(d)
            print(
                f"  {e} beyond the other seven's mean drop: {iv.mean:+.3f} "
                f"[{iv.low:+.3f}, {iv.high:+.3f}] ({', '.join(f'{x:+.3f}' for x in d)})"
            )


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    runs = Path(sys.argv[1])
    names = sys.argv[2:] or [
        "lr0.01",
        "lr0.003",
        "lr0.001",
        "seeds-23-25-chosen",
        "seeds-23-25-lr0.01",
    ]
    main([runs / n for n in names if (runs / n / "planted.json").exists()])
