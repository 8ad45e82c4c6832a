"""Slot assembly, domain specs, writing, and the build report.

:class:`SlotBuilder` collects one slot type's candidate surfaces and aliases, applies the general rules of its
:class:`~pipeline.lexicon.build.filters.Policy` and renders sorted entry files; :func:`slot_spec` turns it into a
:class:`SlotSpec` of a :class:`DomainSpec`, which :func:`write_domain` writes atomically and reloads as a
self-check. :class:`BuildReport` counts every dropped candidate under the name of the rule that dropped it.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from models.lexicon.manifest import MANIFEST_NAME, LexiconManifest, load_domain
from pipeline.errors import LexiconError
from pipeline.lexicon.build.filters import ALLOWED_CHARS, NUMERAL, STOPWORDS, Policy, clean
from pipeline.text import normalize

if TYPE_CHECKING:
    from pipeline.lexicon.build.sources import BuildContext

# --------------------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------------------


@dataclass
class BuildReport:
    """What one build produced and removed. ``drops[rule][(domain, slot)]`` counts distinct surfaces."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    drops: dict[str, Counter[tuple[str, str]]] = field(default_factory=lambda: defaultdict(Counter))
    dropped: dict[tuple[str, str, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    seconds: float = 0.0

    def record(self, rule: str, domain: str, slot: str, surface: str) -> None:
        self.drops[rule][(domain, slot)] += 1
        self.dropped[(rule, domain, slot)].append(surface)

    def examples(self, rule: str, n: int = 8) -> list[str]:
        """The first ``n`` surfaces a rule dropped, over all slots (in build order)."""
        out: list[str] = []
        for (r, _, _), surfaces in self.dropped.items():
            if r == rule:
                out += surfaces[: n - len(out)]
        return out

    def rule_totals(self) -> dict[str, int]:
        return {rule: sum(c.values()) for rule, c in sorted(self.drops.items())}

    def markdown(self) -> str:
        """Tables for the README: entries per slot, then what each rule removed (with examples)."""
        lines = ["| domain | slot type | entries |", "|---|---|---|"]
        for domain, slots in self.counts.items():
            lines += [f"| {domain} | {slot} | {n:,} |" for slot, n in slots.items()]
        lines += ["", "| rule | dropped | where (domain/slot: n) | examples |", "|---|---|---|---|"]
        for rule, per_slot in sorted(self.drops.items()):
            where = ", ".join(f"{d}/{s}: {n}" for (d, s), n in sorted(per_slot.items()))
            examples = " ".join(self.examples(rule))
            lines.append(f"| `{rule}` | {sum(per_slot.values()):,} | {where} | {examples} |")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------------
# Slot assembly
# --------------------------------------------------------------------------------------------------------------


class SlotBuilder:
    """Collects candidate surfaces (and aliases) for one slot type, filters them and renders entry files."""

    def __init__(self, ctx: BuildContext, domain: str, slot: str, policy: Policy) -> None:
        self.ctx, self.domain, self.slot, self.policy = ctx, domain, slot, policy
        self._candidates: dict[str, bool] = {}  # cleaned surface -> reliable?
        self._aliases: dict[str, set[str]] = defaultdict(set)  # alias surface -> canonical values
        self._dropped: set[str] = set()
        self._kept: set[str] | None = None
        chars = ALLOWED_CHARS + re.escape(policy.extra_chars)
        self._allowed = re.compile(f"[{chars}]+")

    # -- input ---------------------------------------------------------------------------------------------
    def add(self, surfaces: Iterable[str], reliable: bool) -> None:
        """Add candidates; whitespace is stripped, duplicates merge (reliable if any source is)."""
        if self._kept is not None:
            raise RuntimeError("add() after finalize()")
        for raw in surfaces:
            surface = clean(raw)
            if surface and surface not in self._dropped:
                self._candidates[surface] = self._candidates.get(surface, False) or reliable

    def drop(self, rule: str, surface: str) -> None:
        """Record a source-specific rule dropping ``surface``: removed if already added, refused later."""
        if self._kept is not None:
            raise RuntimeError("drop() after finalize()")
        surface = clean(surface)
        if not surface or surface in self._dropped:
            return
        self._candidates.pop(surface, None)
        self._dropped.add(surface)
        self.ctx.report.record(rule, self.domain, self.slot, surface)

    def dropped(self) -> set[str]:
        """Surfaces dropped so far by source-specific rules."""
        return set(self._dropped)

    def candidates(self) -> set[str]:
        """Surfaces added so far (before the general rules)."""
        return set(self._candidates)

    def add_alias(self, surface: str, value: str) -> None:
        """Register ``surface`` as an alias of the kept entry ``value`` (checked in :meth:`render`)."""
        surface = clean(surface)
        if surface and surface != value:
            self._aliases[surface].add(value)

    # -- filtering -----------------------------------------------------------------------------------------
    def rejection(self, surface: str, reliable: bool, policy: Policy | None = None) -> str | None:
        """Name of the first general rule that rejects ``surface``, or None if it passes."""
        policy = policy or self.policy
        if len(surface) < 2:
            return "single_char"
        if not self._allowed.fullmatch(surface):
            return "bad_chars"
        if surface.lower() in STOPWORDS:
            return "stopword"
        if NUMERAL.fullmatch(surface):
            return "numeral"
        if reliable and policy.exempt_reliable:
            return None
        frequent = policy.common_freq is not None and self.ctx.words.freq(surface) > policy.common_freq
        if frequent and not (policy.common_ok is not None and policy.common_ok(surface)):
            return "common_word"
        if policy.chat_max is not None and self.ctx.chat.count(surface) > policy.chat_max:
            return "chat_frequent"
        if policy.phrase_check and self.ctx.words.is_everyday_phrase(surface, policy.short_phrases):
            return "everyday_phrase"
        return None

    def finalize(self) -> set[str]:
        """Apply the general rules once; return the kept canonical surfaces."""
        if self._kept is None:
            if self.policy.chat_max is not None:
                self.ctx.chat.prepare(self._candidates)
            kept: dict[str, str] = {}  # matching key (pipeline.text.normalize) -> surface
            for surface, reliable in sorted(self._candidates.items()):
                rule = self.rejection(surface, reliable)
                if rule is None and normalize(surface) in kept:
                    rule = "case_duplicate"  # QQ next to qq: the gazetteer matches case-insensitively
                if rule is None:
                    kept[normalize(surface)] = surface
                else:
                    self.ctx.report.record(rule, self.domain, self.slot, surface)
            self._kept = set(kept.values())
        return self._kept

    # -- output --------------------------------------------------------------------------------------------
    def render(self, blocked: Callable[[str], bool] | None = None) -> tuple[list[str], list[str]]:
        """Entry lines and alias lines (``alias<TAB>value``), sorted, after alias checks.

        An alias is dropped if it fails the general rules of the slot's policy (as a derived form it is never
        a reliable source), if it would point to two different values (``alias_ambiguous``), or if
        ``blocked(alias)`` says a more specific slot already owns it (``alias_shadowed``). A kept entry that is
        also an unambiguous alias (北京 next to 北京市) becomes the alias, so the value is normalised.
        """
        kept = self.finalize()
        alias_policy = dataclasses.replace(self.policy, exempt_reliable=False)
        aliases: dict[str, str] = {}
        for surface, values in sorted(self._aliases.items()):
            values = {v for v in values if v in kept}
            if not values:
                continue
            if len(values) > 1:
                self.ctx.report.record("alias_ambiguous", self.domain, self.slot, surface)
                continue
            rule = None if surface in kept else self.rejection(surface, False, alias_policy)
            if rule is None and blocked is not None and surface not in kept and blocked(surface):
                rule = "shadowed"
            if rule is not None:
                self.ctx.report.record(f"alias_{rule}", self.domain, self.slot, surface)
                continue
            aliases[surface] = values.pop()
        # a value that itself became an alias (X -> Y, Y -> Z) is followed one step, so every value is an entry
        aliases = {a: aliases.get(v, v) for a, v in aliases.items() if aliases.get(v, v) != a}
        entries = sorted(s for s in kept if s not in aliases)
        return entries, sorted(f"{a}\t{v}" for a, v in aliases.items())

    def surfaces(self) -> set[str]:
        """Every surface this slot will match: kept entries and candidate aliases of kept entries."""
        kept = self.finalize()
        return kept | {a for a, vs in self._aliases.items() if vs & kept}


# --------------------------------------------------------------------------------------------------------------
# Domain specs and writing
# --------------------------------------------------------------------------------------------------------------


@dataclass
class SlotSpec:
    type: str
    priority: int
    description: str
    files: dict[str, list[str]]  # file name -> sorted lines


@dataclass
class DomainSpec:
    name: str
    description: str
    source: str
    license: str
    slots: list[SlotSpec]

    def manifest(self) -> dict:
        return {
            "domain": self.name,
            "description": self.description,
            "source": self.source,
            "license": self.license,
            "slots": [
                {"type": s.type, "files": list(s.files), "priority": s.priority, "description": s.description}
                for s in self.slots
            ],
        }


def slot_spec(builder: SlotBuilder, priority: int, description: str, **render_kw) -> SlotSpec:
    """Render a slot into ``<slot>.txt`` (+ ``<slot>_aliases.txt`` when it has aliases)."""
    entries, aliases = builder.render(**render_kw)
    files = {f"{builder.slot}.txt": entries}
    if aliases:
        files[f"{builder.slot}_aliases.txt"] = aliases
    return SlotSpec(builder.slot, priority, description, files)


def write_domain(spec: DomainSpec, out_dir: Path) -> dict[str, int]:
    """Write one domain folder atomically (temp folder + rename) and reload it as a self-check."""
    LexiconManifest.model_validate(spec.manifest())
    target = out_dir / spec.name
    tmp = out_dir / f".{spec.name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    manifest_text = yaml.safe_dump(spec.manifest(), allow_unicode=True, sort_keys=False, width=1000)
    (tmp / MANIFEST_NAME).write_text(manifest_text, encoding="utf-8")
    expected: dict[str, int] = {}
    for slot in spec.slots:
        for fname, lines in slot.files.items():
            if not lines:
                raise LexiconError(f"{spec.name}/{fname}: every candidate was filtered out")
            (tmp / fname).write_text("\n".join(lines) + "\n", encoding="utf-8")
        expected[slot.type] = sum(len(lines) for lines in slot.files.values())
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    loaded = load_domain(target, spec.name)
    got = {t: loaded.count(t) for t in expected}
    if got != expected:
        raise LexiconError(f"{target}: wrote {expected} entries but reloaded {got}")
    return got
