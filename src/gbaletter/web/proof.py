"""The subscribe form's proof-of-work: ALTCHA challenges, made and checked here (the `altcha`
package), solved by the visitor's browser with our own script (`altcha.js`); no third party.

A challenge is SHA-256(salt + n) for a secret n below `[web] proof_of_work`: a browser finds n in
well under a second on average, a script that posts thousands of sign-ups pays for each. The salt
carries an expiry and the challenge is signed with a key of GBALETTER_SECRET, so a challenge is
good only from this list and for CHALLENGE_MINUTES; `limits` lets each solved challenge count once.
This is ALTCHA's documented v1 format: {algorithm, challenge, maxnumber, salt, signature}, the
solution posted as base64 JSON {algorithm, challenge, number, salt, signature} in the `altcha` field.
"""

from __future__ import annotations

from datetime import timedelta

import altcha

from ..db import utcnow
from ..tokens import Signer

FIELD = "altcha"
CHALLENGE_MINUTES = 20  # long enough to fill in the form, well within the claims' window
MAX_PAYLOAD = 2048      # a solution is about 300 characters; anything longer is not one


class ProofOfWork:
    def __init__(self, signer: Signer, max_number: int):
        self._key = signer.derived_key("altcha")
        self.max_number = max_number

    @property
    def required(self) -> bool:
        return self.max_number > 0

    def challenge(self) -> dict[str, object]:
        """A fresh challenge, as ALTCHA's widget reads it (JSON)."""
        made = altcha.create_challenge_v1(altcha.ChallengeOptionsV1(
            algorithm="SHA-256", max_number=self.max_number, hmac_key=self._key,
            expires=utcnow() + timedelta(minutes=CHALLENGE_MINUTES)))
        return {"algorithm": made.algorithm, "challenge": made.challenge,
                "maxnumber": made.max_number, "salt": made.salt, "signature": made.signature}

    def solved(self, payload: str) -> str | None:
        """The challenge a posted solution solves, if it is a valid, unexpired one of ours."""
        if not payload or len(payload) > MAX_PAYLOAD:
            return None
        try:
            valid, _ = altcha.verify_solution_v1(payload, self._key, check_expires=True)
            decoded = altcha.PayloadV1.from_base64(payload) if valid else None
        except (ValueError, TypeError, KeyError, AttributeError):
            return None
        return decoded.challenge if decoded is not None else None
