"""docs/checks.md lists exactly the rules of `issue check`, as the registry defines them."""

from __future__ import annotations

import re

from support.workspace import REPO

from gbaletter.issue.check import ERROR, RULES, WARNING

CHECKS_DOC = REPO / "docs" / "checks.md"


def documented_rows() -> dict[str, tuple[str, str, str]]:
    """code -> (severity, threshold, what it finds) from the table in docs/checks.md."""
    rows = re.findall(r"^\| `([a-z-]+)` \| (.*?) \| (.*?) \| (.*) \|$",
                      CHECKS_DOC.read_text(encoding="utf-8"), re.M)
    return {code: (severity, "" if threshold == "-" else threshold, finds)
            for code, severity, threshold, finds in rows}


def test_every_rule_is_documented_and_every_documented_rule_exists():
    documented = documented_rows()
    assert sorted(set(RULES) - set(documented)) == [], "rules missing from docs/checks.md"
    assert sorted(set(documented) - set(RULES)) == [], "docs/checks.md lists rules that do not exist"


def test_the_table_says_what_the_registry_says():
    for code, (severity, threshold, finds) in documented_rows().items():
        rule = RULES[code]
        assert (severity, threshold, finds) == (rule.severity, rule.threshold_text(), rule.doc), code


def test_each_rule_has_a_severity_a_one_line_doc_and_a_why():
    why = CHECKS_DOC.read_text(encoding="utf-8").split("## Why these thresholds", 1)[1]
    for rule in RULES.values():
        assert rule.severity in (ERROR, WARNING) and rule.doc and "\n" not in rule.doc
        assert re.search(rf"\*\*[^*]*\b{rule.code}\b[^*]*\*\*", why), f"{rule.code}: no why"
