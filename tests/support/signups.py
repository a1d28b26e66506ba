"""Signing up over HTTP as a browser does: fetch the proof-of-work challenge, solve it (with the
altcha package, as the page's script does with WebCrypto), post the form with the solution."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import altcha
import httpx

# Tests that are not about the caps lift them and keep the proof-of-work small (fast to solve, and
# still checked); the caps' own tests use the defaults.
TEST_WEB_SETTINGS = ("\n[web]\nproof_of_work = 2000\nconfirmations_per_network = 0\n"
                     "confirmations_per_mailbox = 0\nconfirmations_per_hour = 0\n")


def lift_caps(root: Path, settings: str = TEST_WEB_SETTINGS) -> None:
    config = root / "gbaletter.toml"
    config.write_text(config.read_text() + settings)


def solved_challenge(client: httpx.Client, path: str = "/altcha/challenge") -> str:
    """The `altcha` field of a form: a solved fresh challenge from the server."""
    challenge = client.get(path).raise_for_status().json()
    solution = altcha.solve_challenge_v1(challenge["challenge"], challenge["salt"],
                                         challenge["algorithm"], challenge["maxnumber"])
    assert solution is not None
    return base64.b64encode(json.dumps({
        "algorithm": challenge["algorithm"], "challenge": challenge["challenge"],
        "number": solution.number, "salt": challenge["salt"],
        "signature": challenge["signature"]}).encode()).decode()


def post_sign_up(client: httpx.Client, email: str, name: str = "",
                 interests: tuple[str, ...] = ("technology",), **extra: str) -> httpx.Response:
    data = {"email": email, "name": name, "interests": list(interests),
            "altcha": solved_challenge(client), **extra}
    return client.post("/subscribe", data=data)
