"""The sample issue, as a subscriber receives it, scores 0.0 with Debian's SpamAssassin (local rules).

The message is the one the real send delivers into the test SMTP server, so every header and the
encoded bodies are exactly what an inbox would scan. `-L` keeps SpamAssassin off the network (no
DNS blocklists, no Razor/Pyzor), so the score depends on the message alone.
"""

from __future__ import annotations

import re
import subprocess

from support.programs import require_program

ISSUE = "2019-W26"
SCORE = re.compile(rb"^X-Spam-Status: \w+, score=(-?\d+\.\d+) [^\n]*\n((?:[ \t][^\n]*\n)*)", re.M)


def spam_report(spamassassin: str, message: bytes, home) -> tuple[float, str]:
    """(score, the X-Spam-Status header with the rules that hit) for one message."""
    result = subprocess.run([spamassassin, "-L", "-t"], input=message, capture_output=True,
                            timeout=120, env={"HOME": str(home), "PATH": "/usr/bin:/bin"}, check=True)
    match = SCORE.search(result.stdout)
    assert match, result.stdout[:2000]
    return float(match[1]), " ".join((match[0]).decode().split())


def test_the_sample_issue_scores_zero(sample_workspace, run_cli, mail_env, tmp_path):
    spamassassin = require_program("spamassassin", "spamassassin")
    for command in (("issue", "build", ISSUE),
                    ("subscribers", "add", "reader@example.com", "--name", "Wai Ling", "--tag", "technology"),
                    ("issue", "send", ISSUE, "--segment", "tag:technology")):
        result = run_cli(sample_workspace, *command)
        assert result.exit_code == 0, result.stderr
    [received] = mail_env.received
    score, status = spam_report(spamassassin, received.data, tmp_path)
    assert score == 0.0, status
    assert "HTML_FONT_LOW_CONTRAST" not in status
