"""Who clicked: a person or a machine. Pure functions, documented as a table in docs/tracking.md.

Corporate link scanners (Microsoft Safe Links, Mimecast, Proofpoint, ...) fetch every link of a
message seconds after it arrives; Apple Mail Privacy Protection fetches every image. Such clicks
are counted apart, never dropped: the report shows human and machine counts side by side.

The rules, first match wins (MACHINE_RULES is the table the docs show):

| reason         | a click is a machine's when                                                    |
| -------------- | ------------------------------------------------------------------------------ |
| head           | it is a HEAD request (browsers never send one for a link)                      |
| agent          | its User-Agent is empty, names a known scanner, or is a bare "Mozilla/5.0"     |
| too-soon       | it came less than SOON_SECONDS after the journal's sent_at of its delivery     |
| burst          | its delivery clicked BURST_LINKS or more different links within BURST_SECONDS  |
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

HUMAN = "human"
SOON_SECONDS = 10.0
BURST_SECONDS = 2.0
BURST_LINKS = 3
APPLE_MPP = "apple-mpp"
MPP_FLAG = "apple-mpp"  # an open's verdict when Apple's proxy fetched the image

MACHINE_RULES = (
    ("head", "a HEAD request: browsers never send one when a person clicks"),
    ("agent", "the User-Agent is empty, names a known scanner, or is a bare \"Mozilla/5.0\""),
    ("too-soon", f"less than {SOON_SECONDS:g} s after the journal's sent_at of the delivery"),
    ("burst", f"the delivery clicked {BURST_LINKS} or more different links within {BURST_SECONDS:g} s"),
)

# (lower-case substring of the User-Agent, the name stored): security gateways, link checkers, bots
SCANNER_AGENTS = (
    ("safelinks", "microsoft"), ("microsoft office", "microsoft"), ("bingpreview", "microsoft"),
    ("mimecast", "mimecast"), ("proofpoint", "proofpoint"), ("urldefense", "proofpoint"),
    ("barracuda", "barracuda"), ("symantec", "symantec"), ("messagelabs", "symantec"),
    ("trendmicro", "trendmicro"), ("trend micro", "trendmicro"), ("forcepoint", "forcepoint"),
    ("sophos", "sophos"), ("zscaler", "zscaler"), ("fireeye", "fireeye"), ("cisco", "cisco"),
    ("ironport", "cisco"), ("paloalto", "paloalto"), ("checkpoint", "checkpoint"),
    ("headlesschrome", "headless"), ("phantomjs", "headless"), ("python-requests", "script"),
    ("python-httpx", "script"), ("aiohttp", "script"), ("curl/", "script"), ("wget/", "script"),
    ("go-http-client", "script"), ("java/", "script"), ("okhttp", "script"), ("libwww", "script"),
    ("bot", "bot"), ("crawler", "bot"), ("spider", "bot"),
)


def agent_class(user_agent: str) -> str:
    """"" for a User-Agent that looks like a person's mail client or browser, else a short name:
    a scanner's, "none" when empty, APPLE_MPP for the bare "Mozilla/5.0" Apple's proxy sends."""
    agent = " ".join(user_agent.split())
    if not agent:
        return "none"
    if agent == "Mozilla/5.0":
        return APPLE_MPP
    lowered = agent.lower()
    for needle, name in SCANNER_AGENTS:
        if needle in lowered:
            return name
    return ""


@dataclass(frozen=True)
class Hit:
    """One click of one delivery, as the rules see it."""

    at: datetime
    link_id: str
    method: str = "GET"
    agent: str = ""  # agent_class of its User-Agent


def _bursts(hits: Sequence[Hit]) -> set[int]:
    """Indexes of the clicks inside any BURST_SECONDS span with BURST_LINKS or more distinct links."""
    order = sorted(range(len(hits)), key=lambda i: hits[i].at)
    marked: set[int] = set()
    for start, first in enumerate(order):
        span = [i for i in order[start:] if (hits[i].at - hits[first].at).total_seconds() <= BURST_SECONDS]
        if len({hits[i].link_id for i in span}) >= BURST_LINKS:
            marked.update(span)
    return marked


def classify_clicks(hits: Sequence[Hit], sent_at: datetime | None) -> list[str]:
    """HUMAN or the machine reason (MACHINE_RULES) for each click of ONE delivery, in order.

    `sent_at` is when the server accepted the message (None when unknown: the rule is skipped).
    """
    burst = _bursts(hits)
    verdicts = []
    for index, hit in enumerate(hits):
        if hit.method == "HEAD":
            verdicts.append("head")
        elif hit.agent:
            verdicts.append("agent")
        elif sent_at is not None and (hit.at - sent_at).total_seconds() < SOON_SECONDS:
            verdicts.append("too-soon")
        elif index in burst:
            verdicts.append("burst")
        else:
            verdicts.append(HUMAN)
    return verdicts


def classify_open(hit: Hit) -> str:
    """HUMAN, MPP_FLAG (Apple's proxy fetched the image: says nothing of a person) or a machine
    reason. Opens are only ever "at least": many clients never load images."""
    if hit.method == "HEAD":
        return "head"
    if hit.agent == APPLE_MPP:
        return MPP_FLAG
    if hit.agent:
        return "agent"
    return HUMAN
