"""The study as a Python call, for notebooks and scripts: the same stages the CLI runs.

    import auforget.study as study

    params = study.load_params("examples/fatigue/params.yaml", synth={"scale": "micro"})
    results = study.run_study(params)          # the whole study, as `auforget main`
    results.metrics["forgetting"]              # <study.metrics_dir>/forgetting.json, as a dict
    study.run_step("probes", params, probes={"k": 1})  # one step, as `auforget probes --k 1`

`run_study` and `run_step` call the functions the `auforget` command calls
(`auforget.stages.<step>.run_<step>`), with the same parameters, the same MLflow store and the
same files, so their results are the metrics files' (`<study.metrics_dir>/<name>.json`, by
default `metrics/<name>.json`). Parameters come
from a params file, a `Params` object or a mapping with params.yaml's sections, through the one
typed loader (core/config.py): a bad value is the same ValueError the CLI prints.
"""

from __future__ import annotations

import importlib
import json
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from auforget.analysis.metrics import METRICS_DIR
from auforget.core import config
from auforget.core.config import Params

STEPS = (
    "synth",
    "prepare",
    "emotion",
    "transfer",
    "retrain",
    "forgetting",
    "saliency",
    "probes",
    "promote",
    "report",
    "tune",
)


@dataclass
class StudyResult:
    """What a study returns: `headline` (the study run's metrics, as `auforget main` prints
    them) and `metrics` (each metrics file this study wrote, by name: `metrics["transfer-b2"]` is
    <study.metrics_dir>/transfer-b2.json)."""

    headline: dict[str, float]
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)


def load_params(
    source: str | Path | Mapping[str, Any] | Params | None = "params.yaml",
    **sections: Mapping[str, Any],
) -> Params:
    """Parameters from a params file, a mapping of params.yaml's sections or a `Params` (None:
    the built-in defaults), then each keyword a section's overrides, e.g.
    `load_params("params.yaml", synth={"scale": "tiny"}, study={"seeds": [0, 1]})`."""
    if source is None:
        params = Params()
    elif isinstance(source, Params):
        params = source
    elif isinstance(source, Mapping):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "params.yaml"
            path.write_text(yaml.safe_dump(_plain(source)))
            params = config.load_params(path)
    else:
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"params file {path} does not exist")
        params = config.load_params(path)
    for section, values in sections.items():
        if not hasattr(params, section):
            raise ValueError(f"unknown section {section!r}; valid sections are {_sections()}")
        params = params.with_overrides(section, **dict(values))
    return params


def run_study(
    params: str | Path | Mapping[str, Any] | Params | None = "params.yaml",
    *,
    progress: bool = False,
    executor: Any = None,
    params_path: str = "",
) -> StudyResult:
    """The whole study (`auforget main`): data, the models at every freeze level, the analyses,
    promotion and the report, each step reused when its identity matches a finished run.
    `executor` is a workflow.executors.ExecutorSettings (serial by default). Returns the
    headline metrics and every metrics file the study wrote. `params_path` is what the study
    run logs as its params file (default: the file given, or "python")."""
    from auforget.stages.main import run_main

    if not params_path:
        params_path = str(params) if isinstance(params, (str, Path)) else "python"
    params = load_params(params)
    started = time.time()
    headline = run_main(params, progress=progress, params_path=params_path, executor=executor)
    return StudyResult(headline, read_metrics(params, since=started))


def run_step(
    step: str,
    params: str | Path | Mapping[str, Any] | Params | None = "params.yaml",
    *,
    progress: bool = False,
    **sections: Mapping[str, Any],
) -> dict[str, float]:
    """One step (`auforget <step>`), e.g. `run_step("transfer", params, transfer={"freeze":
    3})`; returns its metrics, the dict its metrics file holds."""
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}; valid steps are {list(STEPS)}")
    params = load_params(params, **sections)
    module = importlib.import_module(f"auforget.stages.{step}")
    return getattr(module, f"run_{step}")(params, progress=progress)


def read_metrics(folder: str | Path | Params = METRICS_DIR, since: float = 0.0) -> dict[str, dict]:
    """The metrics files (`<folder>/<name>.json`) written at or after `since` (seconds since the
    epoch; 0: all), by name. Given a study's `Params`, its folder: `study.metrics_dir`."""
    if isinstance(folder, Params):
        folder = folder.study.metrics_dir
    out = {}
    for path in sorted(Path(folder).glob("*.json")):
        if path.stat().st_mtime >= since - 1:
            out[path.stem] = json.loads(path.read_text())
    return out


def _sections() -> list[str]:
    return sorted(f for f in Params.__dataclass_fields__)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
