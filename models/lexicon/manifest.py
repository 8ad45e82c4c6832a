"""Read one lexicon folder: ``lexicon.yaml`` (validated by pydantic) plus its UTF-8 entry files.

Folder layout::

    lexicons/music/
        lexicon.yaml     # domain, description, source, slots: [{type, files, priority}]
        singer.txt       # one entry per line; optional "entry<TAB>normalized value" (周董<TAB>周杰伦)
        song.txt

Lines that are empty or start with ``#`` are skipped. Any other malformed line is an error that names the
file and line number: a lexicon that silently loses entries is worse than one that refuses to load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from models.common.errors import LexiconError

MANIFEST_NAME = "lexicon.yaml"


class SlotLexicon(BaseModel):
    """One slot type of a domain and the entry files that list its surface forms."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", description="slot type, e.g. singer")
    files: list[str] = Field(min_length=1)
    priority: int = Field(0, description="higher wins when two resolved matches have the same length")
    description: str = ""


class LexiconManifest(BaseModel):
    """Validated content of ``lexicon.yaml``."""

    model_config = ConfigDict(extra="forbid")

    domain: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")
    description: str = ""
    source: str = ""
    license: str = ""
    slots: list[SlotLexicon] = Field(min_length=1)

    @field_validator("slots")
    @classmethod
    def _unique_types(cls, slots: list[SlotLexicon]) -> list[SlotLexicon]:
        types = [s.type for s in slots]
        dupes = sorted({t for t in types if types.count(t) > 1})
        if dupes:
            raise ValueError(f"slot types listed twice: {dupes}")
        return slots


@dataclass(frozen=True)
class LexiconEntry:
    surface: str
    value: str  # normalized value; equals surface unless the file gives an alias target


@dataclass(frozen=True)
class LexiconDomain:
    """A loaded domain: its manifest, its folder, and per slot type the parsed entries."""

    name: str
    path: Path
    manifest: LexiconManifest
    entries: dict[str, list[tuple[str, LexiconEntry]]]  # slot type -> [(file name, entry)]
    files: tuple[Path, ...]  # every file read, manifest included, for content hashing

    def count(self, slot_type: str | None = None) -> int:
        if slot_type is not None:
            return len(self.entries.get(slot_type, []))
        return sum(len(v) for v in self.entries.values())


def read_manifest(path: Path) -> LexiconManifest:
    manifest_path = path / MANIFEST_NAME
    if not path.is_dir():
        raise LexiconError(f"lexicon folder not found: {path}")
    if not manifest_path.is_file():
        raise LexiconError(f"lexicon folder {path} has no {MANIFEST_NAME}")
    try:
        raw = yaml.safe_load(manifest_path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise LexiconError(f"{manifest_path}: not valid UTF-8 YAML ({exc.__class__.__name__})") from exc
    if not isinstance(raw, dict):
        raise LexiconError(f"{manifest_path}: expected a mapping with keys domain, slots")
    try:
        manifest = LexiconManifest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise LexiconError(f"{manifest_path}: {where}: {first['msg']}") from exc
    _check_confined(manifest, path, manifest_path)
    return manifest


def _check_confined(manifest: LexiconManifest, path: Path, manifest_path: Path) -> None:
    """Entry files must lie inside their lexicon folder (symlinks resolved): a manifest is something users
    download and swap, and ``../../etc/passwd`` or an absolute path must not make duihua read what it names."""
    root = path.resolve()
    for i, slot in enumerate(manifest.slots):
        for fname in slot.files:
            if not (root / fname).resolve().is_relative_to(root):
                raise LexiconError(f"{manifest_path}: slots.{i}.files: {fname!r} is outside the lexicon folder "
                                   f"{path}; list files inside it")


def read_entries(file: Path) -> list[LexiconEntry]:
    """Parse one entry file; raise ``LexiconError`` naming file and line on any malformed line."""
    if not file.is_file():
        raise LexiconError(f"lexicon file not found: {file}")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise LexiconError(f"{file}: not UTF-8 (byte {exc.start})") from exc
    entries: list[LexiconEntry] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip("\r\n ")
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) > 2 or not parts[0].strip() or (len(parts) == 2 and not parts[1].strip()):
            raise LexiconError(f"{file}:{lineno}: expected 'entry' or 'entry<TAB>normalized value', got {raw!r}")
        surface = parts[0].strip()
        value = parts[1].strip() if len(parts) == 2 else surface
        entries.append(LexiconEntry(surface, value))
    return entries


def load_domain(path: str | Path, name: str | None = None) -> LexiconDomain:
    """Load a lexicon folder. ``name`` (the config key) must match the manifest's domain when given."""
    path = Path(path).expanduser()
    manifest = read_manifest(path)
    if name is not None and name != manifest.domain:
        raise LexiconError(
            f"{path / MANIFEST_NAME}: domain is {manifest.domain!r} but the config selects it as {name!r}"
        )
    entries: dict[str, list[tuple[str, LexiconEntry]]] = {}
    files: list[Path] = [path / MANIFEST_NAME]
    for slot in manifest.slots:
        bucket = entries.setdefault(slot.type, [])
        for fname in slot.files:
            file = path / fname
            bucket.extend((fname, e) for e in read_entries(file))
            files.append(file)
    return LexiconDomain(manifest.domain, path, manifest, entries, tuple(files))
