"""The README and the MkDocs site: the site builds strictly, links resolve, the README stays a
short user's guide, and docs/architecture.md's stage table names what the steps really log.

The stage table is checked against `auforget.core.artifacts`, the module the writers and readers
share: each of its sections (`# ---- emotion / transfer / retrain`, `# ---- forgetting`, ...)
names the stages whose runs log its names, so a name added there must appear in those stages'
rows, and a file named in the table must be one the module defines.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest

from auforget.core import artifacts
from auforget.core.identity import stage_module, step_sources

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
ARCHITECTURE = DOCS / "architecture.md"
SRC = REPO / "src"

# Backticked names with one of these extensions are files.
FILE = re.compile(r"^[^\s`]+\.(?:csv|json|png|txt|npz|html|pt|pth|yaml|db)$")
PLACEHOLDER = re.compile(r"<[^<>]+>|\$\{[^}]+\}")

# Files the table names that core/artifacts.py does not hold, because no other step reads them.
# Each must still occur in the stage's own source (its import closure), so a rename there shows.
NOT_IN_ARTIFACTS = {
    "synth": {"SYNTHETIC.json"},
    "emotion": {"class_weights.json"},
    "report": {"<report.out>/report.html", "report/report.html"},
    "tune": {"trials.csv", "optuna.db"},
    "main": {
        "metrics/planted.json",
        "planted/planted.csv",
        "planted/planted.txt",
        "planted/planted_seeds.csv",
        "planted/planted_seeds.txt",
        "planted/pain_association.csv",
    },
}

# Narration a user's guide has no use for: where and when something was measured belongs in a
# sentence with the hardware and the date, history in CHANGELOG.md.
BANNED = {
    "this session": re.compile(r"\bthis session\b", re.I),
    "this machine": re.compile(r"\bthis machine\b", re.I),
    "earlier session": re.compile(r"\bearlier sessions?\b", re.I),
    "lent once": re.compile(r"\blent once\b", re.I),
    "issue number": re.compile(r"\bissues? #?\d+", re.I),
    "stop number": re.compile(r"\bstop #?\d+\b", re.I),
    "#NN": re.compile(r"(?<![\w&])#\d{2,}\b"),
    "commit hash": re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b"),
}


def prose(text: str) -> str:
    """The text without fenced code blocks, inline code, link targets and HTML comments."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return re.sub(r"\]\([^)]*\)", "]", text)


def markdown_files() -> list[Path]:
    return [README, REPO / "CHANGELOG.md", *sorted(DOCS.glob("*.md"))]


# ---- the README


def test_readme_is_a_short_guide() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; the docs site takes the rest"


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_no_narration(path: Path) -> None:
    found = [
        f"{name}: {m.group(0)!r}"
        for name, pattern in BANNED.items()
        for m in pattern.finditer(prose(path.read_text()))
    ]
    assert not found, f"{path.name} narrates instead of stating: {found}"


def test_readme_keeps_the_two_commands() -> None:
    text = README.read_text()
    block = re.search(r"^## Set up, run, test\n+```bash\n(.*?)\n```", text, flags=re.S | re.M)
    assert block, "README: the commands sit in a ```bash block right under 'Set up, run, test'"
    assert block.group(1).splitlines()[:2] == [
        "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/auforget main",
        ".venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest",
    ]


# ---- links


def relative_links(path: Path) -> list[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)
    text = re.sub(r"`[^`\n]*`", "", text)
    targets = re.findall(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text)
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:|^#", t)]


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_relative_links_resolve(path: Path) -> None:
    missing = [
        target
        for target in relative_links(path)
        if not (path.parent / target.split("#")[0]).exists()
    ]
    assert not missing, f"{path.relative_to(REPO)} links to missing files: {missing}"


@pytest.mark.parametrize(
    "path", [README, *sorted(DOCS.glob("*.md"))], ids=lambda p: p.relative_to(REPO).as_posix()
)
def test_repository_paths_exist(path: Path) -> None:
    """Repository paths named in `code` (the site cannot link outside docs/) exist, so a moved
    module or experiment folder shows here; paths with <placeholders> or globs are skipped."""
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)
    named = re.findall(r"`((?:src|tests|bench|experiments|tools|docs|\.ci)/[^`\s]*)`", text)
    missing = [p for p in named if not re.search(r"[<>*{}]", p) and not (REPO / p).exists()]
    assert not missing, f"{path.relative_to(REPO)} names missing paths: {missing}"


# ---- the site


def test_mkdocs_builds_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_nav_lists_every_page() -> None:
    yaml = pytest.importorskip("yaml")
    # mkdocs.yml may hold !!python tags in other projects; ours is plain YAML.
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())

    def pages(nav) -> set[str]:
        if isinstance(nav, str):
            return {nav}
        if isinstance(nav, dict):
            return set().union(*(pages(v) for v in nav.values()))
        return set().union(*(pages(v) for v in nav))

    assert pages(config["nav"]) == {p.name for p in DOCS.glob("*.md")}


# ---- the stage table


def stage_table() -> dict[str, dict[str, str]]:
    """docs/architecture.md's table between the stage-table markers: stage -> column -> cell."""
    text = ARCHITECTURE.read_text()
    body = text.split("<!-- stage-table:start -->")[1].split("<!-- stage-table:end -->")[0]
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in body.strip().splitlines()
    ]
    header, rows = rows[0], [r for r in rows[1:] if not set("".join(r)) <= set("-: ")]
    assert header == ["stage", "reads", "writes", "registers"]
    table = {}
    for row in rows:
        assert len(row) == len(header), f"stage table row with {len(row)} cells: {row}"
        table[row[0].strip("`")] = dict(zip(header, row))
    return table


def names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def artifact_sections() -> dict[str, list[str]]:
    """Stage -> the public names core/artifacts.py defines in that stage's `# ---- ` section."""
    source = Path(artifacts.__file__).read_text()
    headers = [
        (number, match.group(1))
        for number, line in enumerate(source.splitlines(), start=1)
        if (match := re.match(r"# ---- ([^(]+)", line))
    ]
    assert headers, "core/artifacts.py has no '# ---- <stage>' sections"
    by_stage: dict[str, list[str]] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            targets = [
                t
                for target in node.targets
                for t in (target.elts if isinstance(target, ast.Tuple) else [target])
            ]
            defined = [t.id for t in targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.FunctionDef):
            defined = [node.name]
        else:
            continue
        defined = [n for n in defined if not n.startswith("_")]
        above = [stages for number, stages in headers if number < node.lineno]
        if not defined or not above:
            continue
        for stage in (s.strip() for s in above[-1].split("/")):
            by_stage.setdefault(stage, []).extend(defined)
    return by_stage


def expansions(name: str, section: list[str]) -> list[str]:
    """The names a constant stands for (its value), or a name function returns, with each
    string parameter as `<parameter>`, each flag both ways, each optional one given and not, and
    a `suffix` each *_SUFFIX constant of the same section."""
    value = getattr(artifacts, name)
    if isinstance(value, str):
        return [value]
    choices = []
    for p in inspect.signature(value).parameters.values():
        if p.name == "suffix":
            options = [getattr(artifacts, n) for n in section if n.endswith("_SUFFIX")]
        elif p.annotation in (bool, "bool"):
            options = [True, False]
        else:
            options = [f"<{p.name}>"] + ([inspect.Parameter.empty] if p.default is None else [])
        choices.append([(p, o) for o in options])
    out = []
    for combo in itertools.product(*choices):
        args = [o for p, o in combo if p.kind is not p.KEYWORD_ONLY and o is not p.empty]
        kwargs = {p.name: o for p, o in combo if p.kind is p.KEYWORD_ONLY}
        out.append(value(*args, **kwargs))
    return out


def as_pattern(name: str) -> re.Pattern:
    """A name with its <placeholders> (or ${...}) matching any text."""
    parts = PLACEHOLDER.split(name)
    return re.compile(".+".join(re.escape(part) for part in parts))


def known_artifact(token: str, expected: list[str]) -> bool:
    return any(token == e or as_pattern(e).fullmatch(token) for e in expected)


def test_stage_table_has_every_stage() -> None:
    modules = {
        p.stem if p.suffix == ".py" else p.name
        for p in (SRC / "auforget" / "stages").iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()
    }
    assert set(stage_table()) == modules


def test_stage_table_names_what_artifacts_defines() -> None:
    table = stage_table()
    sections = artifact_sections()
    assert set(sections) <= set(table), f"artifacts.py sections without a row: {sections}"
    missing = {}
    for stage, defined in sections.items():
        row = names(table[stage]["writes"]) + names(table[stage]["registers"])
        for name in defined:
            for expected in expansions(name, defined):
                pattern = as_pattern(expected)
                if not any(expected in token or pattern.fullmatch(token) for token in row):
                    missing.setdefault(stage, []).append(f"{name} = {expected!r}")
    assert not missing, f"docs/architecture.md's stage table lacks: {missing}"


def test_stage_table_files_exist() -> None:
    expected = [
        e
        for section in artifact_sections().values()
        for name in section
        for e in expansions(name, section)
    ]
    dvc = PLACEHOLDER.sub("<>", (REPO / "dvc.yaml").read_text())
    unknown = []
    for stage, row in stage_table().items():
        closure = "\n".join((SRC / f).read_text() for f in step_sources(stage_module(stage)))
        for cell in ("reads", "writes", "registers"):
            for token in filter(FILE.match, names(row[cell])):
                if known_artifact(token, expected):
                    continue
                if token.startswith(("metrics/", "plots/")) and PLACEHOLDER.sub("<>", token) in dvc:
                    continue  # a DVC metrics file or plot of the stage, named in dvc.yaml
                if token in NOT_IN_ARTIFACTS.get(stage, ()) and (
                    token in closure or Path(token).name in closure
                ):
                    continue
                unknown.append(f"{stage}: {token}")
    assert not unknown, (
        "files in docs/architecture.md's stage table that src/auforget/core/artifacts.py does "
        f"not define (nor dvc.yaml, nor NOT_IN_ARTIFACTS with the stage's source): {unknown}"
    )
