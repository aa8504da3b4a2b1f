"""`controls`: the instruments against losses made by construction (synthetic data).

The study's instruments -- the retrain with McNemar (`forgetting`), the LRP difference maps'
region ranking (`saliency`), the linear probes (`probes`) -- are trusted only if they find a loss
we made ourselves and find nothing in a sham (docs/controls.md):

1. the lesion: a copy of FreezeB5 with one AU (controls.au, AU14 by default) erased, either at
   block controls.block's output (controls.lesion projection: the AU's difference directions
   inside its facial region, with the directions of the AUs sharing the region kept;
   analysis/erasure.py), folded into the next block's first convolution (nn/lesion.py), or by
   retraining blocks controls.block.. against the same faces at rest (controls.lesion unlearn:
   nn/lesion.unlearn); either way an ordinary model;
2. the shams: a random subspace of the same rank removing the same activation variance (within
   controls.variance_tolerance), drawn afresh for each draw from (controls.seed, draw), at the
   projection's block, or at the last block's output for the unlearned lesion (its rank and
   variance are those of what it changes there); and FreezeB5 with its output layers retrained
   under another seed, once per draw (McNemar under training noise, counted over the pairs);
3. the manipulation check, first, on face pairs rendered afresh (other people than those the
   lesion was fitted on), without the instruments: last-block sensitivity to each drawn AU;
4. the instruments on the lesioned copies, with the study's own functions: the retrain recipe of
   FreezeB5 (same data, loss, heads and seed) on the lesioned blocks, McNemar and Holm as
   `forgetting` computes them, difference maps and region ranking as `saliency` computes them,
   the probes as `probes` fits them, for every probed AU that has positives in the CK+ peaks.

The verdicts (analysis/instrument_checks.py) go to metrics/controls.json and the run
`controls`; a control whose manipulation failed is void and its flags are left out.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import torch

from auforget.analysis import erasure
from auforget.analysis import instrument_checks as checks
from auforget.analysis.linear_probes import au_labels, compare_probes
from auforget.analysis.metrics import write_metrics_json
from auforget.core import artifacts
from auforget.core.config import Params, flat
from auforget.core.identity import fingerprint, manifest_digest
from auforget.data.face_pairs import FacePairs, drawn_aus, render_pairs
from auforget.data.images import ManifestImages, preset
from auforget.nn import lesion
from auforget.nn.backbones import N_BLOCKS, VGG16Blocks
from auforget.nn.training import pick_device
from auforget.stages import forgetting, saliency
from auforget.stages.probes import ckplus_manifest, conv_features
from auforget.tracking import connection, registry, stage_runs
from auforget.workflow import fitting
from auforget.workflow.recipes import Recipe, retrain_recipe

log = logging.getLogger(__name__)

CHECK_SEED_OFFSET = 10_000  # the manipulation check's pairs: other people than the fitted ones
# the flat eraser's covariance and bases are D x D float64 (D = C * s * s): 16,384 is 2 GiB each
FLAT_MAX = 16_384
SHAM_SEED_OFFSET = 1  # FreezeB5' of draw d: output layers retrained under retrain.seed + this + d
LESION, NEGATIVE, SHAM = "lesion", "negative", "sham"


@dataclass
class Setup:
    """What every control of one FreezeB5 shares: the model, its retrain recipe and test
    predictions, its probe features and the face pairs."""

    params: Params
    b5: VGG16Blocks  # the registered retrained FreezeB5 (blocks and head)
    recipe: Recipe
    reference: pd.DataFrame  # FreezeB5's test predictions, indexed by sample_id
    ckplus: dict[str, pd.DataFrame]  # variant -> CK+ peak manifest
    features_b5: dict[str, np.ndarray]  # variant -> FreezeB5's last-block features
    fit_pairs: FacePairs
    check_pairs: FacePairs
    device: torch.device
    progress: bool = False


@dataclass
class Instruments:
    """What the instruments read on one lesioned copy."""

    recall: pd.DataFrame  # instrument_checks.recall_figures
    ranking: pd.DataFrame | None  # the target emotion's region ranking (None: no maps)
    probes: dict[int, tuple[float, float]]  # AU -> (F1 drop B5 - copy, corrected p)


def probed_aus(params: Params, au: int) -> tuple[int, ...]:
    """The lesioned AU first, then every other drawn AU both classes of which fill the probes'
    folds in the CK+ peaks."""
    found = []
    for a in drawn_aus():
        manifest, _ = ckplus_manifest(params, a)
        labels = au_labels(manifest["aus"], a)
        if min(labels.sum(), len(labels) - labels.sum()) >= params.probes.folds:
            found.append(a)
    if au not in found:
        raise ValueError(
            f"controls.au={au}: the CK+ peaks hold too few faces with and without AU{au} for "
            f"{params.probes.folds}-fold probes"
        )
    return (au, *(a for a in found if a != au))


def prepare(
    params: Params,
    b5: VGG16Blocks,
    reference: pd.DataFrame,
    progress: bool,
    recipe: Recipe | None = None,
) -> Setup:
    """The shared part of the controls for one FreezeB5 (see Setup); `recipe` is FreezeB5's
    retrain recipe when the caller has it already."""
    cfg = params.controls
    size = b5.profile.image_size
    fitted = drawn_aus() if cfg.lesion == "unlearn" else (cfg.au, *protected_aus(cfg))
    ckplus = {}
    for a in drawn_aus():
        manifest, variant = ckplus_manifest(params, a)
        ckplus.setdefault(variant, manifest)
    features = {
        variant: conv_features(
            b5, _ckplus_images(params, m), progress=progress, desc=f"controls b5 {variant}"
        )
        for variant, m in ckplus.items()
    }
    return Setup(
        params,
        b5,
        recipe or retrain_recipe(params.with_overrides("retrain", freeze=N_BLOCKS)),
        reference,
        ckplus,
        features,
        render_pairs(fitted, cfg.n_pairs, size, cfg.seed, params.synth.au14_inward),
        render_pairs(
            drawn_aus(),
            cfg.n_pairs,
            size,
            cfg.seed + CHECK_SEED_OFFSET,
            params.synth.au14_inward,
        ),
        pick_device(),
        progress,
    )


def _ckplus_images(params: Params, manifest: pd.DataFrame) -> ManifestImages:
    from auforget.core.profiles import get_profile

    size = get_profile(params.model.profile).image_size
    return ManifestImages(manifest, params.data.ckplus_root, preset("eval", size))


def protected_aus(cfg) -> tuple[int, ...]:
    """The AUs whose directions are kept out of U (controls.protect): those sharing the lesioned
    AU's region, or every other drawn AU."""
    if cfg.protect == "drawn":
        return tuple(a for a in drawn_aus() if a != cfg.au)
    return lesion.sharing_aus(cfg.au)


def au_lesion(setup: Setup, rank: int | None = None) -> tuple[erasure.Directions, VGG16Blocks]:
    """U for controls.au at controls.block (rank: controls.rank unless given; 0 = energy rule) and
    FreezeB5 with I - UU^T applied there (erased). A protected AU's differences are read inside
    its own region (the lesioned AU's, for those that share it), or over the whole map with
    controls.eraser flat. With controls.lesion unlearn: FreezeB5 with
    blocks controls.block.. retrained (unlearned_lesion); `rank` does not apply there."""
    cfg = setup.params.controls
    if cfg.lesion == "unlearn":
        if rank is not None:
            raise ValueError("controls.lesion unlearn has no rank to set: it retrains a block")
        return unlearned_lesion(setup)
    differences = lesion.region_differences
    if cfg.eraser == "flat":
        size = lesion.block_output(setup.b5, setup.fit_pairs.rest[:1], cfg.block)[0].numel()
        if size > FLAT_MAX:
            raise ValueError(
                f"controls.eraser flat: block {cfg.block}'s map has {size:,} values, more than the "
                f"{FLAT_MAX:,} whose covariance the flat eraser can hold; expected a later block, "
                f"a smaller network, or controls.eraser channel"
            )
        differences = lesion.flat_differences
    target = differences(setup.b5, setup.fit_pairs, cfg.au, cfg.block)
    shared = [differences(setup.b5, setup.fit_pairs, a, cfg.block) for a in protected_aus(cfg)]
    directions = erasure.au_directions(
        target,
        shared,
        energy=cfg.energy,
        rank=cfg.rank if rank is None else rank,
        shared_energy=cfg.shared_energy,
    )
    return directions, erased(setup, directions.U)


def unlearned_lesion(setup: Setup) -> tuple[erasure.Directions, VGG16Blocks]:
    """FreezeB5 with blocks controls.block.. retrained to give the fit pairs' faces showing
    controls.au what the same faces at rest give (nn/lesion.unlearn), and its description at the
    last block's output: U, the fewest principal directions holding controls.energy of the
    variance of what it changes there over the fit faces; `variance`, that variance (what its
    sham must remove); raw_energy, the share of the AU's difference energy there it erased."""
    cfg = setup.params.controls
    lesioned = lesion.unlearn(
        setup.b5,
        setup.fit_pairs,
        cfg.au,
        cfg.block,
        steps=cfg.steps,
        lr=cfg.lr,
        erase_weight=cfg.erase_weight,
        keep_tolerance=cfg.keep_tolerance,
        device=setup.device,
    )
    change = lesion.readout_change(setup.b5, lesioned, fit_images(setup))
    centred = change - change.mean(axis=0)
    U, held = erasure.top_directions(centred, energy=cfg.energy)  # controls.rank: projection's
    before = lesion.sensitivity(setup.b5, setup.fit_pairs, [cfg.au], squared=True)[cfg.au]
    after = lesion.sensitivity(lesioned, setup.fit_pairs, [cfg.au], squared=True)[cfg.au]
    variance = float(np.sum(centred**2) / max(len(centred) - 1, 1))
    directions = erasure.Directions(
        U, held, 1.0 - after / before, np.zeros((U.shape[0], 0)), variance
    )
    return directions, lesioned


def fit_images(setup: Setup) -> torch.Tensor:
    """Every face of the fit pairs, at rest and showing each AU."""
    return torch.cat([setup.fit_pairs.rest, *setup.fit_pairs.shown.values()])


def erased(setup: Setup, U: np.ndarray) -> VGG16Blocks:
    """FreezeB5 with span(U) erased at block controls.block's output: folded into the next
    convolution (controls.eraser channel), at the AU region's cells only (region), or from the
    whole flattened map (flat). With controls.lesion unlearn (the sham of a retrained block): at
    the last block's output, over every cell, where the unlearned lesion's change was measured."""
    block = setup.params.controls.block
    if setup.params.controls.lesion == "unlearn":
        grid = lesion.last_block(setup.b5, setup.fit_pairs.rest[:1]).shape[-1]
        return lesion.insert_region_eraser(
            setup.b5, N_BLOCKS - 1, U, np.ones((grid, grid), np.float32)
        )
    if setup.params.controls.eraser == "region":
        return lesion.insert_region_eraser(setup.b5, block, U, region_mask(setup))
    if setup.params.controls.eraser == "flat":
        return lesion.insert_eraser(setup.b5, block, lesion.FlatEraser(U))
    if block == N_BLOCKS - 1:  # no convolution after the last block to fold into: every cell
        return lesion.insert_region_eraser(setup.b5, block, U, np.ones_like(region_mask(setup)))
    return lesion.fold_projection(setup.b5, block, erasure.projector(U))


def region_mask(setup: Setup) -> np.ndarray:
    """The lesioned AU's region on block controls.block's output grid, as the fit pairs' faces
    place it (lesion.template_mask)."""
    cfg = setup.params.controls
    grid = lesion.block_output(setup.b5, setup.fit_pairs.rest[:1], cfg.block).shape[-1]
    return lesion.template_mask(setup.fit_pairs, grid, lesion.region_of(cfg.au))


def activation_covariance(setup: Setup) -> np.ndarray:
    """Block controls.block's channel covariance over the fitted pairs' faces (rest and shown):
    over every cell, or over the region's cells for the region eraser, or of the whole flattened
    map for the flat one (the variance the sham must match is the variance the eraser can
    remove); the last block's, for the unlearned lesion."""
    images = fit_images(setup)
    block = setup.params.controls.block
    if setup.params.controls.lesion == "unlearn":
        return lesion.activation_covariance(setup.b5, images, N_BLOCKS - 1)
    if setup.params.controls.eraser == "region":
        return lesion.masked_covariance(setup.b5, images, block, region_mask(setup))
    if setup.params.controls.eraser == "flat":
        return lesion.flat_covariance(setup.b5, images, block)
    return lesion.activation_covariance(setup.b5, images, block)


def sham_lesion(
    setup: Setup, directions: erasure.Directions, cov: np.ndarray, draw: int
) -> tuple[np.ndarray, VGG16Blocks]:
    """A random subspace of U's rank removing the lesion's activation variance, drawn from (seed,
    draw), folded in like the lesion (erased).

    The unlearned lesion's change is spread thin: U needs many directions to hold
    controls.energy of it, and a random subspace of that rank may remove more variance than the
    whole change at the least. Its sham then takes the highest rank below U's that can remove
    the same variance (the rank is Q's column count, logged as negative_rank): the variance is
    what the sham must match, the rank only describes the lesion."""
    cfg = setup.params.controls
    target = erasure.lesion_variance(directions, cov)
    ranks = range(directions.rank, 0, -1) if cfg.lesion == "unlearn" else [directions.rank]
    for rank in ranks:
        try:
            Q = erasure.matched_random_subspace(
                cov,
                rank,
                target,
                np.random.default_rng([cfg.seed, draw]),
                tolerance=cfg.variance_tolerance,
            )
            break
        except ValueError:
            if rank == ranks[-1]:
                raise
    return Q, erased(setup, Q)


def manipulation_check(
    setup: Setup,
    lesioned: VGG16Blocks,
    sham: VGG16Blocks,
    variance: tuple[float, float],
) -> tuple[dict[str, float], pd.DataFrame]:
    """instrument_checks.manipulation on the check pairs, and the per-AU sensitivities."""
    aus = drawn_aus()
    before = lesion.sensitivity(setup.b5, setup.check_pairs, aus)
    after = lesion.sensitivity(lesioned, setup.check_pairs, aus)
    after_sham = lesion.sensitivity(sham, setup.check_pairs, aus)
    cfg = setup.params.controls
    figures = checks.manipulation(
        cfg.au, before, after, after_sham, variance, cfg.variance_tolerance
    )
    table = pd.DataFrame(
        {"au": list(aus), "b5": [before[a] for a in aus], LESION: [after[a] for a in aus]}
    )
    table[NEGATIVE] = [after_sham[a] for a in aus]
    return figures, table


def retrained(setup: Setup, blocks: VGG16Blocks, seed: int, desc: str) -> VGG16Blocks:
    """`blocks` (a FreezeB5 copy) with new emotion output layers trained by FreezeB5's retrain
    recipe under `seed`: what the `retrain` stage would make of it."""
    return fitting.retrained_output_layers(
        blocks,
        setup.recipe,
        seed,
        device=setup.device,
        progress=setup.progress,
        desc=f"controls {desc}",
    )


def test_predictions(setup: Setup, model: VGG16Blocks) -> pd.DataFrame:
    """The model's predictions on the emotion test split, as predictions.csv holds them."""
    recipe = setup.recipe
    return fitting.test_predictions(model, recipe.data, recipe.batch_size, setup.device)


def recall_check(setup: Setup, predictions: pd.DataFrame) -> pd.DataFrame:
    """Recalls and McNemar (Holm across emotions) of a control against FreezeB5, as `forgetting`
    computes them."""
    tables = {"b5": setup.reference, "control": predictions}
    recalls = forgetting.recall_table(tables)
    tests = forgetting.mcnemar_rows(
        tables, [("control", "b5")], setup.params.forgetting.exact_below
    )
    return checks.recall_figures(recalls, tests, "control")


def maps_check(setup: Setup, model: VGG16Blocks, predictions: pd.DataFrame) -> pd.DataFrame | None:
    """The target emotion's region ranking of FreezeB5 - control difference maps, as `saliency`
    computes it (images FreezeB5 gets right and the control wrong)."""
    params, cfg = setup.params, setup.params.controls
    emotion = checks.target_emotion(cfg.au)
    data = setup.recipe.data
    test = data.splits["test"].reset_index(drop=True)
    chosen = {
        emotion: saliency.select(
            test, setup.reference, predictions, emotion, cfg.max_images, params.saliency.seed
        )
    }
    maps = saliency.all_maps(
        chosen,
        data,
        setup.b5.eval(),
        model.eval(),
        torch.device("cpu"),
        desc="controls maps",
        progress=False,
        difference=params.saliency.difference,
        composite=params.saliency.composite,
    )[0]
    keep = maps.has_landmarks
    if not keep.any():
        return None
    beyond = params.saliency.ranking == "beyond_b5"
    return saliency.ranking(
        maps.diff[keep],
        maps.landmarks[keep],
        emotion,
        params.saliency.seed,
        maps.b5[keep] if beyond else None,
    )


def probe_check(
    setup: Setup, model: VGG16Blocks, aus: tuple[int, ...]
) -> dict[int, tuple[float, float]]:
    """Per AU: (probe F1 of FreezeB5 minus the control's, corrected resampled p), the probes fitted
    as `probes` fits them, on the same folds."""
    params = setup.params
    features = {
        variant: conv_features(model, _ckplus_images(params, m), progress=False, desc="controls")
        for variant, m in setup.ckplus.items()
    }
    out = {}
    for a in aus:
        manifest, variant = ckplus_manifest(params, a)
        result = compare_probes(
            setup.features_b5[variant],
            features[variant],
            au_labels(manifest["aus"], a),
            seeds=params.controls.probe_seeds,
            folds=params.probes.folds,
            C=params.probes.C,
            seed=params.probes.seed,
            concept=f"AU{a}",
        )
        s = result.summary()
        out[a] = (s["f1_b5_mean"] - s["f1_bk_mean"], s["p_corrected"])
    return out


def instruments(
    setup: Setup, blocks: VGG16Blocks, aus: tuple[int, ...], seed: int, desc: str
) -> Instruments:
    """The three instruments on one lesioned copy of FreezeB5."""
    model = retrained(setup, blocks, seed, desc)
    predictions = test_predictions(setup, model)
    return Instruments(
        recall_check(setup, predictions),
        maps_check(setup, model, predictions),
        probe_check(setup, blocks, aus),
    )


def verdicts(
    au: int, lesioned: Instruments, negatives: list[Instruments], shams: list[pd.DataFrame]
) -> dict[str, float]:
    """Flags and figures of the instruments (before voiding). With several negative draws a sham
    flag passes when at most 1 in 20 draws is flagged (the bench's false-positive rule). `shams`:
    one recall table per FreezeB5' pair; their Holm-significant emotions are counted together,
    for the report's budget of 1 in 20 pairs (instrument_checks.mcnemar_withdrawn)."""
    emotion, region = checks.target_emotion(au), lesion.region_of(au)
    out = {
        **checks.lesion_recall(lesioned.recall, emotion),
        **checks.lesion_maps(lesioned.ranking, region),
        **checks.lesion_probe(lesioned.probes, au),
    }
    per_draw = [
        {
            **checks.negative_recall(n.recall),
            **checks.negative_maps(n.ranking, region),
            **checks.negative_probe(*n.probes[au]),
        }
        for n in negatives
    ]
    for name in per_draw[0]:
        values = [d[name] for d in per_draw]
        if name.endswith("_pass"):
            out[name] = float(1.0 - np.mean(values) <= 1 / 20)
            out[name.replace("_pass", "_false_positive_rate")] = float(1.0 - np.mean(values))
        else:
            out[name] = float(values[0])
    pairs = [checks.negative_recall(t, SHAM) for t in shams]
    out[checks.SHAM_N_SIGNIFICANT] = float(sum(p[checks.SHAM_N_SIGNIFICANT] for p in pairs))
    out[f"{SHAM}_recall_min_p_holm"] = float(
        pd.Series([p[f"{SHAM}_recall_min_p_holm"] for p in pairs]).min()
    )
    out[checks.NEGATIVE_DRAWS] = float(len(negatives))
    return out


def freezeb5_prime_recalls(setup: Setup, draws: int) -> list[pd.DataFrame]:
    """FreezeB5 against FreezeB5' (output layers retrained under retrain.seed + SHAM_SEED_OFFSET
    + d), one recall table per pair d: the differences training noise alone makes, on which
    McNemar's budget (1 in 20 pairs) is counted; the step and bench/bench_controls.py share it."""
    seed = setup.params.retrain.seed
    return [
        recall_check(
            setup,
            test_predictions(
                setup, retrained(setup, setup.b5, seed + SHAM_SEED_OFFSET + d, _sham_name(d))
            ),
        )
        for d in range(draws)
    ]


def _sham_name(draw: int) -> str:
    """FreezeB5' of pair `draw`: "sham", then "sham1", "sham2", ..."""
    return f"{SHAM}{draw}" if draw else SHAM


def _hint(i: int) -> str:
    return f"run `auforget retrain --freeze {i}` (or `auforget main`) first"


def b0_sensitivity_cut(setup: Setup, sx: str, before: float) -> float:
    """FreezeB0's own loss of last-block sensitivity to controls.au against FreezeB5's `before`
    (NaN without a FreezeB0): the scale on which the lesion's detection thresholds read."""
    try:
        b0, _ = registry.load_model(
            registry.RETRAIN_MODEL,
            registry.freeze_alias(0) + sx,
            hint=_hint(0),
            profile=setup.params.model.profile,
        )
    except (ValueError, LookupError, mlflow.exceptions.MlflowException):
        return float("nan")
    au = setup.params.controls.au
    return 1.0 - lesion.sensitivity(b0, setup.check_pairs, [au])[au] / before


def run_controls(params: Params, *, progress: bool = True, reuse: bool = False) -> dict[str, float]:
    """The instrument checks of one FreezeB5 (retrain.seed's); returns the flags and figures."""
    cfg = params.controls
    connection.configure(params.tracking)
    sx = registry.seed_suffix(params.retrain.seed, params.study.seeds)
    alias = registry.freeze_alias(N_BLOCKS) + sx
    v5 = registry.resolve_alias(registry.RETRAIN_MODEL, alias, hint=_hint(N_BLOCKS))
    ckplus, _ = ckplus_manifest(params, cfg.au)
    recipe = retrain_recipe(params.with_overrides("retrain", freeze=N_BLOCKS))
    key = fingerprint(
        "controls",
        flat(cfg),
        params.synth.au14_pull,  # the face pairs' drawing of AU14
        flat(params.retrain),
        flat(params.emotion),
        flat(params.model),
        flat(params.probes),
        flat(params.saliency),
        flat(params.forgetting),
        manifest_digest(ckplus),
        recipe.data.files_digest(),
        v5.run_id,
        v5.version,
    )
    name = f"controls{sx}"
    if reuse and (done := stage_runs.find_finished_run(key)):
        metrics = stage_runs.reused(done, name)
        write_metrics_json(f"{checks.CONTROLS_JSON}{sx}", metrics, params.study.metrics_path)
        return metrics
    b5, _ = registry.load_model(
        registry.RETRAIN_MODEL, alias, hint=_hint(N_BLOCKS), profile=params.model.profile
    )
    tags = {
        "auforget.key": key,
        "seed": str(params.retrain.seed),
        "auforget.upstream_run.b5": v5.run_id,
    }
    with (
        stage_runs.stage_run(name, flat(cfg, "controls."), tags=tags),
        tempfile.TemporaryDirectory() as tmp,
    ):
        out = Path(tmp) / artifacts.CONTROLS_DIR
        out.mkdir()
        reference = forgetting.load_predictions({"b5": v5}, Path(tmp) / "downloads")["b5"]
        setup = prepare(params, b5.eval(), reference, progress, recipe)
        reason = ""
        try:
            metrics, tables = control_metrics(setup, sx)
        except LesionNotBuilt as e:
            metrics, tables, reason = checks.void(UNBUILT), {}, f"; the lesion was not built: {e}"
            log.warning("%s: the lesion was not built (%s): both controls are void", name, e)
        for file, table in tables.items():
            table.to_csv(out.parent / file, index=False)
        (out.parent / artifacts.CONTROLS_NOTES).write_text(notes(metrics, cfg.au) + reason + "\n")
        mlflow.log_metrics(metrics)
        mlflow.log_artifacts(str(out.parent))
    write_metrics_json(f"{checks.CONTROLS_JSON}{sx}", metrics, params.study.metrics_path)
    log.info("%s: %s", name, notes(metrics, cfg.au))
    return metrics


class LesionNotBuilt(ValueError):
    """The configured construction leaves no lesion or no matching sham on this FreezeB5 (e.g.
    controls.protect drawn with shared_energy 0.5 spans every channel): both controls are void,
    which the step records instead of failing."""


UNBUILT = {
    "manipulation_pass": 0.0,
    "lesion_manipulation_pass": 0.0,
    "negative_manipulation_pass": 0.0,
    "lesion_not_built": 1.0,
}


def control_metrics(setup: Setup, sx: str = "") -> tuple[dict[str, float], dict[str, pd.DataFrame]]:
    """Lesion, shams, manipulation check and instruments for one Setup: (metrics, tables by file
    name)."""
    params, cfg = setup.params, setup.params.controls
    try:
        directions, lesioned = au_lesion(setup)
        cov = activation_covariance(setup)
        shams = [sham_lesion(setup, directions, cov, d) for d in range(cfg.draws)]
    except ValueError as e:  # erasure's: nothing specific left to erase, or no matching sham
        raise LesionNotBuilt(str(e)) from e
    variance = (
        erasure.lesion_variance(directions, cov),
        erasure.removed_variance(shams[0][0], cov),
    )
    metrics, sensitivities = manipulation_check(setup, lesioned, shams[0][1], variance)
    metrics.update(
        {
            "lesion_rank": float(directions.rank),
            "lesion_energy": directions.energy,
            "lesion_raw_energy": directions.raw_energy,
            "lesion_shared_rank": float(directions.shared.shape[1]),
            "negative_rank": float(shams[0][0].shape[1]),
            # FreezeB5's sensitivity as the manipulation check measured it on the same pairs
            "b0_sensitivity_cut": b0_sensitivity_cut(
                setup, sx, float(sensitivities.set_index("au").loc[cfg.au, "b5"])
            ),
        }
    )
    aus = probed_aus(params, cfg.au)
    seed = params.retrain.seed
    found = instruments(setup, lesioned, aus, seed, LESION)
    negatives = [
        instruments(setup, m, (cfg.au,), seed, f"{NEGATIVE}{d}") for d, (_, m) in enumerate(shams)
    ]
    shams_b5 = freezeb5_prime_recalls(setup, cfg.draws)
    metrics.update(verdicts(cfg.au, found, negatives, shams_b5))
    metrics = checks.void(metrics)
    tables = {
        artifacts.CONTROLS_MANIPULATION_CSV: sensitivities,
        artifacts.CONTROLS_RECALL_CSV: pd.concat(
            [
                found.recall.assign(control=LESION),
                *(n.recall.assign(control=f"{NEGATIVE}{d}") for d, n in enumerate(negatives)),
                *(t.assign(control=_sham_name(d)) for d, t in enumerate(shams_b5)),
            ]
        ),
        artifacts.CONTROLS_PROBES_CSV: pd.DataFrame(
            [
                {"control": c, "au": a, "f1_drop": d, "p_corrected": p}
                for c, probes in [(LESION, found.probes)]
                + [(f"{NEGATIVE}{d}", n.probes) for d, n in enumerate(negatives)]
                for a, (d, p) in probes.items()
            ]
        ),
        artifacts.CONTROLS_RANKING_CSV: pd.concat(
            [
                r.assign(control=c)
                for c, r in [(LESION, found.ranking)]
                + [(f"{NEGATIVE}{d}", n.ranking) for d, n in enumerate(negatives)]
                if r is not None
            ]
            or [pd.DataFrame()]
        ),
    }
    return {k: float(v) for k, v in metrics.items()}, tables


def notes(metrics: dict[str, float], au: int) -> str:
    """One line per flag, `void` where the manipulation failed."""
    lines = []
    for flag in checks.FLAGS:
        side = flag.split("_")[0]
        if metrics.get(f"{side}_void") == 1.0 and flag != "manipulation_pass":
            lines.append(f"{flag}: void (the {side} control's manipulation check failed)")
        elif flag in metrics:
            lines.append(f"{flag}: {'pass' if metrics[flag] == 1.0 else 'FAIL'}")
    return f"AU{au} lesion and sham: " + "; ".join(lines)
