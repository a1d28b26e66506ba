"""gbaletter.toml is validated strictly: every mistake is named."""

import pytest

from support.workspace import MINIMAL_CONFIG
from gbaletter.config import Config, load_workspace, parse_config
from gbaletter.errors import GbaletterError


def test_minimal_config_fills_defaults(workspace, monkeypatch):
    monkeypatch.delenv("GBALETTER_DATABASE_URL", raising=False)  # set on a PostgreSQL run
    cfg = workspace.config
    assert cfg.newsletter.name == "Test Weekly"
    assert cfg.newsletter.timezone == "Asia/Hong_Kong"
    assert cfg.smtp.concurrency == Config().smtp.concurrency
    assert workspace.database_url.startswith("sqlite:///") and workspace.database_url.endswith(
        "subscribers/gbaletter.db")


@pytest.mark.parametrize("text, message", [
    ("[newsletter]\nnmae = 'x'\n", "[newsletter]: unknown key 'nmae'"),
    ("[smtp]\nport = '25'\n", "[smtp]: 'port' must be an integer, not '25'"),
    ("[smtp]\nport = true\n", "'port' must be an integer"),
    ("[smtp]\npassword = 'hunter2'\n", "'password' must not be stored in the file"),
    ("[smtp]\ntls = 'ssl'\n", "'tls' must be starttls, tls or none"),
    ("[newsletter]\ntimezone = 'Mars/Olympus'\n", "unknown timezone 'Mars/Olympus'"),
    ("[newsletter]\ndefault_tags = 'tech'\n", "'default_tags' must be a list of strings"),
    ("[mailer]\nx = 1\n", "unknown section [mailer]"),
    ("[fetch]\nallow_networks = ['intranet']\n", "[fetch]: 'allow_networks' must list IP addresses or networks"),
    ("[fetch]\ndeadline = 0\n", "[fetch]: 'deadline' and 'max_bytes' must be more than 0"),
    ("[images]\nbase_url = 'static.example.org'\n", "[images]: 'base_url' must be an http(s) address"),
    ("[newsletter]\nbase_url = 'gba.example.org/newsletter'\n", "'base_url' must be an http(s) address"),
    ("[newsletter]\nbase_url = 'https://gba.example.org/?utm=1'\n", "'base_url' must be an http(s) address"),
    ("[newsletter]\nwelcome_email = 'yes'\n", "'welcome_email' must be true or false, not 'yes'"),
    ("[web]\ntrusted_proxies = ['nginx']\n", "[web]: 'trusted_proxies' must list IP addresses or networks "
                                            "(e.g. 10.0.0.0/8), not 'nginx'"),
    ("[web]\ntrusted_proxies = '127.0.0.1'\n", "'trusted_proxies' must be a list of strings"),
    ("[newsletter\n", "gbaletter.toml: "),
    ("[smtp]\nbreaker = -1\n", "[smtp]: 'breaker' must be 0 (off) or more"),
    ("[smtp]\nrelay_backoff = 0\n", "[smtp]: 'relay_backoff' must be more than 0 seconds"),
    ("[smtp]\ntimeout = -5\n", "[smtp]: 'timeout' must be more than 0 seconds"),
    ("[smtp]\nlease = 0\n", "[smtp]: 'lease' must be more than 0 seconds"),
    ("[sections]\nfeature = 'Top'\n", "[sections]: unknown key 'feature'"),
    ("[kickers]\n5g = ''\n", "[kickers]: '5g' must be a section name (text), not ''"),
    ("[kickers]\nfinance = ['Money']\n", "[kickers]: 'finance' must be a section name (text), not ['Money']"),
    ("kickers = 'tech'\n", "[kickers] must be a table of tag = \"Section name\""),
    ("[web]\nconfirmations_per_network = -1\n", "[web]: 'confirmations_per_network' must be 0 or more"),
    ("[web]\nembed_origins = ['https://desk.example.org/news']\n",
     "[web]: 'embed_origins' must list origins like https://desk.example.org (no path)"),
    ("[web]\nembed_origins = ['desk.example.org']\n", "'embed_origins' must list origins"),
    ("[topics]\ntechnology = 3\n", "[topics]: 'technology' must be a one-line name, or a table of one "
                                     "per language (en = \"...\"), not 3"),
    ("[topics]\nTechnology = 'Tech'\n", "[topics]: 'Technology' is not a tag as stored"),
    ("topics = 1\n", "[topics] must be a table"),
    ("[newsletter]\nlanguages = ['en', 'zh-TW']\n",
     "gbaletter.toml:2 [newsletter]: 'languages': unknown language 'zh-TW' (known: en, zh-Hant, zh-Hans)"),
    ("[newsletter]\nlanguages = []\n", "[newsletter]: 'languages': must list at least one language"),
    ("[newsletter]\nlanguages = ['en', 'en']\n", "'languages': a language is listed twice"),
    ("[newsletter]\nlanguage = 'en'\nlanguages = ['en']\n", "'language' and 'languages' both set"),
])
def test_bad_config_is_named(text, message):
    with pytest.raises(GbaletterError) as info:
        parse_config(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_topics_and_embed_origins():
    config = parse_config("[web]\nembed_origins = ['https://desk.example.org']\n"
                          "[topics]\ntechnology = ' Technology '\n5g = '5G'\n")
    assert config.web.embed_origins == ["https://desk.example.org"]
    assert config.topics == {"technology": {"en": "Technology"}, "5g": {"en": "5G"}}


def test_topics_are_named_in_every_language_of_the_desk():
    config = parse_config("[topics]\ntechnology = 'Technology'\n"
                          "finance = { en = 'Finance', zh-HK = ' 財經 ', zh-CN = '财经' }\n"
                          "[newsletter]\nlanguages = ['en', 'zh-Hant', 'zh-Hans']\n")
    assert config.topics["finance"] == {"en": "Finance", "zh-Hant": "財經", "zh-Hans": "财经"}
    assert config.topic_names("zh-Hant") == {"technology": "Technology", "finance": "財經"}
    assert config.topic_names("fr") == {"technology": "Technology", "finance": "Finance"}  # the default's


@pytest.mark.parametrize("topics, message", [
    ("finance = { en = 'Finance' }", "gbaletter.toml:4 [topics]: 'finance' has no name in zh-Hant"),
    ("finance = { en = 'Finance', zh-Hant = '財經', fr = 'Finance' }",
     "gbaletter.toml:4 [topics]: 'finance': unknown language 'fr': the desk's languages are en, zh-Hant"),
    ("finance = { en = 'Finance', zh-Hant = '' }", "gbaletter.toml:4 [topics]: 'finance' must be a one-line name"),
    ("finance = { en = 'Finance', zh-Hant = '財經', zh-HK = '財經' }",
     "gbaletter.toml:4 [topics]: 'finance' names zh-Hant twice (zh-HK)"),
    ("Finance = 'Finance'", "gbaletter.toml:4 [topics]: 'Finance' is not a tag as stored"),
])
def test_bad_topics_are_named_with_their_line(topics, message):
    with pytest.raises(GbaletterError) as info:
        parse_config(f"[newsletter]\nlanguages = ['en', 'zh-Hant']\n[topics]\n{topics}\n")
    assert str(info.value).startswith(message)
def test_languages_first_is_the_default_and_one_language_still_reads():
    desk = parse_config("[newsletter]\nlanguages = ['zh-Hant', 'zh-Hans', 'en']\n").newsletter
    assert (desk.languages, desk.language) == (["zh-Hant", "zh-Hans", "en"], "zh-Hant")
    assert parse_config("[newsletter]\nlanguage = 'zh-Hans'\n").newsletter.languages == ["zh-Hans"]
    assert parse_config("").newsletter.languages == ["en"]


def test_integer_accepted_for_float():
    assert parse_config("[smtp]\nrate = 50\n").smtp.rate == 50.0


def test_cli_reports_bad_config_in_one_line(workspace_dir, run_cli):
    (workspace_dir / "gbaletter.toml").write_text(MINIMAL_CONFIG + "\n[paths]\npostz = 'x'\n")
    result = run_cli(workspace_dir, "posts", "list")
    assert result.exit_code == 1
    assert result.error_lines == [
        "error: gbaletter.toml [paths]: unknown key 'postz' (known: briefs, issues, posts, templates)"]


def test_an_unknown_language_of_the_desk_is_one_line_naming_its_line(workspace_dir, run_cli):
    config = MINIMAL_CONFIG.replace("[newsletter]\n", "[newsletter]\nlanguages = ['en', 'zh-Hant', 'fr']\n")
    (workspace_dir / "gbaletter.toml").write_text(config, encoding="utf-8")
    result = run_cli(workspace_dir, "subscribers", "add", "chan.tai.man@example.com")
    assert (result.exit_code, result.error_lines) == (1, [
        "error: gbaletter.toml:2 [newsletter]: 'languages': unknown language 'fr' (known: en, zh-Hant, zh-Hans)"])
    assert list((workspace_dir / "subscribers").iterdir()) == []  # no database made


def test_missing_workspace_is_explained(tmp_path, run_cli):
    result = run_cli(tmp_path, "posts", "list")
    assert result.exit_code == 1
    assert "is it a gbaletter workspace" in result.stderr or "no such file" in result.stderr


def test_root_from_environment(workspace_dir, monkeypatch):
    monkeypatch.setenv("GBALETTER_ROOT", str(workspace_dir))
    assert load_workspace().root == workspace_dir.resolve()
