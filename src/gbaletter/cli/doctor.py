"""`gbaletter doctor`: whether this workspace can send; one line per finding, with its fix."""

from __future__ import annotations

import dataclasses

import click

from .context import AppContext, pass_app
from .output import json_option, print_json


@click.command("doctor")
@click.option("--nameserver", metavar="HOST[:PORT]",
              help="Ask this DNS server (default: the system's resolver).")
@json_option
@pass_app
def doctor(app: AppContext, nameserver: str | None, as_json: bool) -> None:
    """Check settings, the SMTP relay, DNS (SPF, DKIM, DMARC, MX), base_url and the bounce mailbox."""
    from ..doctor import run_doctor

    findings = run_doctor(app.workspace, nameserver)
    errors = sum(f.status == "error" for f in findings)
    if as_json:
        print_json({"errors": errors, "findings": [dataclasses.asdict(f) for f in findings]})
    else:
        for finding in findings:
            click.echo(finding.line())
        warnings = sum(f.status == "warning" for f in findings)
        click.echo(f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
                   + ("" if errors else ": ready to send"))
    if errors:
        click.get_current_context().exit(1)
