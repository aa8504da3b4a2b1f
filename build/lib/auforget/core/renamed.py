"""Old module names that saved models still name, mapped to where the code lives now.

A registered model is a pickle, and a pickle names each class by module: models registered
before the package was cut into layers name `auforget.models.VGG16Blocks` and
`auforget.models.Profile`. This finder answers an import of such an old name with the module
that holds the code now, so those models load unchanged. It imports nothing until an old name is
asked for.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

RENAMED = {
    "auforget.models": "auforget.nn.backbones",
    "auforget.config": "auforget.core.config",
    "auforget.artifacts": "auforget.core.artifacts",
    "auforget.identity": "auforget.core.identity",
    "auforget.datasets": "auforget.data",
    "auforget.datasets.affectnet": "auforget.data.affectnet",
    "auforget.datasets.unbc": "auforget.data.unbc",
    "auforget.datasets.ckplus": "auforget.data.ckplus",
    "auforget.datasets.faces": "auforget.data.faces",
    "auforget.datasets.images": "auforget.data.images",
    "auforget.datasets.manifest": "auforget.data.manifest",
    "auforget.datasets.splits": "auforget.data.splits",
    "auforget.datasets.synthetic": "auforget.data.synthetic",
    "auforget.tasks": "auforget.data.task_data",
    "auforget.stats": "auforget.analysis.stats",
    "auforget.metrics": "auforget.analysis.metrics",
    "auforget.regions": "auforget.analysis.regions",
    "auforget.probes": "auforget.analysis.linear_probes",
    "auforget.planted": "auforget.analysis.planted",
    "auforget.losses": "auforget.nn.losses",
    "auforget.train": "auforget.nn.training",
    "auforget.distributed": "auforget.nn.distributed",
    "auforget.features": "auforget.nn.features",
    "auforget.lrp": "auforget.nn.lrp",
    "auforget.claims": "auforget.tracking.claims",
    "auforget.preflight": "auforget.tracking.preflight",
    "auforget.sqlite_store": "auforget.tracking.sqlite_store",
    "auforget.model_export": "auforget.tracking.model_export",
    "auforget.recipes": "auforget.workflow.recipes",
    "auforget.classifier": "auforget.workflow.fitting",
    "auforget.executors": "auforget.workflow.executors",
}


class RenamedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old module name as the module that replaced it (the same module object)."""

    def find_spec(self, fullname, path, target=None):
        if fullname in RENAMED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(RENAMED[spec.name])

    def exec_module(self, module) -> None:
        """Nothing to run: create_module handed back a module that is already imported."""


def install() -> None:
    """Put the finder on sys.meta_path once."""
    if not any(isinstance(finder, RenamedModules) for finder in sys.meta_path):
        sys.meta_path.insert(
            0, RenamedModules()
        )  # before the path finder, which would load a second copy
