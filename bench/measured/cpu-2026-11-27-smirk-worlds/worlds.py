"""The smirk worlds side by side: FreezeB0 against FreezeB5, seeds 5-7, from the metrics in this folder.

    .venv/bin/python bench/measured/cpu-2026-11-27-smirk-worlds/worlds.py

Per world (and the world as drawn with a gentler transfer, `lr0.001/`): contempt's and surprise's recall after retraining (B5 is the same network in every
world: AffectNet and the emotion models do not change, only UNBC does), the AU14 probe, the
planted checks across seeds (`seeds_*` of planted.json), and the other emotions' mean drop.
Then the world as it is over all eight seeds it has been trained with (0-4 from
../cpu-2026-11-26-demo-200-test/five-seeds/, 5-7 here): per-seed drops, mean and t interval.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from auforget.config import EMOTIONS
from auforget.stats import seed_interval

HERE = Path(__file__).parent
WORLDS = {"base": "smirk anywhere (as drawn)", "none": "no smirk", "nopain": "smirk only without pain",
          "painsmirk": "smirk only with pain", "lr0.001": "as drawn, transfer.lr 0.001 (second addendum)"}
SUFFIXES = ("", "-seed6", "-seed7")
EARLIER = HERE.parent / "cpu-2026-11-26-demo-200-test" / "five-seeds"


def _read(folder: Path, name: str) -> dict:
    return json.loads((folder / f"{name}.json").read_text())


def drops(folder: Path, suffixes: tuple[str, ...], emotion: str) -> list[float]:
    """Recall B5 - B0 after retraining, per seed."""
    return [_read(folder, f"retrain-b5{s}")[f"test_recall_{emotion}"] - _read(folder, f"retrain-b0{s}")[f"test_recall_{emotion}"]
            for s in suffixes]


def probe_drops(folder: Path, suffixes: tuple[str, ...], au: int = 14) -> list[float]:
    return [(m := _read(folder, f"probes-au{au}{s}"))["probe_f1_mean_b5"] - m["probe_f1_mean_b0"] for s in suffixes]


def seed_suffixes(folder: Path) -> tuple[str, ...]:
    """The first seed's files have no suffix; the others end in -seed<N> (ordered by N)."""
    others = sorted((int(f.stem.rsplit("-seed", 1)[1]) for f in folder.glob("emotion-seed*.json")))
    return ("", *(f"-seed{n}" for n in others))


def _fmt(values: list[float]) -> str:
    ci = seed_interval(values)
    return f"{ci.mean:+.3f} [{ci.low:+.3f}, {ci.high:+.3f}] ({', '.join(f'{v:+.3f}' for v in values)})"


def world_table(worlds: dict[Path, str] | None = None) -> None:
    """One row per study folder (seeds 5-7); by default the four worlds and the gentler transfer."""
    worlds = worlds or {HERE / world: f"{world}: {what}" for world, what in WORLDS.items()}
    print("| world | contempt drop | p | AU14 probe F1 drop | p | contempt top region | surprise drop | p | "
          "other six emotions' mean drop | controls kept |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for folder, label in worlds.items():
        planted, seeds = _read(folder, "planted"), seed_suffixes(folder)
        others = [e for e in EMOTIONS if e not in ("contempt", "surprise")]
        other = np.mean([np.mean(drops(folder, seeds, e)) for e in others])
        print(f"| {label} | {_fmt(drops(folder, seeds, 'contempt'))} | "
              f"{planted['seeds_recall_contempt_p']:.2g} | {_fmt(probe_drops(folder, seeds))} | "
              f"{planted['seeds_probe_au14_p']:.2g} | {round(3 * planted['seeds_region_contempt_value'])}/3 | "
              f"{_fmt(drops(folder, seeds, 'surprise'))} | {planted['seeds_recall_surprise_p']:.2g} | "
              f"{other:+.3f} | {int(planted['seeds_control_recovered'])}/3 |")


def eight_seeds() -> None:
    earlier = ("", "-seed1", "-seed2", "-seed3", "-seed4")
    print("\nthe world as drawn, seeds 0-7 (mean [95% t interval] (per seed)):")
    for emotion in EMOTIONS:
        values = drops(EARLIER, earlier, emotion) + drops(HERE / "base", SUFFIXES, emotion)
        print(f"  recall drop {emotion:9s} {_fmt(values)}")
    print(f"  AU14 probe F1 drop    {_fmt(probe_drops(EARLIER, earlier) + probe_drops(HERE / 'base', SUFFIXES))}")


if __name__ == "__main__":
    world_table()
    eight_seeds()
