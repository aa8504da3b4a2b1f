"""The names a study's data give it: the source and target classes, the concepts, the regions.

Every stage that names a class, a concept or a region asks `study_names(params)` instead of a
fixed list, so that a study read from manifests (`data.kind: manifest`) says "fatigued" and
"jaw_drop" where the paper's says "pain" and "AU14". Native data have the paper's names:
AffectNet's eight emotions, UNBC's no_pain / pain (recall of pain traded by promote), the CK+
AUs the study probes (au14, au5) and the AU regions of analysis/regions.py. Manifest data have
what `prepare` found in the manifests, written to `<data.splits_dir>/names.json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from auforget.core.config import EMOTIONS, PAIN_CLASSES, Params

NAMES_FILE = "names.json"
REGIONS_FILE = "regions.csv"
CONCEPTS_DIR = "concepts"
NATIVE_CONCEPTS = ("au14", "au5")  # the CK+ AUs `main` probes on native data (probes.au)


@dataclass(frozen=True)
class StudyNames:
    """Where each task's splits are, and what its classes, concepts and regions are called.

    source_dir / target_dir: the folders under data.splits_dir holding the tasks' splits.
    target_focus: the target class whose recall promote trades against the source classes'
    ("macro": the macro recall). concepts: what `main` probes. concept_roots: each concept's
    image folder (manifest data). regions: the regions manifest as written by prepare ("" = the
    built-in AU regions).
    """

    kind: str
    source_dir: str
    target_dir: str
    source_root: str
    target_root: str
    source_classes: tuple[str, ...]
    target_classes: tuple[str, ...]
    target_focus: str
    concepts: tuple[str, ...]
    concept_roots: dict[str, str] = field(default_factory=dict)
    regions: str = ""

    def check_source_classes(self, where: str, names: tuple[str, ...]) -> None:
        """A ValueError naming `where` when a name is not one of the source task's classes."""
        for name in names:
            if name not in self.source_classes:
                raise ValueError(
                    f"{where}: {name!r} is not one of the source task's classes "
                    f"{list(self.source_classes)}"
                )

    def as_json(self) -> dict:
        return {
            "source_classes": list(self.source_classes),
            "target_classes": list(self.target_classes),
            "target_focus": self.target_focus,
            "concepts": list(self.concepts),
            "concept_roots": self.concept_roots,
            "source_root": self.source_root,
            "target_root": self.target_root,
            "regions": self.regions,
        }


def native_names(params: Params) -> StudyNames:
    """The paper's names (AffectNet, UNBC-McMaster, CK+)."""
    return StudyNames(
        "native",
        "affectnet",
        "unbc",
        params.data.affectnet_root,
        params.data.unbc_root,
        EMOTIONS,
        PAIN_CLASSES,
        "pain",
        NATIVE_CONCEPTS,
        {c: params.data.ckplus_root for c in NATIVE_CONCEPTS},
    )


def study_names(params: Params) -> StudyNames:
    """The study's names: the paper's for native data, the manifests' (as `prepare` wrote them to
    names.json) otherwise; a clear error when prepare has not run."""
    if params.data.kind == "native":
        return native_names(params)
    path = Path(params.data.splits_dir) / NAMES_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: run `auforget prepare` (or `dvc repro prepare`) first; it reads "
            "the manifests and writes the names of their classes and concepts"
        )
    raw = json.loads(path.read_text())
    return StudyNames(
        "manifest",
        "source",
        "target",
        raw["source_root"],
        raw["target_root"],
        tuple(raw["source_classes"]),
        tuple(raw["target_classes"]),
        raw["target_focus"],
        tuple(raw["concepts"]),
        dict(raw["concept_roots"]),
        raw.get("regions", ""),
    )


@dataclass(frozen=True)
class TaskWords:
    """How pages and figures name the two tasks, their data and the concepts.

    The report's titles and sentences are written around these words, so that a study of one's
    own pair (data.kind: manifest) reads "fatigue model" and "the target manifest's test split"
    where the paper's says "pain model" and "UNBC-McMaster test set". `source` and `target`
    qualify a noun ("emotion recall", "pain transfer"); `source_class` names one source class
    ("emotion") and `sources` several ("emotions"); `target_rule` says which frames are
    positive, where the data define it.
    Registered model names (auforget-pain, auforget-emotion) are contracts and stay as they are.
    """

    source: str = "emotion"
    source_class: str = "emotion"
    sources: str = "emotions"
    target: str = "pain"
    source_data: str = "AffectNet"
    target_data: str = "UNBC-McMaster"
    concept_data: str = "CK+"
    concept: str = "action unit"
    # the saliency ranking: its name in titles and headings, one region in a sentence, several
    ranking_title: str = "action-unit ranking"
    ranking: str = "AU ranking"
    region: str = "action unit's facial region"
    regions: str = "AU regions"
    target_rule: str = "pain = PSPI > 0"  # plain text (escaped where shown)

    @property
    def a_source_class(self) -> str:
        article = "an" if self.source_class[:1].lower() in "aeiou" else "a"
        return f"{article} {self.source_class}"

    @property
    def pair(self) -> str:
        """The two tasks as a figure's title names them: "Pain / emotion"."""
        return f"{capitalised(self.target)} / {self.source}"


def capitalised(text: str) -> str:
    """`text` with its first letter upper-case and the rest as it is (a title's first word;
    str.capitalize would lower "AU ranking" to "Au ranking")."""
    return text[:1].upper() + text[1:]


PAPER_WORDS = TaskWords()


def task_words(params: Params) -> TaskWords:
    """The paper's words for native data; data.source_task / target_task and the manifests'
    file names for manifest data."""
    data = params.data
    if data.kind == "native":
        return PAPER_WORDS
    source = data.source_task or "source"
    return TaskWords(
        source=source,
        source_class=f"{source} class",
        sources=f"{source} classes",
        target=data.target_task or "target",
        source_data=Path(data.source).name,
        target_data=Path(data.target).name,
        concept_data=", ".join(Path(c).name for c in data.concepts) or "the concept manifests",
        concept="concept",
        ranking_title="region ranking",
        ranking="region ranking",
        region="region of the face",
        regions="regions",
        target_rule="",
    )


def write_names(splits_dir: str | Path, names: StudyNames) -> Path:
    path = Path(splits_dir) / NAMES_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(names.as_json(), indent=2, sort_keys=True) + "\n")
    return path


def concept_name(params: Params) -> str:
    """The concept a probes step probes: probes.concept on manifest data, au<probes.au> on
    native data (the paper's metric names: probes-au14)."""
    if params.data.kind == "manifest":
        return params.probes.concept
    return f"au{params.probes.au}"
