"""Domains built mainly from THUOCL lists: health, car, animal and person (built on request only).

:func:`thuocl_slot` reads one list with its document-frequency floor (:data:`THUOCL_MIN_DF`, also used by the
location and food builders for THUOCL_diming and THUOCL_food) under the noisy policy.
"""

from __future__ import annotations

from pipeline.lexicon.build.filters import COMMON_WORD_FREQ, NOISY, Policy, clean, long_name
from pipeline.lexicon.build.sources import LICENSE_SMP2019, LICENSE_THUOCL, BuildContext
from pipeline.lexicon.build.writer import DomainSpec, SlotBuilder, slot_spec

#: THUOCL document-frequency floor per list: rare THUOCL entries are mostly long compounds or junk
#: (双涵路, 红居社区) and inflate the lexicon; the floors keep each list to its well-known part.
THUOCL_MIN_DF = {
    "diming": 300,
    "food": 100,
    "medical": 300,
    "car": 300,
    "animal": 300,
    "lishimingren": 300,
}


def thuocl_slot(
    ctx: BuildContext, domain: str, slot: str, name: str, policy: Policy = NOISY
) -> SlotBuilder:
    """A slot from one THUOCL list: entries with document frequency >= ``THUOCL_MIN_DF[name]``, noisy policy.

    THUOCL lists are topic vocabularies, not entity lists: THUOCL_medical starts with 精神, 医院, 检查, 死亡,
    THUOCL_car with 熊猫, 模具; the common-word and phrase rules remove those general words.
    """
    builder = SlotBuilder(ctx, domain, slot, policy)
    for word, df in ctx.thuocl(name):
        if df < THUOCL_MIN_DF[name]:
            builder.drop("thuocl_rare", word)
        else:
            builder.add([word], reliable=False)
    return builder


def build_health(ctx: BuildContext) -> DomainSpec:
    """medical_term: THUOCL_medical (filtered) + SMP2019 health ``keyword`` values (reliable)."""
    term = thuocl_slot(ctx, "health", "medical_term", "medical")
    term.add(ctx.smp2019_slots(["health"], ["keyword"]), reliable=True)
    return DomainSpec(
        "health",
        "Diseases, symptoms, drugs and other medical terms.",
        "entities/thuocl/THUOCL_medical.txt; nlu/smp2019/train.json (health keyword)",
        f"{LICENSE_THUOCL}; {LICENSE_SMP2019}",
        [slot_spec(term, 40, "medical terms (THUOCL, frequent and non-generic only)")],
    )


def _thuocl_domain(ctx: BuildContext, domain: str, source: str, description: str, slot_description: str
                   ) -> DomainSpec:
    """A domain made of one filtered THUOCL list, whose slot type is named like the domain."""
    return DomainSpec(
        domain,
        description,
        f"entities/thuocl/THUOCL_{source}.txt",
        LICENSE_THUOCL,
        [slot_spec(thuocl_slot(ctx, domain, domain, source), 40, slot_description)],
    )


def build_car(ctx: BuildContext) -> DomainSpec:
    """car: THUOCL_car (brands, models, parts), filtered."""
    return _thuocl_domain(ctx, "car", "car", "Car brands, models and car-related terms.",
                          "car brands, models and terms (THUOCL)")


def build_animal(ctx: BuildContext) -> DomainSpec:
    """animal: THUOCL_animal, filtered."""
    return _thuocl_domain(ctx, "animal", "animal", "Animal names.", "animal names (THUOCL)")


def build_person(ctx: BuildContext) -> DomainSpec:
    """historical_person: THUOCL_lishimingren (filtered) + SMP2019 poetry authors (reliable).

    3+ character names are exempt from the common-word rule (毛泽东, 周恩来 are frequent because famous);
    2-character ones are not (孙子, 陆军, 田间, 杜鹃 are in the list). The list also holds many ordinary
    given names (王石, 陈明, 刘文, 婷婷): a 2-character THUOCL name must be a person name in jieba's
    dictionary (tag nr/nrfg/nrt) to stay (``person_not_known_name``).
    """
    policy = Policy(common_freq=COMMON_WORD_FREQ, common_ok=long_name)  # names are not phrases: no phrase rule
    person = thuocl_slot(ctx, "person", "historical_person", "lishimingren", policy)
    for word, _ in ctx.thuocl("lishimingren"):
        word = clean(word)
        if len(word) == 2 and word not in person.dropped() and not ctx.words.is_person_name(word):
            person.drop("person_not_known_name", word)
    person.add(ctx.smp2019_slots(["poetry"], ["author"]), reliable=True)
    return DomainSpec(
        "person",
        "Famous historical and public persons.",
        "entities/thuocl/THUOCL_lishimingren.txt; nlu/smp2019/train.json (poetry author)",
        f"{LICENSE_THUOCL}; {LICENSE_SMP2019}",
        [slot_spec(person, 40, "historical and famous persons (THUOCL 历史名人, SMP2019 poets)")],
    )
