"""Traditional <-> Simplified with OpenCC, after the desk's glossary."""

from __future__ import annotations

import pytest

from support.workspace import DATA, MINIMAL_CONFIG

from gbaletter.config import parse_config
from gbaletter.content.conversion import Glossary, ScriptConverter, load_glossary
from gbaletter.errors import GbaletterError

GLOSSARY = load_glossary(DATA / "glossary.yaml")
# Characters only Traditional writes: none may be left in a Simplified text.
TRADITIONAL_ONLY = set("橫粵區門於東來餘鰂魚與為這說們會發體廣場車請讀續閱覽")


def test_the_glossary_spells_names_opencc_gets_wrong():
    plain = ScriptConverter(Glossary())
    assert plain.convert("于东来和余先生", "zh-Hant") == "於東來和餘先生"  # OpenCC alone
    desk = ScriptConverter(GLOSSARY)
    assert desk.convert("于东来和余先生到横琴粤澳深度合作区", "zh-Hant") == "于東來和余先生到橫琴粵澳深度合作區"
    assert desk.convert("橫琴粵澳深度合作區的于東來", "zh-Hans") == "横琴粤澳深度合作区的于东来"


def test_simplified_derived_from_traditional_keeps_no_traditional_character():
    text = ("澳門輕軌氹仔線延伸至橫琴粵澳深度合作區，于東來說：「這會為兩地居民帶來方便。」"
            "鰂魚涌的讀者請繼續閱讀。")
    simplified = ScriptConverter(GLOSSARY).convert(text, "zh-Hans")
    assert simplified == ("澳门轻轨氹仔线延伸至横琴粤澳深度合作区，于东来说：「这会为两地居民带来方便。」"
                          "鲗鱼涌的读者请继续阅读。")
    assert not set(simplified) & TRADITIONAL_ONLY


def test_the_configuration_decides_the_usage():
    assert ScriptConverter(GLOSSARY).convert("软件和网络", "zh-Hant") == "軟件和網絡"  # Hong Kong
    assert ScriptConverter(GLOSSARY, to_hant="s2twp").convert("软件和网络", "zh-Hant") == "軟體和網路"  # Taiwan


def test_a_longer_name_wins_over_a_name_inside_it():
    glossary = Glossary((("合作區", "合作区X"), ("橫琴粵澳深度合作區", "横琴粤澳深度合作区")))
    assert ScriptConverter(glossary).convert("橫琴粵澳深度合作區與合作區", "zh-Hans") == "横琴粤澳深度合作区与合作区X"


@pytest.mark.parametrize("text, message", [
    ("- zh-Hant: 澳門\n", "entry 1 must have exactly zh-Hant and zh-Hans"),
    ("zh-Hant: 澳門\n", "must be a list of entries"),
    ("- zh-Hant: 澳門\n  zh-Hans: [\n", "glossary.yaml:3: invalid YAML"),
])
def test_a_bad_glossary_is_one_line_naming_the_file(tmp_path, text, message):
    path = tmp_path / "glossary.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GbaletterError) as info:
        load_glossary(path)
    assert message in str(info.value) and "glossary.yaml" in str(info.value) and "\n" not in str(info.value)


def test_no_glossary_file_is_an_empty_glossary(tmp_path):
    assert load_glossary(tmp_path / "glossary.yaml") == Glossary()


def test_an_opencc_configuration_writing_the_wrong_script_is_refused():
    with pytest.raises(GbaletterError) as info:
        parse_config(MINIMAL_CONFIG + "\n[editions]\nto_hans = 's2hk'\n")
    assert str(info.value) == ("gbaletter.toml [editions]: 'to_hans' must be one of hk2s, t2s, tw2s, tw2sp, "
                               "not 's2hk'")
