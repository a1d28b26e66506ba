"""The reports read right: labels fitted between words, legends off the data, complaints on their own
scale, times in the workspace's zone, stories in the email's order, the list's size from the
subscriber events, and both pages at 375 px without anything wider than the screen."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from lxml import etree
from lxml import html as lxml_html
from rich.cells import cell_len
from sqlalchemy import update

from gbaletter.db import open_database
from gbaletter.delivery.models import Send
from gbaletter.issue.browser import chromium
from gbaletter.report import charts
from gbaletter.report.labels import fit_label
from gbaletter.report.numbers import list_report
from gbaletter.subscribers.models import Status
from gbaletter.subscribers.service import add_subscriber, change_status, resubscribe, set_status
from support.tracking import ISSUE, send_tracked

PHONE_OVERFLOW = Path(charts.__file__).parents[1] / "issue" / "phone_overflow.js"
ENGLISH = "The Bay Area files more patents than anyone. That is not the whole story of innovation"
CHINESE = "粤港澳大湾区的专业镇需要更好的信贷支持，深圳港口试用第五代移动通信网络技术，澳门轻轨即将通车"
# 04:30 on 1 July in Hong Kong (the sample's zone) is still 30 June in UTC
FIRST_SENT = datetime(2019, 6, 30, 20, 30, tzinfo=UTC)
READERS = {f"reader{n}@example.com": f"Reader {n}" for n in range(3)}


def _svg(markup: str):
    return etree.fromstring(markup.encode())


def _by_id(svg, gid: str):
    return svg.xpath("//*[@id=$gid]", gid=gid)


def _text_lines(group) -> list[str]:
    return [t.text for t in group.iter("{*}text")]


def _axes_box(axes_group) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of an axes group's background patch, in SVG units."""
    path = axes_group.xpath("./*[local-name()='g'][1]/*[local-name()='path']/@d")[0]
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", path)]
    xs, ys = numbers[0::2], numbers[1::2]
    return min(xs), min(ys), max(xs), max(ys)


def _legend_ys(legend) -> list[float]:
    ys = [float(y) for y in re.findall(r"translate\([-\d.]+ ([-\d.]+)\)", etree.tostring(legend, encoding=str))]
    for d in legend.xpath(".//*[local-name()='path']/@d"):
        ys += [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", d)][1::2]
    for y in legend.xpath(".//*[local-name()='use']/@y"):
        ys.append(float(y))
    return ys


@pytest.mark.parametrize("narrow", [False, True])
def test_story_labels_end_between_words_in_english_and_chinese(narrow):
    svg = _svg(charts.clicks_by_story([ENGLISH, CHINESE, "Short"], [3, 1, 0], [1, 2, 0], narrow=narrow))
    ticks = [_text_lines(tick) for tick in svg.xpath("//*[starts-with(@id, 'ytick_')]")]
    english, chinese, short = ticks
    assert short == ["Short"]
    cells = charts.STORY_LABEL_CELLS[narrow]
    words = ENGLISH.split()
    shown = " ".join(english).removesuffix("…").split()
    assert english[-1].endswith("…") and shown == words[:len(shown)], english  # whole words, in order
    assert " ".join(chinese).replace(" ", "").removesuffix("…") in CHINESE and chinese[-1].endswith("…")
    assert all(cell_len(line) <= cells for line in english + chinese), (english, chinese)
    assert len(english) == len(chinese) == 2


def test_a_word_wider_than_a_line_is_kept_whole():
    svg = _svg(charts.clicks_by_story(["Supercalifragilisticexpialidocious-ness of it"], [1], [0]))
    [tick] = [_text_lines(t) for t in svg.xpath("//*[starts-with(@id, 'ytick_')]")]
    assert tick == ["Supercalifragilisticexpialidocious-", "ness of it"]


def _every_chart(narrow: bool) -> dict[str, str]:
    hours = [5, 9, 7] + [1] * 69
    moments = [datetime(2019, 6, day, tzinfo=UTC) for day in (1, 10, 20)]
    return {
        "stories": charts.clicks_by_story(["A", "B", "C"], [40, 30, 35], [38, 33, 36], narrow=narrow),
        "hours": charts.clicks_over_time(hours, hours, FIRST_SENT, narrow=narrow),
        # an issue sent in three editions: the people split by edition, a longer legend
        "stories by edition": charts.clicks_by_story(
            ["A", "B", "C"], [40, 30, 35], [38, 33, 36],
            {"en": [20, 10, 5], "zh-Hant": [10, 10, 25], "zh-Hans": [10, 10, 5]}, narrow=narrow),
        "hours by edition": charts.clicks_over_time(hours, hours, FIRST_SENT, {"en": hours, "zh-Hant": [0] * 72},
                                                    narrow=narrow),
        "rates": charts.rates(["2019-W26", "2019-W27"], {"bounces": [0.05, 0.06], "unsubscribes": [0.2, 0.01]},
                              [0.001, 0.004], 0.003, narrow=narrow),
        "size": charts.active_subscribers(moments, [10, 40, 35], FIRST_SENT.tzinfo, narrow=narrow),
    }


@pytest.mark.parametrize("narrow", [False, True])
def test_every_legend_sits_above_its_axes_not_on_the_data(narrow):
    """The data fill the axes up to their top corners (bars and points as high as the scale goes),
    so a legend anywhere inside would cover some: each is wholly above its axes instead."""
    legends = 0
    for name, markup in _every_chart(narrow).items():
        for legend in _by_id(_svg(markup), "legend"):
            _, top, _, _ = _axes_box(legend.getparent())
            ys = _legend_ys(legend)
            assert ys and max(ys) < top, (name, max(ys), top)
            legends += 1
    assert legends == 6  # stories and hours (each also by edition), and the two panels of the rates


def test_complaints_have_their_own_panel_where_the_threshold_line_shows():
    """Unsubscribes at 20 % would put a 0.3 % line at the floor of a shared scale; on the complaints'
    own panel the line stands well clear of the bottom."""
    svg = _svg(charts.rates(["2019-W26", "2019-W27", "2019-W28"],
                            {"bounces": [0.01, 0.02, 0.01], "unsubscribes": [0.2, 0.05, 0.03]},
                            [0.0, 0.001, 0.002], 0.003))
    [panel] = _by_id(svg, "complaints")
    _, top, _, bottom = _axes_box(panel)
    [line] = _by_id(svg, "complaint-threshold")
    d = line.xpath(".//*[local-name()='path']/@d")[0]
    y = float(re.findall(r"-?\d+(?:\.\d+)?", d)[1])
    assert (bottom - y) / (bottom - top) > 0.3
    assert "complaints" in _text_lines(panel) and not any("unsubscribes" in t for t in _text_lines(panel))


def test_list_size_is_active_subscribers_from_the_events(workspace):
    """Joins, a confirmation, an unsubscribe, a bounce and a resubscribe, each at its time; a
    subscriber added unconfirmed counts from the confirmation, not from the row's creation."""
    db = open_database(workspace)
    start = datetime(2019, 6, 1, 2, 0, tzinfo=UTC)
    at = [start + timedelta(days=n) for n in range(6)]
    try:
        with db.session() as session:
            for n in range(3):
                add_subscriber(session, f"reader{n}@example.com", when=at[0])
            waiting = add_subscriber(session, "late@example.com", status=Status.UNCONFIRMED, when=at[0])
            change_status(session, waiting, Status.ACTIVE, actor="web:confirm", when=at[1])
            reader9 = add_subscriber(session, "reader9@example.com", when=at[2])
            change_status(session, reader9, Status.UNSUBSCRIBED, actor="web:one-click", when=at[3])
        with db.session() as session:
            set_status(session, "reader1@example.com", Status.BOUNCED, actor="bounces")
            resubscribe(session, "reader9@example.com", actor="admin")
        now = datetime(2030, 1, 1, tzinfo=UTC)
        report = list_report(workspace, db, now=now)
    finally:
        db.dispose()
    counts = [n for _, n in report.active]
    assert counts[:4] == [3, 4, 5, 4]  # the joins, the confirmation, a join, the unsubscribe
    assert counts[-1] == report.active_now == 4  # then a bounce and a resubscribe; now
    assert report.active[0][0] == at[0].astimezone(workspace.tz) and report.active[-1][0].tzinfo == workspace.tz
    assert report.issues == []


@pytest.fixture
def reports(sample_workspace, mail_env, run_cli):
    """The sample issue with its posts and briefs in another order than their ids', sent, its first
    send moved to FIRST_SENT; both reports made by the CLI."""
    manifest_file = sample_workspace / "issues" / ISSUE / "issue.yaml"
    manifest = yaml.safe_load(manifest_file.read_text(encoding="utf-8"))
    manifest["posts"].reverse()
    manifest["briefs"] = manifest["briefs"][3:] + manifest["briefs"][:3]
    manifest_file.write_text(yaml.safe_dump(manifest, allow_unicode=True), encoding="utf-8")
    sent = send_tracked(sample_workspace, mail_env, run_cli, READERS, 'clicks = "on"')
    with sent.db.session() as session:
        session.execute(update(Send).where(Send.issue_id == ISSUE).values(started_at=FIRST_SENT))
    sent.db.dispose()
    issue = run_cli(sample_workspace, "issue", "report", ISSUE)
    across = run_cli(sample_workspace, "report")
    assert issue.exit_code == 0 and across.exit_code == 0, issue.stderr + across.stderr
    pages = {"issue": sample_workspace / "issues" / ISSUE / "report.html",
             "list": sample_workspace / "issues" / "report.html"}
    return manifest, pages, issue.output + across.output


def test_stories_come_in_the_order_of_the_email(reports):
    manifest, pages, _ = reports
    doc = lxml_html.fromstring(pages["issue"].read_text(encoding="utf-8"))
    rows = doc.xpath("//table[@id='stories']/tbody/tr")
    stories = [row.get("data-story") for row in rows if row.xpath("td[1]")[0].text != "intro"]
    assert stories[:len(manifest["featured"] + manifest["posts"] + manifest["briefs"])] == \
        manifest["featured"] + manifest["posts"] + manifest["briefs"]
    titles = [row.xpath("td[@class='title']")[0].text for row in rows]
    svg = _svg(lxml_html.tostring(doc.xpath("//svg[contains(@class, 'wide')]")[0], encoding=str))
    labels = [" ".join(_text_lines(tick)) for tick in svg.xpath("//*[starts-with(@id, 'ytick_')]")]
    assert len(labels) == len(titles)
    for label, title in zip(labels, titles, strict=True):  # each label the start of its row's title
        assert title.replace(" ", "").startswith(label.removesuffix("…").replace(" ", "")), (label, title)


def test_times_are_in_the_workspace_zone_in_terminal_page_and_charts(reports):
    _, pages, output = reports
    issue_page = pages["issue"].read_text(encoding="utf-8")
    list_page = pages["list"].read_text(encoding="utf-8")
    doc = lxml_html.fromstring(issue_page)
    assert doc.get_element_by_id("first-sent").text == "2019-07-01 04:30 HKT"
    assert "hours after the send started, 2019-07-01 04:30 HKT" in issue_page  # the 72-hour chart's axis
    [row] = lxml_html.fromstring(list_page).xpath("//table[@id='issues']/tbody/tr")
    assert row.xpath("td/time")[0].text == "2019-07-01 04:30"
    rates = _svg(lxml_html.tostring(lxml_html.fromstring(list_page).xpath("//svg[contains(@class, 'wide')]")[1],
                                    encoding=str))
    [panel] = _by_id(rates, "complaints")
    assert ["2019-W26", "2019-07-01"] in [_text_lines(t) for t in panel.xpath(".//*[starts-with(@id, 'xtick_')]")]
    assert output.count("2019-07-01 04:30 HKT") == 2 and "20:30" not in output  # issue report, list
    assert "UTC" not in issue_page + list_page + output


def _phone(page, path: Path, width: int, shot: Path) -> dict:
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(path.as_uri())
    result = page.evaluate(PHONE_OVERFLOW.read_text(encoding="utf-8"))
    result["tables"] = page.evaluate("""() => [...document.querySelectorAll('table')].map(t => ({
        right: t.getBoundingClientRect().right, inner: t.parentElement.scrollWidth - t.parentElement.clientWidth}))""")
    result["charts"] = page.evaluate("""() => [...document.querySelectorAll('svg.chart')].map(s => ({
        shape: s.classList.contains('narrow') ? 'narrow' : 'wide', width: s.getBoundingClientRect().width}))""")
    page.screenshot(path=str(shot), full_page=True)
    return result


@pytest.mark.usefixtures("chromium")
def test_both_reports_fit_a_phone_and_a_desk(reports, tmp_path):
    _, pages, _ = reports
    with chromium() as browser:
        page = browser.new_page()
        for name, path in pages.items():
            for width in (375, 800):
                shot = tmp_path / f"{name}-{width}.png"
                result = _phone(page, path, width, shot)
                assert result["scrollWidth"] <= result["limit"] == width and result["widest"] is None, result
                # no table wider than the screen, nor scrolled inside its box
                assert all(t["right"] <= width and t["inner"] == 0 for t in result["tables"]), result["tables"]
                shown = [c for c in result["charts"] if c["width"] > 0]
                assert len(shown) == 2 and {c["shape"] for c in shown} == {"narrow" if width < 500 else "wide"}
                assert all(c["width"] <= width for c in shown)
                assert shot.stat().st_size > 10_000


@pytest.mark.parametrize("width", range(6, 24))
def test_chinese_labels_keep_punctuation_with_its_neighbour(width):
    """No line starts with a closing mark (，」) or ends with an opening one (「); what is shown is the
    title's start, each line within `width` display cells."""
    title = "澳门轻轨「氹仔线」即将通车，深圳港口试用５Ｇ网络技术。"
    lines = fit_label(title, width).split("\n")
    assert len(lines) <= 2 and all(cell_len(line) <= width for line in lines), lines
    assert not any(line[0] in "，。」" or line.removesuffix("…")[-1] in "「" for line in lines), lines
    assert title.startswith("".join(lines).removesuffix("…"))
