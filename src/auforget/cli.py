"""The `auforget` command: one sub-command per MLproject entry point and dvc.yaml stage.

Every sub-command loads params.yaml, applies the options given (each option overrides the
field of the same name in the params.yaml section named after the stage; an empty value, as
MLproject passes for a parameter left out, means "keep params.yaml"), and calls
`auforget.stages.<stage>.run_<stage>(params)`.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import logging
import os
import signal
import sys
import typing
from pathlib import Path

from filelock import Timeout
from mlflow.exceptions import MlflowException

from auforget.core.config import Params, load_params
from auforget.workflow import executors

# stage -> (help, fields of the same-named params.yaml section exposed as options)
STAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "synth": (
        "write the built-in synthetic datasets in their native layouts",
        ("out", "scale", "seed"),
    ),
    "prepare": ("read the raw dataset roots and write the split manifests", ("seed",)),
    "emotion": (
        "train the base emotion model on AffectNet",
        (
            "seed",
            "epochs",
            "batch_size",
            "lr",
            "lr_schedule",
            "gamma",
            "beta",
            "patience",
            "max_train_images",
        ),
    ),
    "transfer": (
        "fine-tune pain model FreezeB<freeze> on UNBC",
        (
            "freeze",
            "seed",
            "epochs",
            "batch_size",
            "lr",
            "lr_schedule",
            "gamma",
            "patience",
            "cached_features",
            "augmented_views",
        ),
    ),
    "retrain": (
        "retrain emotion output layers on pain model <freeze> (the forgetting measure)",
        (
            "freeze",
            "seed",
            "epochs",
            "batch_size",
            "lr",
            "lr_schedule",
            "patience",
            "cached_features",
            "augmented_views",
            "max_train_images",
            "same_as_emotion",
            "heads",
        ),
    ),
    "forgetting": (
        "per-emotion recalls and McNemar tests between the retrained models",
        ("alpha", "exact_below"),
    ),
    "cka": (
        "debiased linear CKA of each block between the base emotion model and each pain model, "
        "and FreezeB0 given back each base block",
        ("batch_size", "max_images", "reset"),
    ),
    "saliency": (
        "LRP maps and B5-minus-Bk difference maps with AU ranking",
        ("k", "emotions", "max_images", "seed", "difference", "ranking", "composite"),
    ),
    "probes": (
        "linear SVM concept probes for an AU on CK+",
        ("k", "au", "concept", "seeds", "folds", "C", "seed"),
    ),
    "controls": (
        "instrument checks: erase an AU from a copy of FreezeB5 and a random sham (synthetic data)",
        (
            "au",
            "block",
            "rank",
            "energy",
            "shared_energy",
            "n_pairs",
            "seed",
            "draws",
            "variance_tolerance",
            "probe_seeds",
            "max_images",
        ),
    ),
    "promote": (
        "choose the best pain/emotion trade-off and alias it champion",
        ("emotions", "pain_weight", "min_pain_recall"),
    ),
    "tune": (
        "tune the focal-loss gamma with Optuna",
        ("n_trials", "stage", "freeze", "epochs", "tune_lr", "storage", "study_name", "seed"),
    ),
    "report": ("write the HTML study report", ("out",)),
    "compare": (
        "put the studies of several backbones side by side on one page",
        ("backbones", "out"),
    ),
    "main": ("run the whole study, reusing finished steps", ()),
}


# MLproject's default for every option: keep the value params.yaml gives (never logged as "").
FROM_PARAMS = "params.yaml"


def _option_help(params: Params | None, stage: str, name: str) -> str:
    """`overrides <stage>.<name>: params.yaml has X; valid: Y` (as far as params could be read)."""
    from auforget.core.config import VALID

    text = f"overrides {stage}.{name}"
    if params is not None and hasattr(params, stage):
        value = getattr(getattr(params, stage), name)
        shown = (
            ",".join(map(str, value))
            if isinstance(value, tuple)
            else str(value).lower()
            if isinstance(value, bool)
            else value
        )
        text += f": params.yaml has {shown if shown != '' else '(empty)'}"
        if isinstance(value, bool):
            text += "; valid: true | false"
    if valid := VALID.get(f"{stage}.{name}"):
        text += f"; valid: {valid}"
    return text.replace("%", "%%")


def _params_for_help(argv: list[str] | None) -> Params | None:
    """The parameters --params names, for the help text; None when they cannot be read (the
    command itself then reports why)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--params", default="params.yaml")
    known, _ = pre.parse_known_args(argv)
    try:
        return load_params(known.params) if Path(known.params).exists() else Params()
    except (ValueError, OSError):
        return None


def build_parser(params: Params | None = None) -> argparse.ArgumentParser:
    """The CLI; with `params`, each option's help shows its current value and valid range."""
    parser = argparse.ArgumentParser(prog="auforget", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--params", default="params.yaml", help="parameter file (default: params.yaml)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    # dest "command", not "stage": tune has its own --stage option (the stage it tunes).
    sub = parser.add_subparsers(dest="command", required=True, metavar="STAGE")
    for stage, (help_text, fields) in STAGES.items():
        p = sub.add_parser(stage, help=help_text, description=help_text)
        section = {f.name: f for f in dataclasses.fields(Params)}.get(stage)
        hints = typing.get_type_hints(section.default_factory) if section else {}
        for name in fields:
            kind = hints[name]
            meta = (
                "LIST"
                if typing.get_origin(kind) is tuple
                else getattr(kind, "__name__", "VALUE").upper()
            )
            p.add_argument(
                f"--{name.replace('_', '-')}",
                dest=name,
                default=None,
                metavar=meta,
                help=_option_help(params, stage, name),
            )
        if stage == "main":
            executors.add_arguments(p)
        if stage == "tune":
            p.add_argument(
                "--write-params",
                nargs="?",
                const="true",
                default="false",
                metavar="BOOL",
                help="write the best gamma (and lr when tuned) back into params.yaml",
            )
    return parser


def _on_sigterm(signum, frame) -> None:
    """SIGTERM (a scheduler's kill, `kill PID`): stop at the next batch with SystemExit, so the
    open MLflow runs close as FAILED and the last epoch checkpoint stays for a resume. A second
    SIGTERM leaves at once."""
    from auforget.nn.training import STOP_REQUESTED

    if STOP_REQUESTED.is_set():
        sys.exit(128 + signum)
    STOP_REQUESTED.set()


def main(argv: list[str] | None = None) -> int:
    args = build_parser(_params_for_help(argv)).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("alembic", "mlflow", "urllib3", "git", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Models are logged as pickles on purpose (the pt2 graph format drops the named blocks that
    # freezing, head replacement and LRP need); MLflow warns about that on every model.
    logging.getLogger("mlflow.pytorch").setLevel(logging.ERROR)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        if not Path(args.params).exists():
            logging.getLogger("auforget").warning(
                "%s not found in %s: using the built-in defaults", args.params, Path.cwd()
            )
        params = load_params(args.params)
        fields = STAGES[args.command][1]
        values = {
            name: getattr(args, name)
            for name in fields
            if getattr(args, name) not in (None, "", FROM_PARAMS)
        }
        if values:
            params = params.with_overrides(args.command, **values)
        module = importlib.import_module(f"auforget.stages.{args.command}")
        run = getattr(module, f"run_{args.command}")
        extra = {}
        if args.command == "tune":
            flag = str(args.write_params).strip().lower()
            if flag not in ("true", "false", "1", "0", "yes", "no", ""):
                raise ValueError(
                    f"--write-params: expected true or false, got {args.write_params!r}"
                )
            extra = {"params_path": args.params, "write_params": flag in ("true", "1", "yes")}
        if args.command == "main":
            extra = {"params_path": args.params, "executor": executors.settings_from_args(args)}
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            # Under torchrun, rank 0 runs the stage and the other ranks join its training
            # (workflow/launch.py).
            from auforget.workflow import launch

            result = launch.run_ranked(
                lambda: run(params, progress=not args.quiet and launch.is_leader(), **extra)
            )
        else:
            # One process: the analysis stages then never import torch, whose import cost each
            # command 2.7 s on a 2-core AMD EPYC (2026-11-26).
            result = run(params, progress=not args.quiet, **extra)
    except (
        ValueError,
        OSError,
        FloatingPointError,
        MlflowException,
        Timeout,
        executors.StepFailed,
    ) as exc:
        # Expected failures (bad parameters, missing or unreadable files, a diverged loss, an
        # unreachable tracking server, a held lock) get one clear line; -v shows the traceback.
        if args.verbose:
            raise
        print(f"auforget {args.command}: error: {exc}", file=sys.stderr)
        return 2
    if isinstance(result, dict):
        shown = {k: v for k, v in result.items() if isinstance(v, (int, float, str))}
        print(json.dumps(shown, indent=2, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
