"""`--help` answers without loading what the commands use (issue 22: an editor runs these all day).

Each `--help` runs in a new interpreter and `sys.modules` is read after it: neither SQLAlchemy
nor the build stack nor any other heavy library may be among them. The timing targets themselves
are measured by `python -m bench startup`, not here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from gbaletter.cli import cli
from support.imports import (BUILD_STACK, CHECKER, DATABASE_ENGINE, OTHER_HEAVY, loaded_from,
                             modules_loaded)

HEAVY = (*DATABASE_ENGINE, *BUILD_STACK, *CHECKER, *OTHER_HEAVY)


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every group and command under `group`, as the words that name it."""
    context = click.Context(group)
    paths = []
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None, name
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths += _command_paths(command, (*prefix, name))
    return paths


COMMANDS = _command_paths(cli)


def test_every_group_and_command_is_walked():
    assert {("issue",), ("issue", "build"), ("issue", "send"), ("subscribers", "import"), ("serve",),
            ("db", "upgrade")} <= set(COMMANDS)


@pytest.mark.parametrize("words", [(), *COMMANDS], ids=lambda words: " ".join(words) or "gbaletter")
def test_help_loads_nothing_heavy(words: tuple[str, ...], tmp_path: Path):
    modules = modules_loaded([*words, "--help"], tmp_path)
    assert "click" in modules  # it did run
    assert loaded_from(modules, HEAVY) == []


def test_running_a_command_does_load_what_it_uses(sample_workspace: Path, tmp_path: Path):
    """The check above can fail: the same reading of `sys.modules` sees a build load its stack."""
    modules = modules_loaded(["--root", str(sample_workspace), "issue", "build", "2019-W26"], tmp_path)
    assert (sample_workspace / "issues" / "2019-W26" / "build" / "email.html").is_file()
    assert set(loaded_from(modules, BUILD_STACK)) >= {"jinja2", "mjml", "premailer", "lxml"}


def test_a_build_with_its_images_cached_loads_no_http_client_nor_pillow(sample_workspace: Path, tmp_path: Path):
    """The first build resizes the sample's images (Pillow) into the cache; the next one finds
    them there and downloads nothing, so it loads neither Pillow nor an HTTP client (premailer's
    `requests` stays a stand-in: issue/offline_premailer.py) nor `gbaletter.fetch`."""
    args = ["--root", str(sample_workspace), "issue", "build", "2019-W26"]
    assert "PIL.Image" in modules_loaded(args, tmp_path)
    modules = modules_loaded(args, tmp_path)
    assert "premailer" in modules and (sample_workspace / "issues/2019-W26/build/email.html").is_file()
    assert loaded_from(modules, ("PIL", "urllib3", "requests.sessions", "httpcore", "httpx",
                                 "gbaletter.fetch")) == []


def test_the_requests_stand_in_becomes_the_real_package_when_used():
    """Code that does use `requests` after a build (premailer allowed to download, a plug-in) gets
    the real package: the first attribute read imports it and `sys.modules` then holds it."""
    script = ("import sys, types, gbaletter.issue.offline_premailer, premailer.premailer as p\n"
              "assert 'urllib3' not in sys.modules\n"
              "import requests\n"
              "from requests.adapters import HTTPAdapter\n"
              "print(p.requests.codes.ok, type(sys.modules['requests']) is types.ModuleType,"
              " sys.modules['requests'].Session is requests.Session, HTTPAdapter.__name__)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["200", "True", "True", "HTTPAdapter"]


def test_a_build_loads_no_url_fetcher_nor_babel_nor_opencc(sample_workspace: Path, tmp_path: Path):
    """cssutils' URL fetcher (`urllib.request`, `importlib.metadata`, `encutils`) stays a stand-in
    and its App Engine fetcher is not tried (issue/offline_premailer.py), an English build writes
    its days without Babel and converts no Chinese (OpenCC), and the browser checks' files are
    read only by the browser checks: none of what those would import is loaded."""
    modules = modules_loaded(["--root", str(sample_workspace), "issue", "build", "2019-W26"], tmp_path)
    assert "premailer" in modules and (sample_workspace / "issues/2019-W26/build/email.html").is_file()
    assert loaded_from(modules, ("http", "email", "html.parser", "zipfile", "csv", "ssl", "babel", "opencc",
                                 "importlib.resources", "importlib.metadata._meta")) == []


def test_cssutils_fetcher_stand_ins_become_the_real_modules_when_used(tmp_path: Path):
    """cssutils fetching a style sheet (a `file:` URL here) after a build gets the real
    `urllib.request`, `importlib.metadata` and `encutils`, and so does any other code."""
    sheet = tmp_path / "style.css"
    sheet.write_text("p { color: red }", encoding="utf-8")
    script = ("import sys, types, gbaletter.issue.offline_premailer, cssutils\n"
              "assert 'http.client' not in sys.modules\n"
              f"print(cssutils.parseUrl({sheet.as_uri()!r}).cssRules[0].selectorText)\n"
              "import urllib.request, encutils\n"
              "from importlib import metadata\n"
              "print(metadata.version('cssutils') == cssutils._fetch._get_version(), urllib.request.Request.__name__,"
              " type(sys.modules['urllib.request']) is types.ModuleType, encutils.tryEncodings.__name__,"
              " cssutils.helper.path2url('/a').startswith('file:'))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["p", "True", "Request", "True", "tryEncodings", "True"]


def test_the_web_server_loads_no_build_stack():
    """`serve` renders pages with Jinja: MJML, premailer, lxml and the checker stay out of each of
    its workers, and Alembic too (its /healthz reads the schema's revision without it)."""
    listed = subprocess.run(
        [sys.executable, "-c", "import sys, gbaletter.web.app\nprint('\\n'.join(sys.modules))"],
        capture_output=True, text=True, check=True).stdout.split()
    assert "starlette" in listed and "jinja2" in listed
    assert loaded_from(set(listed), ("mjml", "premailer", "cssutils", "lxml", "requests", "alembic",
                                     *CHECKER)) == []
