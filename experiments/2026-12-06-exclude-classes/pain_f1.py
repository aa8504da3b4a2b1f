"""Pain macro F1 of FreezeB5 and FreezeB0 per arm and seed, and the arms' differences paired by
seed with 95% t intervals and the minimum detectable difference at 80% power.

    python experiments/2026-12-06-exclude-classes/pain_f1.py OUT

OUT is run.sh's out folder: OUT/<arm>/transfer-b<i>[-seed<s>].json (the metrics files of each
arm's study). The first seed's files carry no -seed suffix.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from auforget.analysis.findings import mde
from auforget.analysis.stats import seed_interval

ARMS = ("all-8", "no-surprise-contempt", "no-happy-fear")
METRIC = "test_f1_macro"


def pain_f1(arm: Path, freeze: int) -> dict[int, float]:
    seeds = yaml.safe_load((arm / "params.yaml").read_text())["study"]["seeds"]
    out = {}
    for s in seeds:
        name = f"transfer-b{freeze}" + ("" if s == seeds[0] else f"-seed{s}")
        path = arm / f"{name}.json"
        if path.exists():
            out[s] = float(json.loads(path.read_text())[METRIC])
    return out


def main(out: Path) -> None:
    for freeze in (5, 0):
        by_arm = {arm: pain_f1(out / arm, freeze) for arm in ARMS if (out / arm).is_dir()}
        print(f"FreezeB{freeze}: pain macro F1 per seed")
        for arm, values in by_arm.items():
            ci = seed_interval(list(values.values()))
            print(
                f"  {arm:22s} "
                + " ".join(f"{values[s]:.3f}" for s in sorted(values))
                + f"  mean {ci.mean:.3f} [{ci.low:.3f}, {ci.high:.3f}]"
            )
        for a, b in (
            ("no-surprise-contempt", "all-8"),
            ("no-happy-fear", "all-8"),
            ("no-surprise-contempt", "no-happy-fear"),
        ):
            if a not in by_arm or b not in by_arm:
                continue
            seeds = sorted(set(by_arm[a]) & set(by_arm[b]))
            diffs = [by_arm[a][s] - by_arm[b][s] for s in seeds]
            ci = seed_interval(diffs)
            sd = float(__import__("numpy").std(diffs, ddof=1)) if len(diffs) > 1 else float("nan")
            print(
                f"  {a} - {b}: {ci.mean:+.3f} [{ci.low:+.3f}, {ci.high:+.3f}] over {len(seeds)} "
                f"paired seeds; MDE {mde(sd, len(diffs)):.3f}"
            )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
