"""The systemd units in deploy/systemd/: systemd's own checker accepts them, and the commands they
start are commands of this gbaletter, with options it knows.

`systemd-analyze verify` runs without a running systemd (as in a container): it parses every unit,
reports unknown keys and bad values, and checks that each ExecStart program exists and is
executable. The units name the install path of docs/deploy.md, which does not exist on a test
machine, so the test verifies copies whose program is a stub at a temporary path; everything else
is verified as shipped.
"""

from __future__ import annotations

import configparser
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from support.programs import require_program
from support.workspace import REPO

UNITS = REPO / "deploy" / "systemd"
INSTALLED = "/opt/gbaletter/venv/bin/gbaletter"  # where docs/deploy.md installs it


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser


SERVICES = sorted(UNITS.glob("*.service"))


def test_the_units_are_the_ones_the_deployment_guide_names():
    names = sorted(path.name for path in UNITS.iterdir())
    assert names == ["gbaletter-bounces.service", "gbaletter-bounces.timer", "gbaletter-scheduler.service",
                     "gbaletter-scheduler.timer", "gbaletter-serve.service"]
    guide = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    for name in names:
        assert name in guide, name


def test_systemd_analyze_verify_accepts_every_unit(tmp_path):
    systemd_analyze = require_program("systemd-analyze", "systemd")
    stub = tmp_path / "bin" / "gbaletter"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    copies = []
    for unit in sorted(UNITS.iterdir()):
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text(encoding="utf-8").replace(INSTALLED, str(stub)), encoding="utf-8")
        copies.append(copy.name)
    result = subprocess.run([systemd_analyze, "verify", "--man=no", *copies], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    # unknown keys and bad values are only warnings, with exit status 0: any line about one of
    # the units is a failure (lines about the machine, if systemd has any to say, are not)
    about_units = [line for line in (result.stdout + result.stderr).splitlines()
                   if any(name in line for name in copies)]
    assert (result.returncode, about_units) == (0, [])


@pytest.mark.parametrize("service", SERVICES, ids=lambda path: path.name)
def test_each_service_runs_a_gbaletter_command_with_known_options(service, tmp_path):
    section = _unit(service)["Service"]
    program, *args = shlex.split(section["ExecStart"])
    assert program == INSTALLED
    assert section["EnvironmentFile"] == "/etc/gbaletter/gbaletter.env"  # the secrets
    assert section["Environment"] == f"GBALETTER_ROOT={section['WorkingDirectory']}"
    assert section["User"] == "gbaletter" and section["ProtectSystem"] == "strict"
    # --help after the unit's arguments: click refuses an unknown command or option before it helps
    result = subprocess.run([sys.executable, "-m", "gbaletter", *args, "--help"], capture_output=True,
                            text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_each_timer_starts_its_service():
    for timer in sorted(UNITS.glob("*.timer")):
        section = _unit(timer)["Timer"]
        assert section["Unit"] == timer.with_suffix(".service").name
        assert (UNITS / section["Unit"]).is_file()
        assert _unit(UNITS / section["Unit"])["Service"]["Type"] == "oneshot"
