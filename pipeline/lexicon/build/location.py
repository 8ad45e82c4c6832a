"""location domain: provinces, cities and districts (with derived short forms) and other place names; see
:func:`build_location`. :func:`place_ok` is shared with the travel builder."""

from __future__ import annotations

import re
from collections import Counter

from pipeline.lexicon.build.filters import COMMON_WORD_FREQ, RELIABLE, Policy, WordStats, clean
from pipeline.lexicon.build.sources import (
    DISTRICTS,
    LICENSE_PLACES,
    LICENSE_SMP2019,
    LICENSE_THUOCL,
    SMP2019_DIC,
    BuildContext,
)
from pipeline.lexicon.build.thuocl import THUOCL_MIN_DF
from pipeline.lexicon.build.writer import DomainSpec, SlotBuilder, slot_spec

#: Ethnic-group names used in autonomous-area names (广西壮族自治区, 延边朝鲜族自治州, 融水苗族自治县).
ETHNIC = (
    "维吾尔|哈萨克|柯尔克孜|塔吉克|乌孜别克|塔塔尔|俄罗斯|鄂温克|鄂伦春|达斡尔|蒙古|朝鲜|土家|哈尼|傈僳|拉祜|"
    "纳西|景颇|仫佬|毛南|仡佬|布依|布朗|撒拉|东乡|保安|裕固|锡伯|阿昌|普米|独龙|德昂|基诺|门巴|珞巴|赫哲|"
    "回|藏|苗|彝|壮|满|侗|瑶|白|傣|黎|佤|畲|水|羌|怒|京|土"
)
AUTONOMOUS = re.compile(rf"^(.{{2,}}?)(?:(?:{ETHNIC})族?)+自治(区|州|县|旗)$")
PROVINCE_PREFIX = re.compile(r"^(.{2,}?(?:省|自治区))(.{2,})$")
CITY_PREFIX = re.compile(r"^(.{2,}?(?:市|自治州|地区|盟))(.{2,})$")
TOWN_LEVEL = ("镇", "乡", "街道", "村", "办事处")
#: Administrative-code placeholders, not names (省直辖县级行政区划, 中沙群岛的岛礁及其海域). As a prefix
#: (省直辖县级行政区划天门市) the placeholder is removed and the rest is kept.
PLACEHOLDER = re.compile(r"行政区划|及其海域|直辖")
PLACEHOLDER_PREFIX = re.compile(r"^(?:省|自治区)?直辖县级行政区划")
ADMIN_SUFFIXES = ("区", "县", "市", "旗", "州", "盟", "地区", "省")
#: Functional zones: no short form is derived (兰州新区 -> 兰州 would be a city, not this zone).
NO_SHORT_FORM = ("新区", "开发区", "管理区", "园区", "城区", "郊区", "矿区", "林区", "示范区", "试验区")
#: Generic district names that exist in many cities: no short form (城关区 -> 城关, 市中区 -> 市中 would match
#: 城关镇 or 城市中心).
NO_SHORT_FORM_PREFIX = ("城", "市")
MUNICIPALITIES = ("北京市", "天津市", "上海市", "重庆市")

#: A place name tagged ns by jieba may be frequent (万州 106, 乌鲁木齐 435) -- up to this frequency. Above it
#: the everyday sense usually wins even for ns words (新建 1000, 江山 1224, 商城 1270, 中原 2825).
PLACE_NS_MAX_FREQ = 999

#: THUOCL_diming entries ending with a facility/organisation word are institutions, not places people name
#: as destinations in these tasks (市政府, 公安局, 某某小区); they are dropped from ``place``.
GENERIC_PLACE = (
    "医院", "学校", "学院", "大学", "中学", "小学", "法院", "政府", "市委", "县委", "公安局", "派出所", "小区", "社区",
    "办事处", "委员会", "居委会", "村委会", "管委会", "公司", "集团", "银行", "电视台", "工厂", "厂", "局", "所", "处",
)

#: Two-character relative locations and school nicknames in THUOCL_diming (东门, 北路, 南站, 三中, 四楼):
#: a direction or numeral followed by a generic place character. jieba tags many of them ns, so the
#: common-word rule alone keeps them.
RELATIVE_PLACE = re.compile(
    r"[东西南北中上下前后内外左右一二三四五六七八九十]"
    r"[门路街站中院口边头里城郊区部面侧岸楼坡脚]"
)


def place_ok(word: str, words: WordStats) -> bool:
    """Why a frequent place name may stay: jieba tags it as a place (ns: 万州, 乌鲁木齐 are frequent in
    jieba's news-based dictionary because they are places) and it is not very frequent (``PLACE_NS_MAX_FREQ``),
    or it is a full administrative name whose stem has >= 2 characters (安陆市, 海淀区). 城区, 矿区, 郊区
    (1-character stem, not ns) are generic."""
    if words.is_place_name(word) and words.freq(word) <= PLACE_NS_MAX_FREQ:
        return True
    suffix = next((s for s in ADMIN_SUFFIXES if word.endswith(s)), None)
    return suffix is not None and len(word) - len(suffix) >= 2


def short_form(name: str, suffixes: tuple[str, ...]) -> str | None:
    """Name without its administrative suffix (河北省 -> 河北, 临夏回族自治州 -> 临夏), or None if the
    remainder would be shorter than 2 characters (杭州 stays 杭州)."""
    m = AUTONOMOUS.match(name)
    if m:
        return m.group(1)
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return None


def split_district_line(line: str, cities: set[str]) -> tuple[str | None, str | None, str]:
    """(province, city, rest) of a cn_districts line such as 湖南省常德市安乡县 or 常德市津市市.

    A city prefix is only split off when it is a known city (``cities``), so 津市市 or 沙市区 on their own are
    never cut; a repeated prefix (张家口市张家口市察北管理区) is removed twice.
    """
    province = city = None
    m = PROVINCE_PREFIX.match(line)
    if m:
        province, line = m.group(1), m.group(2)
    line = PLACEHOLDER_PREFIX.sub("", line)
    while (m := CITY_PREFIX.match(line)) and m.group(1) in cities:
        city, line = m.group(1), m.group(2)
    return province, city, line


def build_location(ctx: BuildContext) -> DomainSpec:
    """province / city / district from the SMP2019 dictionaries, cn_districts.txt and SMP2019 slot values,
    plus derived short forms (北京<TAB>北京市) and a low-priority THUOCL_diming ``place`` slot.

    Provinces and cities come from curated dictionaries and annotated values, so only the general character
    rules apply to them. cn_districts.txt is a scraped mix: prefixed lines (常德市津市市,
    湖南省常德市安乡县) are split and only the last part is a district (the prefixes feed province/city);
    town-level names (镇, 乡, 街道) are not districts; names cut after 自治 (贡山独龙族怒族自治) are truncated;
    administrative-code placeholders (省直辖县级行政区划) are not names;
    bare short forms (定襄) become aliases of the full name when it exists. Districts are a noisy source:
    the common-word rule applies, with ``place_ok`` as the exemption (城区, 矿区 go; 安陆市 stays), and derived
    short forms must be rare words or moderately frequent ns words (江宁, 万州 stay; 新建, 资源, 比如 go) and
    must not be a province/city surface (``alias_shadowed``).
    """
    district_lines = [clean(x) for x in ctx.lines(DISTRICTS)]
    places = Policy(common_freq=COMMON_WORD_FREQ, common_ok=lambda w: place_ok(w, ctx.words))
    province = SlotBuilder(ctx, "location", "province", RELIABLE)  # curated, short forms included
    city = SlotBuilder(ctx, "location", "city", RELIABLE)
    district = SlotBuilder(ctx, "location", "district", places)

    province.add(ctx.lines(f"{SMP2019_DIC}/province.txt"), reliable=True)
    province.add(ctx.smp2019_slots(None, ["location_province", "startLoc_province", "endLoc_province"]), True)
    city_dic = ctx.lines(f"{SMP2019_DIC}/city.txt")
    city.add(city_dic, reliable=True)
    city.add(ctx.smp2019_slots(None, ["location_city", "startLoc_city", "endLoc_city"]), reliable=True)

    # city prefixes: known cities plus prefixes used by >= 2 district lines (日喀则市桑珠孜区, ...)
    prefix_counts: Counter[str] = Counter()
    for line in district_lines:
        m = PROVINCE_PREFIX.match(line)
        rest = m.group(2) if m else line
        if m:
            province.add([m.group(1)], reliable=True)
        m = CITY_PREFIX.match(rest)
        if m:
            prefix_counts[m.group(1)] += 1
    known_cities = {clean(c) for c in city_dic} | set(MUNICIPALITIES)
    known_cities |= {p for p, n in prefix_counts.items() if n >= 2}
    city.add(sorted(known_cities), reliable=True)

    parts = [split_district_line(line, known_cities) for line in district_lines]
    rests = {rest for _, _, rest in parts}
    city_surfaces = city.finalize() | province.finalize()
    city_surfaces |= {s for n in city_surfaces if (s := short_form(n, ("市", "地区", "盟", "省"))) is not None}
    bare_short_forms: dict[str, str] = {}
    for p, c, rest in parts:
        if not rest:
            district.drop("district_placeholder", "省直辖县级行政区划")
            continue
        full = next((rest + s for s in ("县", "区", "市", "旗") if rest + s in rests), None)
        if rest in city_surfaces or (p is None and c is None and rest in known_cities):
            district.drop("district_is_city", rest)
        elif rest.endswith(TOWN_LEVEL):
            district.drop("district_town_level", rest)
        elif rest.endswith("自治"):
            district.drop("district_truncated", rest)
        elif PLACEHOLDER.search(rest):
            district.drop("district_placeholder", rest)
        elif not rest.endswith(("区", "县", "市", "旗")) and full is not None:
            bare_short_forms[rest] = full  # 定襄 next to 定襄县: an alias, added below
        else:
            district.add([rest], reliable=False)
    district.add(ctx.smp2019_slots(None, ["location_area", "startLoc_area", "endLoc_area"]), reliable=True)

    # derived short forms
    for name in province.finalize():
        if (short := short_form(name, ("特别行政区", "省"))) is not None:
            province.add_alias(short, name)
    for name in city.finalize():
        if (short := short_form(name, ("市", "地区", "盟", "州"))) is not None:
            city.add_alias(short, name)
    for name in district.finalize():
        if name.endswith(NO_SHORT_FORM) or name.startswith(NO_SHORT_FORM_PREFIX):
            continue
        if (short := short_form(name, ("区", "县", "市"))) is not None:
            district.add_alias(short, name)
    for short, name in sorted(bare_short_forms.items()):
        district.add_alias(short, name)
    higher = province.surfaces() | city.surfaces()
    specs = [
        slot_spec(province, 100, "provinces and autonomous regions; short forms as aliases"),
        slot_spec(city, 99, "prefecture-level cities (and the four municipalities); short forms as aliases"),
        slot_spec(district, 90, "counties, districts, county-level cities and zones", blocked=higher.__contains__),
    ]
    ctx.place_names = {line.split("\t")[0] for spec in specs for lines in spec.files.values() for line in lines}

    # THUOCL_diming: low-priority catch-all. Measured on a sample, half of its frequent entries are generic
    # facilities (人才市场, 交警队, 培训中心); only entries jieba also tags as place names (ns) are kept.
    place = SlotBuilder(
        ctx, "location", "place", Policy(COMMON_WORD_FREQ, lambda w: ctx.words.is_place_name(w), phrase_check=True)
    )
    covered = ctx.place_names
    for word, df in ctx.thuocl("diming"):
        word = clean(word)
        if df < THUOCL_MIN_DF["diming"]:
            place.drop("thuocl_rare", word)
        elif word in covered:
            place.drop("place_is_location", word)
        elif word.endswith(GENERIC_PLACE):
            place.drop("place_generic_facility", word)
        elif RELATIVE_PLACE.fullmatch(word):
            place.drop("place_relative", word)
        elif not ctx.words.is_place_name(word):
            place.drop("place_not_ns", word)  # 人才市场, 培训中心, 开新, 五等: generic or unknown
        else:
            place.add([word], reliable=False)

    return DomainSpec(
        "location",
        "Chinese provinces, prefecture-level cities, counties/districts (with short forms) and other places.",
        "nlu/smp2019/dic/{province,city}.txt; nlu/smp2019/train.json location slot values; "
        "entities/places/cn_districts.txt; entities/thuocl/THUOCL_diming.txt (place)",
        f"{LICENSE_SMP2019}; {LICENSE_PLACES}; {LICENSE_THUOCL} (place)",
        [*specs, slot_spec(place, 20, "other place names from THUOCL_diming (frequent ones only); lowest priority")],
    )
