"""Logged models: named, described, linked to their metrics and data, and self-contained.

The clean environment is a new virtualenv holding exactly the model's requirements.txt and what
those require (no auforget, no torchvision, no full mlflow). Installing torch's CUDA build from
wheels takes minutes here, so the venv is seeded with that requirement closure linked in from
this interpreter's site-packages, and then `pip install --no-index -r requirements.txt` must find
everything satisfied: the model's requirements are complete, and nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from importlib import metadata
from pathlib import Path

import mlflow
import mlflow.pytorch
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement

from auforget.core.config import PAIN_CLASSES
from auforget.data.task_data import TaskData
from auforget.nn.backbones import VGG16Blocks, get_profile
from auforget.tracking.model_export import model_name
from auforget.workflow.fitting import log_torch_model


def _tiny_task() -> TaskData:
    frames = {
        split: pd.DataFrame(
            {
                "sample_id": [f"{split}{i}" for i in range(4)],
                "path": [f"{i}.png" for i in range(4)],
                "label": [0, 1, 0, 1],
            }
        )
        for split in ("train", "val", "test")
    }
    return TaskData("unbc", Path("."), frames, PAIN_CLASSES, "pain", 64)


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """A small-profile pain model logged from a run named like the transfer stage's, in a fresh
    sqlite store (one per module: logging costs seconds)."""
    tmp_path = tmp_path_factory.mktemp("export")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
        for var in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID"):
            mp.delenv(var, raising=False)
        mlflow.set_tracking_uri(None)
        torch.manual_seed(0)
        model = VGG16Blocks(get_profile("small"), len(PAIN_CLASSES)).eval()
        experiment = mlflow.create_experiment(
            "export", artifact_location=(tmp_path / "artifacts").as_uri()
        )
        with mlflow.start_run(run_name="transfer-b2", experiment_id=experiment) as run:
            mlflow.log_params({"transfer.freeze": 2})
            mlflow.log_metric(
                "val_loss", 1.0, step=1
            )  # per-epoch metrics start at step 1, as train.fit logs them
            mlflow.log_metrics({"test_recall_pain": 0.75, "test_accuracy": 0.5})
            info = log_torch_model(model, _tiny_task(), tmp_path / "splits")
        local = Path(
            mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path / "model"))
        )
        linked = mlflow.get_logged_model(info.model_id)
        inputs = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
        mlflow.set_tracking_uri(None)
    return {
        "model": model,
        "info": info,
        "run_id": run.info.run_id,
        "path": local,
        "linked": linked,
        "inputs": inputs,
    }


def test_model_is_named_for_what_it_is():
    assert [model_name(s) for s in ("emotion", "transfer-b2", "retrain-b0", "transfer-b5")] == [
        "emotion-base",
        "pain-freezeb2",
        "retrain-freezeb0",
        "pain-freezeb5",
    ]


def test_logged_model_carries_metadata_metrics_and_datasets(logged):
    info = logged["info"]
    assert info.name == "pain-freezeb2"
    meta = yaml.safe_load((logged["path"] / "MLmodel").read_text())["metadata"]
    assert meta["class_names"] == ["no_pain", "pain"]
    assert meta["image_size"] == 64 and meta["input"]["shape"] == [-1, 3, 64, 64]
    assert meta["normalisation"]["mean"] == pytest.approx([0.485, 0.456, 0.406])
    assert meta["normalisation"]["std"] == pytest.approx([0.229, 0.224, 0.225])

    linked = logged["linked"]
    assert {m.key for m in linked.metrics} == {"test_recall_pain", "test_accuracy"}, (
        "only test metrics are linked"
    )
    on_test = {m.key: m.value for m in linked.metrics if m.dataset_name == "unbc-test"}
    assert on_test == {"test_recall_pain": 0.75, "test_accuracy": 0.5}
    assert linked.params["transfer.freeze"] == "2"

    inputs = logged["inputs"]
    contexts = {
        i.dataset.name: {t.value for t in i.tags if t.key == "mlflow.data.context"} for i in inputs
    }
    assert contexts == {"unbc-train": {"train"}, "unbc-val": {"val"}, "unbc-test": {"test"}}
    assert all(i.dataset.digest and i.dataset.source for i in inputs)


def test_loaded_with_the_package_it_is_our_class_with_named_blocks(logged):
    loaded = mlflow.pytorch.load_model(str(logged["path"]))
    assert type(loaded) is VGG16Blocks and len(loaded.blocks) == 5
    x = torch.randn(2, 3, 64, 64)
    assert torch.allclose(loaded.eval()(x), logged["model"](x))


def test_the_model_carries_the_whole_package_under_code(logged):
    """code/auforget is the package (every layer and its data files), not the folder that
    model_export.py sits in: a clean environment imports the pickled classes from it."""
    code = logged["path"] / "code" / "auforget"
    for rel in ("__init__.py", "nn/backbones.py", "core/profiles.py", "core/renamed.py"):
        assert (code / rel).is_file(), rel
    assert not (code / "model_export.py").exists()


def test_requirements_are_pinned_and_small(logged):
    reqs = (logged["path"] / "requirements.txt").read_text().split()
    names = {Requirement(r).name for r in reqs}
    assert names == {"torch", "cloudpickle", "mlflow-skinny", "numpy", "pandas"}
    assert all("==" in r for r in reqs)
    assert (logged["path"] / "code" / "auforget" / "nn" / "backbones.py").exists()
    assert not list((logged["path"] / "code").rglob("__pycache__"))


# ----------------------------------------------------------------------------- clean environment


def _closure(requirements: list[str]) -> list[metadata.Distribution]:
    """The installed distributions these requirements pull in (markers and extras followed)."""
    seen: dict[str, metadata.Distribution] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        key = req.name.lower().replace("_", "-")
        dist = seen.get(key) or metadata.distribution(req.name)
        seen[key] = dist
        for spec in dist.requires or []:
            dep = Requirement(spec)
            extras = {""} | set(req.extras)
            if dep.marker and not any(
                dep.marker.evaluate({**default_environment(), "extra": e}) for e in extras
            ):
                continue
            if dep.name.lower().replace("_", "-") not in seen or dep.extras:
                todo.append(dep)
    return list(seen.values())


@pytest.fixture(scope="module")
def clean_python(tmp_path_factory) -> Path:
    """A new venv with only the model requirements' closure (see module docstring)."""
    from auforget.tracking.model_export import pip_requirements

    root = tmp_path_factory.mktemp("clean-env")
    venv = root / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300
    )
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    for dist in _closure(pip_requirements()):
        base = Path(dist.locate_file(""))
        for top in {
            f.parts[0] for f in dist.files or [] if f.parts[0] not in ("..", "__pycache__")
        }:
            if not (site / top).exists() and (base / top).exists():
                (site / top).symlink_to(base / top)
        for script in dist.entry_points.select(
            group="console_scripts"
        ):  # what pip would write into bin/
            module, _, attr = script.value.partition(":")
            path = venv / "bin" / script.name
            path.write_text(
                f"#!{python}\nimport sys\nfrom {module} import {attr.split('.')[0]}\n"
                f"sys.exit({attr}())\n"
            )
            path.chmod(0o755)
    return python


def _clean_env(python: Path) -> dict[str, str]:
    """No MLflow settings or PYTHONPATH from the test process (bytecode stays off: the venv links
    into another environment's site-packages)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_") and k != "PYTHONPATH"}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", PYTHONDONTWRITEBYTECODE="1")
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"  # as if activated
    return env


def _run_clean(python: Path, *args: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), *args],
        env=_clean_env(python),
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )


def test_clean_env_has_every_requirement_and_loads_and_predicts(logged, clean_python):
    reqs = logged["path"] / "requirements.txt"
    pip = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(clean_python),
            "install",
            "--no-index",
            "-r",
            str(reqs),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=_clean_env(clean_python),
    )
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-2000:]
    assert "Successfully installed" not in pip.stdout, (
        "requirements must be satisfied by their closure alone"
    )

    x = np.random.default_rng(0).normal(size=(2, 3, 64, 64)).astype(np.float32)
    np.save(logged["path"].parent / "x.npy", x)
    script = (
        "import importlib.util, json, sys, numpy as np\n"
        "assert importlib.util.find_spec('auforget') is None, "
        "'auforget must not be installed here'\n"
        "assert importlib.util.find_spec('torchvision') is None\n"
        "import mlflow.pyfunc, mlflow.pytorch\n"
        "m = mlflow.pyfunc.load_model(sys.argv[1])\n"
        "out = m.predict(np.load(sys.argv[2]))\n"
        "print(json.dumps({'out': np.asarray(out).tolist(), "
        "'meta': m.metadata.metadata['class_names']}))\n"
    )
    result = _run_clean(
        clean_python, "-c", script, str(logged["path"]), str(logged["path"].parent / "x.npy")
    )
    assert result.returncode == 0, result.stderr[-3000:]
    got = json.loads(result.stdout.strip().splitlines()[-1])
    with torch.no_grad():
        want = logged["model"](torch.from_numpy(x)).numpy()
    assert np.allclose(np.asarray(got["out"]), want, atol=1e-5)
    assert got["meta"] == ["no_pain", "pain"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mlflow_models_serve_answers_on_loopback_from_the_clean_env(logged, clean_python):
    port = _free_port()
    server = subprocess.Popen(
        [
            str(clean_python),
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            str(logged["path"]),
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env=_clean_env(clean_python),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )  # its own process group: the workers stop with it
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"server did not come up:\n{server.stdout.read()[-3000:]}")
            time.sleep(1)
        x = np.ones((1, 3, 64, 64), dtype=np.float32)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            method="POST",
            data=json.dumps({"inputs": x.tolist()}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as r:
            answer = json.loads(r.read())
        with torch.no_grad():
            want = logged["model"](torch.from_numpy(x)).numpy()
        assert np.allclose(np.asarray(answer["predictions"]), want, atol=1e-5)
    finally:
        _stop_group(server)


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (uvicorn runs as a child), SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 20)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


FIXTURES = Path(__file__).parent / "fixtures"


def test_a_model_saved_before_the_layers_loads_and_predicts_the_same():
    """A model logged by the flat package (its pickle names auforget.models.VGG16Blocks and
    auforget.models.Profile; saved 2026-12-06, just before the package was cut into layers)
    still loads, as today's class, and gives the outputs it gave when it was saved."""
    pickled = (FIXTURES / "model-before-layers/data/model.pth").read_bytes()
    assert b"auforget.models" in pickled  # the fixture really names the old module
    model = mlflow.pytorch.load_model(str(FIXTURES / "model-before-layers"), map_location="cpu")
    assert type(model) is VGG16Blocks and model.profile == get_profile("small")
    saved = torch.load(FIXTURES / "model-before-layers-io.pt")
    with torch.no_grad():
        out = model.eval()(saved["input"])
    torch.testing.assert_close(out, saved["output"], rtol=0, atol=1e-6)
