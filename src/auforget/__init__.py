"""auforget: what a network forgets when it is transfer-learned to a new task.

The package is cut into layers, each a folder, imports pointing only down (an import-linter
contract in pyproject.toml says so): core, data, analysis, nn, tracking, workflow, stages, cli.
"""

from auforget.core import renamed

renamed.install()
