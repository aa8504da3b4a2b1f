"""How often each instrument finds the AU lesion and flags a sham, and at what dose it starts to.

Not a speed bench: an instrument-rate bench on a trained study (stages/controls.py does one seed
and `controls.draws` draws of what this repeats). For each training seed of the study's params:

- the AU lesion at controls.rank (controls.au, AU14 by default): manipulation check and the
  three instruments' verdicts;
- `--draws` random shams of the same rank and variance, each drawn afresh: each instrument's
  false-positive rate;
- `--draws` FreezeB5 against FreezeB5' pairs (output layers retrained under seed + 1 + d):
  Holm-significant emotions under training noise alone;
- the dose-response: the projection at each of `--ranks`, or the unlearned lesion
  (controls.lesion unlearn) at each of `--weights` (controls.erase_weight), the last block's
  sensitivity to the AU it cuts, and which instruments detect it; each instrument's detection
  threshold is the least cut from which on it passes, printed next to FreezeB0's own measured cut;
- the cross-target lesion (`--cross-au`, AU26: surprise, mouth_jaw).

    python bench/bench_controls.py --project DIR [--draws 20] [--ranks 1,2,4,8]
        [--weights 0.05,0.1,0.2,0.4] [--cross-au 26] [--only 1,2] [--params FILE]
    python bench/bench_controls.py --project DIR --weights '' --ranks '' --cross-au 0  # rates
    python bench/bench_controls.py --smoke     # a micro study trained here, 1 seed, 2 draws

DIR holds a study (params.yaml and its MLflow store) after `auforget main`; every seed of its
study.seeds needs its FreezeB5 retrain (and FreezeB0's for the threshold's comparison).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from auforget.analysis import erasure
from auforget.analysis import instrument_checks as checks
from auforget.core.config import Params, load_params
from auforget.data.face_pairs import drawn_aus
from auforget.nn import lesion
from auforget.stages import controls, forgetting
from auforget.stages.main import seed_params
from auforget.tracking import connection, registry

INSTRUMENTS = ("recall", "maps", "probe")


def setup_for(params: Params, seed: int, au: int) -> tuple[controls.Setup, str]:
    p = seed_params(params, seed).with_overrides("controls", au=au)
    sx = registry.seed_suffix(seed, params.study.seeds)
    alias = registry.freeze_alias(5) + sx
    version = registry.resolve_alias(registry.RETRAIN_MODEL, alias, hint="train the study first")
    b5, _ = registry.load_model(registry.RETRAIN_MODEL, alias, hint="", profile=p.model.profile)
    reference = forgetting.load_predictions({"b5": version}, Path(f"downloads-{seed}"))["b5"]
    return controls.prepare(p, b5.eval(), reference, progress=False), sx


def dosed(setup: controls.Setup, dose: float) -> tuple[controls.Setup, int | None]:
    """The setup and rank of one dose: a rank of the projection, or the unlearned lesion's
    erase_weight (it has no rank to set)."""
    if setup.params.controls.lesion == "unlearn":
        params = setup.params.with_overrides("controls", erase_weight=dose)
        return replace(setup, params=params), None
    return setup, int(dose)


def lesion_row(setup: controls.Setup, rank: int | None, aus, dose: float | None = None) -> dict:
    """Manipulation figures and the three lesion verdicts at one rank (None: controls.rank)."""
    cfg = setup.params.controls
    directions, lesioned = controls.au_lesion(setup, rank)
    before = lesion.sensitivity(setup.b5, setup.check_pairs, drawn_aus())
    after = lesion.sensitivity(lesioned, setup.check_pairs, drawn_aus())
    change = erasure.sensitivity_change(before, after)
    found = controls.instruments(setup, lesioned, aus, setup.params.retrain.seed, "lesion")
    emotion, region = checks.target_emotion(cfg.au), lesion.region_of(cfg.au)
    flags = {
        **checks.lesion_recall(found.recall, emotion),
        **checks.lesion_maps(found.ranking, region),
        **checks.lesion_probe(found.probes, cfg.au),
    }
    return {
        "rank": directions.rank,
        "dose": f"r={rank}" if dose is None else f"weight={dose:g}",
        "cut": -change[cfg.au],
        "others": max(abs(v) for a, v in change.items() if a != cfg.au),
        "manipulation": float(
            -change[cfg.au] >= checks.LESION_CUT
            and max(abs(v) for a, v in change.items() if a != cfg.au) <= checks.OTHER_CHANGE
        ),
        **{i: flags[f"lesion_{i}_pass"] for i in INSTRUMENTS},
    }


def negative_rows(setup: controls.Setup, draws: int) -> list[dict]:
    """Each draw's sham: its manipulation figures and whether each instrument flagged it."""
    cfg = setup.params.controls
    directions, lesioned = controls.au_lesion(setup)
    cov = controls.activation_covariance(setup)
    rows = []
    for d in range(draws):
        Q, sham = controls.sham_lesion(setup, directions, cov, d)
        figures, _ = controls.manipulation_check(
            setup,
            lesioned,
            sham,
            (erasure.lesion_variance(directions, cov), erasure.removed_variance(Q, cov)),
        )
        found = controls.instruments(
            setup, sham, (cfg.au,), setup.params.retrain.seed, f"negative{d}"
        )
        region = lesion.region_of(cfg.au)
        flags = {
            **checks.negative_recall(found.recall),
            **checks.negative_maps(found.ranking, region),
            **checks.negative_probe(*found.probes[cfg.au]),
        }
        rows.append(
            {
                "draw": d,
                "valid": figures["negative_manipulation_pass"],
                "cut": figures["negative_sensitivity_cut"],
                **{i: 1.0 - flags[f"negative_{i}_pass"] for i in INSTRUMENTS},  # 1 = flagged
            }
        )
    return rows


def sham_pairs(setup: controls.Setup, draws: int) -> list[list[str]]:
    """The Holm-significant emotions of FreezeB5' (seed + 1 + d) against FreezeB5, per pair."""
    return [checks.significant_emotions(t) for t in controls.freezeb5_prime_recalls(setup, draws)]


def threshold(rows: list[dict], instrument: str) -> float:
    """The least sensitivity cut from which on (in increasing cut) the instrument passes; NaN when
    it never does."""
    ordered = sorted(rows, key=lambda r: r["cut"])
    for i, row in enumerate(ordered):
        if all(r[instrument] == 1.0 for r in ordered[i:]):
            return row["cut"]
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, help="a folder with a trained study")
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument(
        "--ranks", default="1,2,4,8", help="doses of the projection ('': no dose-response)"
    )
    parser.add_argument(
        "--weights",
        default="0.05,0.1,0.2,0.4",
        help="doses of the unlearned lesion (erase_weight; '': no dose-response)",
    )
    parser.add_argument("--cross-au", type=int, default=26, help="0: no cross-target lesion")
    parser.add_argument("--seeds", type=int, default=0, help="first N of study.seeds (0 = all)")
    parser.add_argument(
        "--only",
        default="",
        help="these of study.seeds, comma-separated (a bench too long for one sitting runs its "
        "seeds in parts; each part prints its own counts, which add up)",
    )
    parser.add_argument(
        "--params",
        default="params.yaml",
        help="the study's params file in DIR (an experiment's merged override, e.g. another LRP "
        "composite; the models are the study's, whatever the file says of training)",
    )
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    started = time.monotonic()
    if args.smoke:
        args.project = smoke_study(Path("bench-controls-smoke").resolve())
        args.draws, args.ranks, args.weights = 2, "1,2", "0.1,0.4"
    if args.project is None:
        parser.error("--project DIR (a trained study) or --smoke")
    os.chdir(args.project)
    params = load_params(args.params)
    if args.smoke:
        params = params.with_overrides("controls", n_pairs=3, probe_seeds=2, max_images=4)
        params = params.with_overrides("retrain", heads=1)
    connection.configure(params.tracking)
    seeds = params.study.seeds[: args.seeds or None]
    if args.only:
        try:
            wanted = [int(x) for x in args.only.split(",") if x.strip()]
        except ValueError:
            parser.error(f"--only {args.only}: expected seeds separated by commas, e.g. 1,2")
        unknown = sorted(set(wanted) - set(seeds))
        if unknown or not wanted:
            parser.error(f"--only {args.only}: {unknown} not among the seeds {list(seeds)}")
        seeds = [s for s in seeds if s in wanted]
    unlearn = params.controls.lesion == "unlearn"
    # an empty --weights/--ranks and --cross-au 0 leave those parts out: the rates alone
    doses = [float(d) for d in (args.weights if unlearn else args.ranks).split(",") if d.strip()]
    per_seed = {}
    for seed in seeds:
        setup, sx = setup_for(params, seed, params.controls.au)
        aus = controls.probed_aus(setup.params, params.controls.au)
        show = Reporter(seed, params.controls.au, args.cross_au)
        main_row = show.lesion(lesion_row(setup, None, aus))
        negatives = show.negatives(negative_rows(setup, args.draws))
        pairs = show.pairs(sham_pairs(setup, args.draws))
        dose = [show.dose(lesion_row(*dosed(setup, d), aus, d if unlearn else None)) for d in doses]
        b0 = cross = None
        if dose:
            au = params.controls.au
            before = lesion.sensitivity(setup.b5, setup.check_pairs, [au])[au]
            b0 = show.threshold(dose, controls.b0_sensitivity_cut(setup, sx, before))
        if args.cross_au:
            cross_setup, _ = setup_for(params, seed, args.cross_au)
            cross = show.cross(
                lesion_row(
                    cross_setup, None, controls.probed_aus(cross_setup.params, args.cross_au)
                )
            )
        per_seed[seed] = (main_row, negatives, pairs, dose, b0, cross)
    report_rates(per_seed, args.draws)
    print(f"bench_controls: {time.monotonic() - started:.0f} s")


def _flags(row: dict) -> str:
    return " ".join(f"{i} {'pass' if row[i] else 'fail'}" for i in INSTRUMENTS)


class Reporter:
    """One seed's lines, printed as each part is measured (a part can take minutes)."""

    def __init__(self, seed: int, au: int, cross_au: int):
        self.seed, self.au, self.cross_au = seed, au, cross_au

    def lesion(self, row: dict) -> dict:
        print(
            f"seed {self.seed} AU{self.au} lesion rank {row['rank']}: sensitivity cut "
            f"{row['cut']:.2f}, others max {row['others']:.2f}, manipulation "
            f"{'pass' if row['manipulation'] else 'FAIL (void)'}; {_flags(row)}",
            flush=True,
        )
        return row

    def negatives(self, rows: list[dict]) -> list[dict]:
        valid = [n for n in rows if n["valid"]]
        print(
            f"seed {self.seed} negatives: {len(valid)} of {len(rows)} valid; flagged "
            + " ".join(f"{i} {sum(n[i] for n in valid):.0f}/{len(valid)}" for i in INSTRUMENTS),
            flush=True,
        )
        return rows

    def pairs(self, pairs: list[list[str]]) -> list[int]:
        counts = [len(p) for p in pairs]
        named = ", ".join(f"pair {d}: {' '.join(p)}" for d, p in enumerate(pairs) if p)
        print(
            f"seed {self.seed} FreezeB5 vs FreezeB5': Holm-significant emotions per pair {counts}; "
            f"pairs with any {sum(c > 0 for c in counts)}/{len(counts)}"
            + (f" ({named})" if named else ""),
            flush=True,
        )
        return counts

    def dose(self, row: dict) -> dict:
        print(
            f"dose {row['dose']} (rank {row['rank']}): cut {row['cut']:.2f} "
            f"others {row['others']:.2f} {_flags(row)}",
            flush=True,
        )
        return row

    def threshold(self, dose: list[dict], b0: float) -> float:
        print(
            "threshold (sensitivity cut): "
            + " ".join(f"{i} {threshold(dose, i):.2f}" for i in INSTRUMENTS)
            + f"; FreezeB0's own cut {b0:.2f}",
            flush=True,
        )
        return b0

    def cross(self, row: dict) -> dict:
        print(
            f"cross-target AU{self.cross_au} rank {row['rank']}: cut {row['cut']:.2f} others "
            f"{row['others']:.2f} manipulation {'pass' if row['manipulation'] else 'FAIL'}; "
            f"{_flags(row)}",
            flush=True,
        )
        return row


def report_rates(per_seed, draws) -> None:
    n = len(per_seed)
    for i in INSTRUMENTS:
        found = sum(v[0][i] for v in per_seed.values() if v[0]["manipulation"])
        valid = sum(1 for v in per_seed.values() if v[0]["manipulation"])
        flagged = [n_[i] for v in per_seed.values() for n_ in v[1] if n_["valid"]]
        print(
            f"rate {i}: lesion found in {found:.0f} of {valid} valid seeds (of {n}); "
            f"false positives {sum(flagged):.0f} of {len(flagged)} valid draws"
        )
    total = [p for v in per_seed.values() for p in v[2]]
    print(f"rate sham: {sum(total)} Holm-significant emotions in {len(total)} FreezeB5' pairs")


def smoke_study(folder: Path) -> Path:
    """A micro study (synth, prepare, emotion, FreezeB5's transfer and retrain, one epoch each)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.project import MICRO_PARAMS, copy_project

    if not (folder / "params.yaml").exists():
        copy_project(folder, MICRO_PARAMS)
    here = Path.cwd()
    os.chdir(folder)
    from auforget.stages.emotion import run_emotion
    from auforget.stages.prepare import run_prepare
    from auforget.stages.retrain import run_retrain
    from auforget.stages.synth import run_synth
    from auforget.stages.transfer import run_transfer

    p = load_params("params.yaml")
    run_synth(p, progress=False)
    run_prepare(p, progress=False)
    run_emotion(p, progress=False, reuse=True)
    run_transfer(p.with_overrides("transfer", freeze=5), progress=False, reuse=True)
    run_retrain(p.with_overrides("retrain", freeze=5, heads=1), progress=False, reuse=True)
    os.chdir(here)
    return folder


if __name__ == "__main__":
    main()
