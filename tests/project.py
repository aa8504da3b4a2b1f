"""A throwaway copy of the project (what `git clone` would give) for end-to-end tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TINY_PARAMS = {
    # The JPEG route: tiny_study_metrics.json holds its numbers (the store route has its own
    # tests, tests/data/test_image_store.py, and runs in the micro studies and the paper smoke).
    "data": {"image_store": False},
    "synth": {"scale": "tiny"},
    "prepare": {"unbc_pool_per_class": 24, "unbc_val_size": 8},
    "emotion": {"epochs": 2, "batch_size": 16},
    "transfer": {"epochs": 2, "batch_size": 16},
    "retrain": {"epochs": 2, "batch_size": 16},
    "probes": {"seeds": 20},
    "saliency": {"max_images": 4},
    "controls": {"n_pairs": 6, "probe_seeds": 10, "max_images": 8},
}
# The smallest study every stage accepts (the `micro` synthetic scale and UNBC pool of the paper
# smoke test, tests/test_paper_preset.py), one epoch: for tests that prove plumbing -- claims,
# artifacts through a server, reuse -- and compare no numbers with tiny_study_metrics.json. Two
# freeze levels (FreezeB0 and FreezeB5, which the forgetting comparison and the controls need) and
# no AU survey: the plumbing is the same for six levels, and each level costs two training steps.
MICRO_LEVELS = (0, 5)
MICRO_PARAMS = {
    "study": {"freeze_levels": list(MICRO_LEVELS)},
    "synth": {"scale": "micro"},
    "prepare": {"unbc_pool_per_class": 6, "unbc_val_size": 2},
    "emotion": {"epochs": 1, "batch_size": 16},
    "transfer": {"epochs": 1, "batch_size": 16},
    "retrain": {"epochs": 1, "batch_size": 16},
    "probes": {"seeds": 3, "survey_aus": []},
    "saliency": {"max_images": 2},
    "controls": {"n_pairs": 4, "probe_seeds": 5, "max_images": 8},
}

# The tiny study's numbers, recorded per CPU vendor. With the kernels held to AVX2
# (tests/conftest.py) a 2-core AMD EPYC with AVX-512 gave the numbers recorded on an AVX2
# machine (2026-11-27), but a 2-core Intel Xeon with AVX-512 did not (2026-12-07): every step from
# the emotion model on differed, the same in every process and executor there. So each vendor has
# its own recording, and a machine of a vendor without one records it
# (AUFORGET_RECORD_STUDY=1 pytest tests/stages/test_doors.py -k same_numbers).
STAGES = Path(__file__).resolve().parent / "stages"


def cpu_vendor() -> str:
    """The CPU's vendor id (/proc/cpuinfo), e.g. AuthenticAMD, GenuineIntel; "" when unknown."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("vendor_id"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def recorded_study() -> Path:
    """This machine's recording of the tiny study: tiny_study_metrics.json (recorded on AMD) or
    tiny_study_metrics-<vendor>.json for another vendor."""
    vendor = cpu_vendor()
    if vendor in ("", "AuthenticAMD"):
        return STAGES / "tiny_study_metrics.json"
    return STAGES / f"tiny_study_metrics-{vendor}.json"


def differing(recorded: dict, metrics: dict, step: str) -> dict:
    """The metrics of `step` that differ from the recording (NaN: no test ran, equal to NaN)."""
    import pytest  # the test extra's; bench/bench_controls.py --smoke imports this module too

    return {
        k: (v, metrics[step].get(k))
        for k, v in recorded[step].items()
        if metrics[step].get(k) != pytest.approx(v, abs=1e-6, nan_ok=True)
    }


def tracked_files() -> list[str]:
    try:
        out = subprocess.run(
            ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout
        files = [f for f in out.splitlines() if (REPO / f).is_file()]
        if files:
            return files
    except (OSError, subprocess.CalledProcessError):
        pass
    skip = {
        ".git",
        ".venv",
        "venv",
        "data",
        "mlartifacts",
        "reports",
        "checkpoints",
        "__pycache__",
        ".pytest_cache",
    }
    return [
        str(p.relative_to(REPO))
        for p in REPO.rglob("*")
        if p.is_file() and not skip & set(p.relative_to(REPO).parts)
    ]


def copy_project(dst: Path, params: dict | None = None) -> Path:
    """Copy the project's files into `dst` (a new git repo) with params.yaml overrides merged in."""
    for rel in tracked_files():
        if rel.startswith(("tests/", "bench/")):
            continue
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)
    merged = yaml.safe_load((REPO / "params.yaml").read_text())
    # Every copy runs the 64 px small profile unless `params` names another: the demo's small96
    # costs twice as much per image, and tiny_study_metrics.json holds the small profile's numbers.
    merged["model"]["profile"] = "small"
    for section, values in (params or TINY_PARAMS).items():
        merged.setdefault(section, {}).update(values)
    (dst / "params.yaml").write_text(yaml.safe_dump(merged, sort_keys=False))
    env = environment(dst)
    subprocess.run(["git", "init", "-q"], cwd=dst, check=True, env=env)
    subprocess.run(["git", "add", "-A"], cwd=dst, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "copy"], cwd=dst, check=True, env=env)
    return dst


def environment(project: Path) -> dict[str, str]:
    """PATH with this interpreter's scripts (auforget, mlflow, dvc) first; the project's store."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{project / 'mlflow.db'}"
    for var in ("MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID"):
        env.pop(var, None)
    env.update(
        {
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "1",
        }
    )
    return env


def run(
    cmd: list[str], project: Path, timeout: float = 900, unset: tuple[str, ...] = (), **env: str
) -> subprocess.CompletedProcess:
    """`cmd` in `project` with its environment (plus `env`, less `unset`); an AssertionError with
    its output if it fails."""
    merged = {k: v for k, v in {**environment(project), **env}.items() if k not in unset}
    result = subprocess.run(
        cmd, cwd=project, env=merged, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {result.returncode}\n--- stdout\n{result.stdout[-4000:]}\n"
            f"--- stderr\n{result.stderr[-6000:]}"
        )
    return result


def checkpoint_of(project: Path, step: str) -> Path | None:
    """The step's epoch checkpoint in `project` (checkpoints/<step>/<identity>/last.pt), or None
    while there is none."""
    found = sorted((project / "checkpoints" / step).glob("*/last.pt"))
    return found[0] if found else None
