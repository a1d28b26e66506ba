"""What became of an issue's messages, for the whole issue and for each of its editions.

Every figure is counted under the edition of the journal row it is about (`deliveries.edition`,
named by `journal.edition_of`): the row itself, the bounce or complaint report attributed to it,
the reader's unsubscribe from the issue. The whole issue's funnel is the sum of its editions', so
the two never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from ..delivery import journal
from ..delivery.models import State
from .feedback import KINDS, later_feedback, unsubscribes

COMPLAINT_THRESHOLD = 0.003  # Gmail's bulk sender guidelines: keep spam complaints below 0.3 %


def rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


@dataclass(frozen=True)
class Funnel:
    recipients: int          # frozen into the journal
    sent: int                # accepted by the SMTP server
    bounced_at_smtp: int     # refused by the SMTP server (journal: bounced)
    bounced_later: int       # bounce reports after acceptance
    complaints: int
    unsubscribes: dict[str, int]  # by kind (feedback.KINDS)

    @property
    def unsubscribed(self) -> int:
        return sum(self.unsubscribes.values())

    @property
    def bounce_rate(self) -> float:
        return rate(self.bounced_at_smtp + self.bounced_later, self.recipients)

    @property
    def complaint_rate(self) -> float:
        return rate(self.complaints, self.sent)

    @property
    def unsubscribe_rate(self) -> float:
        return rate(self.unsubscribed, self.sent)

    @property
    def over_complaint_threshold(self) -> bool:
        return self.complaint_rate >= COMPLAINT_THRESHOLD

    def rates(self) -> dict[str, float | bool]:
        """The rates, for JSON beside the counts."""
        return {"bounce_rate": self.bounce_rate, "complaint_rate": self.complaint_rate,
                "unsubscribe_rate": self.unsubscribe_rate, "over_complaint_threshold": self.over_complaint_threshold}


def _summed(funnels: Iterable[Funnel]) -> Funnel:
    funnels = list(funnels)
    return Funnel(sum(f.recipients for f in funnels), sum(f.sent for f in funnels),
                  sum(f.bounced_at_smtp for f in funnels), sum(f.bounced_later for f in funnels),
                  sum(f.complaints for f in funnels),
                  {kind: sum(f.unsubscribes[kind] for f in funnels) for kind in KINDS})


def edition_order(editions: Iterable[str], languages: list[str]) -> list[str]:
    """The desk's languages in its order, then any other edition (one no longer on the desk, `-`)."""
    place = {language: n for n, language in enumerate(languages)}
    return sorted(set(editions), key=lambda edition: (place.get(edition, len(place)), edition))


def funnels(session: Session, issue_id: str, languages: list[str]) -> tuple[Funnel, dict[str, Funnel]]:
    """(the whole issue's funnel, edition -> its funnel in `edition_order`); the editions are
    those of its journal rows, and of anything that came back about a row no longer there."""
    states = journal.counts_by_edition(session, issue_id)
    later = later_feedback(session, issue_id)
    left = unsubscribes(session, issue_id)
    no_unsubscribes = dict.fromkeys(KINDS, 0)
    by_edition = {}
    for edition in edition_order([*states, *later, *left], languages):
        counts = states.get(edition, {})
        bounced_later, complaints = later.get(edition, (0, 0))
        by_edition[edition] = Funnel(sum(counts.values()), counts.get(State.SENT, 0),
                                     counts.get(State.BOUNCED, 0), bounced_later, complaints,
                                     left.get(edition, no_unsubscribes))
    return _summed(by_edition.values()), by_edition
