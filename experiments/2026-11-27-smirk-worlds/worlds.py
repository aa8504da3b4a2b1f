"""The smirk worlds side by side: FreezeB0 against FreezeB5, seeds 5-7, from the studies' metrics.

    python experiments/2026-11-27-smirk-worlds/worlds.py RUNS_DIR [--seeds-0-4 METRICS_DIR]

RUNS_DIR holds one folder of metrics/*.json per world, named as WORLDS below (run.sh writes
`base/` and `lr0.001/`; the three other worlds need code that no parameter expresses, see
variant.diff.txt). Per world (and the world as drawn with a gentler transfer, `lr0.001/`):
contempt's and surprise's recall after retraining (B5 is the same network in every world:
AffectNet and the emotion models do not change, only UNBC does), the AU14 probe, the planted
checks across seeds (`seeds_*` of planted.json), and the other emotions' mean drop. With
--seeds-0-4 (the metrics of the five-seed study of the world as drawn, seeds 0-4: run.sh of
../2026-11-26-demo-200-test/), the world as drawn over all eight seeds: per-seed drops, mean and
t interval.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from auforget.analysis.stats import seed_interval
from auforget.core.config import EMOTIONS

WORLDS = {
    "base": "smirk anywhere (as drawn)",
    "none": "no smirk",
    "nopain": "smirk only without pain",
    "painsmirk": "smirk only with pain",
    "lr0.001": "as drawn, transfer.lr 0.001 (second addendum)",
}


def _read(folder: Path, name: str) -> dict:
    return json.loads((folder / f"{name}.json").read_text())


def drops(folder: Path, suffixes: tuple[str, ...], emotion: str) -> list[float]:
    """Recall B5 - B0 after retraining, per seed."""
    return [
        _read(folder, f"retrain-b5{s}")[f"test_recall_{emotion}"]
        - _read(folder, f"retrain-b0{s}")[f"test_recall_{emotion}"]
        for s in suffixes
    ]


def probe_drops(folder: Path, suffixes: tuple[str, ...], au: int = 14) -> list[float]:
    return [
        (m := _read(folder, f"probes-au{au}{s}"))["probe_f1_mean_b5"] - m["probe_f1_mean_b0"]
        for s in suffixes
    ]


def seed_suffixes(folder: Path) -> tuple[str, ...]:
    """The first seed's files have no suffix; the others end in -seed<N> (ordered by N)."""
    others = sorted((int(f.stem.rsplit("-seed", 1)[1]) for f in folder.glob("emotion-seed*.json")))
    return ("", *(f"-seed{n}" for n in others))


def _fmt(values: list[float]) -> str:
    ci = seed_interval(values)
    return (
        f"{ci.mean:+.3f} [{ci.low:+.3f}, {ci.high:+.3f}] ({', '.join(f'{v:+.3f}' for v in values)})"
    )


def world_table(worlds: dict[Path, str]) -> None:
    """One row per study folder (seeds 5-7), labelled."""
    print(
        "| world | contempt drop | p | AU14 probe F1 drop | p | contempt top region "
        "| surprise drop | p | other six emotions' mean drop | controls kept |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for folder, label in worlds.items():
        planted, seeds = _read(folder, "planted"), seed_suffixes(folder)
        others = [e for e in EMOTIONS if e not in ("contempt", "surprise")]
        other = np.mean([np.mean(drops(folder, seeds, e)) for e in others])
        region = round(3 * planted["seeds_region_contempt_value"])
        contempt, surprise = drops(folder, seeds, "contempt"), drops(folder, seeds, "surprise")
        print(
            f"| {label} | {_fmt(contempt)} | {planted['seeds_recall_contempt_p']:.2g} | "
            f"{_fmt(probe_drops(folder, seeds))} | {planted['seeds_probe_au14_p']:.2g} | "
            f"{region}/3 | {_fmt(surprise)} | {planted['seeds_recall_surprise_p']:.2g} | "
            f"{other:+.3f} | {int(planted['seeds_control_recovered'])}/3 |"
        )


def eight_seeds(earlier: Path, base: Path) -> None:
    """The world as drawn over seeds 0-4 (`earlier`) and 5-7 (`base`)."""
    first, later = seed_suffixes(earlier), seed_suffixes(base)
    print("\nthe world as drawn, seeds 0-7 (mean [95% t interval] (per seed)):")
    for emotion in EMOTIONS:
        values = drops(earlier, first, emotion) + drops(base, later, emotion)
        print(f"  recall drop {emotion:9s} {_fmt(values)}")
    probes = probe_drops(earlier, first) + probe_drops(base, later)
    print(f"  AU14 probe F1 drop    {_fmt(probes)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, help="one metrics folder per world (base, lr0.001, ...)")
    parser.add_argument("--seeds-0-4", type=Path, help="metrics of the world as drawn, seeds 0-4")
    args = parser.parse_args()
    present = {args.runs / w: f"{w}: {what}" for w, what in WORLDS.items()}
    world_table({folder: label for folder, label in present.items() if folder.is_dir()})
    if args.seeds_0_4 and (args.runs / "base").is_dir():
        eight_seeds(args.seeds_0_4, args.runs / "base")


if __name__ == "__main__":
    main()
