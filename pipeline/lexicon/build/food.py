"""food domain: dish names and cooking ingredients; see :func:`build_food`."""

from __future__ import annotations

from pipeline.lexicon.build.filters import COMMON_WORD_FREQ, Policy, clean
from pipeline.lexicon.build.sources import LICENSE_SMP2019, LICENSE_THUOCL, SMP2019_DIC, BuildContext
from pipeline.lexicon.build.thuocl import THUOCL_MIN_DF
from pipeline.lexicon.build.writer import DomainSpec, SlotBuilder, slot_spec

#: A character that marks a prepared dish (cooking method or dish type).
DISH_CHARS = set("炒烧炖蒸煮炸烤焖拌卤煎熏酿爆扒烩溜汆涮焗煲羹汤粥饭面饼糕包饺馄饨卷酥丸串锅冻粉酱糊盅煨腌")
#: A common word from THUOCL_food stays if it is used inside at least this many dishName.txt dishes
#: (牛奶 in 牛奶布丁, 韭菜 in 韭菜盒子): then the food sense is the one people cook with.
MIN_DISH_USES = 2
#: THUOCL_food also lists food chemistry (乙醇, 氢氧化钠, 甜味剂): entries with these characters are dropped.
CHEMICAL_CHARS = set("醇钠钾钙氧硫酯酚胺剂烷烯苷氢氮磷铝锌铵")


def build_food(ctx: BuildContext) -> DomainSpec:
    """dish (SMP2019 dishName.txt + cookbook dishName values + THUOCL_food dishes), ingredient (cookbook
    ingredient values + the non-dish part of THUOCL_food).

    dishName.txt is a recipe-site dictionary: reliable, except that some decorated cake/coffee names are
    ordinary words (诱惑, 全家福, 企鹅, 青蛙). A dictionary dish name that is a common word is kept only if it
    has a dish character (炒, 汤, 饭 ...), THUOCL_food lists it too (馒头) or other dishes use it (粽子, 汉堡)
    (``dish_common_not_food``).
    THUOCL_food mixes dishes, raw foods, brands and food chemistry: names with a dish character go to dish
    (a common word among them survives only if dishes use it), chemistry is dropped, and the rest becomes an
    ingredient only if at least ``MIN_DISH_USES`` dictionary dishes use it (牛奶, 鹅肝, 郫县豆瓣 yes; brand
    and shop names such as 天仁, 大富豪, 小酒馆 and oddities such as 礼记, 托盘 no).
    """
    dic = ctx.lines(f"{SMP2019_DIC}/dishName.txt")
    dic = [clean(line.split("\t")[0]) for line in dic]  # two lines carry "dish<TAB>variant"
    dic_text = "\n".join(dic)
    dic_set = set(dic)

    def used_in_dishes(word: str) -> bool:
        return dic_text.count(word) - (word in dic_set) >= MIN_DISH_USES

    food_policy = Policy(common_freq=COMMON_WORD_FREQ, common_ok=used_in_dishes, phrase_check=True)
    dish = SlotBuilder(ctx, "food", "dish", food_policy)
    ingredient = SlotBuilder(ctx, "food", "ingredient", food_policy)
    thuocl_food = [(clean(word), df) for word, df in ctx.thuocl("food")]
    thuocl_words = {word for word, _ in thuocl_food}

    for name in dic + ctx.smp2019_slots(["cookbook"], ["dishName"]):
        name = clean(name)
        corroborated = set(name) & DISH_CHARS or name in thuocl_words or used_in_dishes(name)
        if ctx.words.freq(name) > COMMON_WORD_FREQ and not corroborated:
            dish.drop("dish_common_not_food", name)
    dish.add(dic, reliable=True)
    dish.add(ctx.smp2019_slots(["cookbook"], ["dishName"]), reliable=True)
    ingredient.add(ctx.smp2019_slots(["cookbook"], ["ingredient"]), reliable=True)

    for word, df in thuocl_food:
        target = dish if set(word) & DISH_CHARS else ingredient
        if df < THUOCL_MIN_DF["food"]:
            target.drop("thuocl_rare", word)
        elif set(word) & CHEMICAL_CHARS:
            target.drop("food_chemical", word)
        elif target is ingredient and not used_in_dishes(word):
            target.drop("ingredient_not_in_dishes", word)  # brands and shops: 小酒馆, 天仁, 大富豪
        else:
            target.add([word], reliable=False)
    dishes = dish.finalize()
    for word in sorted(ingredient.candidates() & dishes):
        ingredient.drop("ingredient_is_dish", word)

    return DomainSpec(
        "food",
        "Dish names and cooking ingredients for cookbook requests.",
        "nlu/smp2019/dic/dishName.txt; nlu/smp2019/train.json (cookbook dishName, ingredient); "
        "entities/thuocl/THUOCL_food.txt",
        f"{LICENSE_SMP2019}; {LICENSE_THUOCL}",
        [
            slot_spec(dish, 70, "dish names"),
            slot_spec(ingredient, 60, "ingredients and other foods"),
        ],
    )
