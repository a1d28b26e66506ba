"""Issue 19: Chinese subjects and a Chinese sender name, end to end. The trilingual desk of
tests/data/editions with `大灣區週報 <weekly@...>` as its sender and subjects over 80 display
columns sends its Traditional and Simplified editions through a real SMTP server (aiosmtpd on
127.0.0.1); what arrives is read as bytes and with the standard library's email parser."""

from __future__ import annotations

import base64
import quopri
import re
import shutil
from email.header import decode_header, make_header

from gbaletter.textwidth import display_width
from support.workspace import DATA

ISSUE = "2019-W27"
SENDER_NAME = "大灣區週報"
SUBJECTS = {
    "zh-Hant": "大灣區週報第2期：澳門輕軌將延伸至橫琴，橫琴粵澳深度合作區首批澳門企業落戶，深圳灣口岸延長通關時間",
    "zh-Hans": "大湾区周报第2期：澳门轻轨将延伸至横琴，横琴粤澳深度合作区首批澳门企业落户，深圳湾口岸延长通关时间",
}
# a reader's name too long for one encoded-word on a 78-character line, and a short one
READERS = {"chan.tai.man@example.com": ("陳大文（香港中文大學新聞與傳播學院校友會秘書長）", "zh-Hant"),
           "zhang.wei@example.com": ("张伟", "zh-Hans")}
# an RFC 2047 encoded-word: charset, encoding, text
ENCODED_WORD = re.compile(rb"=\?([^?]+)\?([bBqQ])\?([^?]*)\?=")


def _desk(tmp_path):
    desk = shutil.copytree(DATA / "editions", tmp_path / "desk")
    settings = desk / "gbaletter.toml"
    settings.write_text(settings.read_text(encoding="utf-8").replace(
        'sender = "GBA Weekly <weekly@gba.example.org>"', f'sender = "{SENDER_NAME} <weekly@gba.example.org>"'),
        encoding="utf-8")
    manifest = desk / "issues" / ISSUE / "issue.yaml"
    text = manifest.read_text(encoding="utf-8")
    text = text.replace('"大灣區週報第2期：澳門輕軌伸向橫琴"', f'"{SUBJECTS["zh-Hant"]}"')
    text = text.replace('"大湾区周报第2期：澳门轻轨伸向横琴"', f'"{SUBJECTS["zh-Hans"]}"')
    manifest.write_text(text, encoding="utf-8")
    return desk


def _header_lines(data: bytes) -> list[bytes]:
    return data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def _unbreakable(line: bytes) -> bool:
    """A line over 78 characters that no fold could shorten: one URL in angle brackets (RFC 2369
    forbids whitespace inside them) after at most the header's name, within RFC 5322's 998."""
    words = line.split()
    return len(line) <= 998 and len(words) <= 2 and words[-1].startswith(b"<") and len(words[-1]) >= 78


def _unfolded(data: bytes, name: bytes) -> str:
    """The value of header `name` in the raw message, its folds undone."""
    lines = _header_lines(data)
    start = next(i for i, line in enumerate(lines) if line.lower().startswith(name.lower() + b":"))
    value = lines[start][len(name) + 1:]
    for line in lines[start + 1:]:
        if not line[:1].isspace():
            break
        value += line
    return value.decode("ascii").strip()


def _encoded_words(data: bytes, name: bytes) -> list[tuple[bytes, bytes, bytes]]:
    return ENCODED_WORD.findall(_unfolded(data, name).encode("ascii"))


def _decoded_word(encoding: bytes, text: bytes) -> bytes:
    if encoding.lower() == b"b":
        return base64.b64decode(text)
    return quopri.decodestring(text.replace(b"_", b" "), header=True)


def test_chinese_subjects_and_names_arrive_folded_and_decodable(tmp_path, run_cli, mail_env):
    assert all(display_width(subject) > 80 for subject in SUBJECTS.values())
    desk = _desk(tmp_path)
    for address, (name, language) in READERS.items():
        added = run_cli(desk, "subscribers", "add", address, "--name", name, "--language", language)
        assert added.exit_code == 0, added.stderr
    built = run_cli(desk, "issue", "build", ISSUE)
    assert built.exit_code == 0, built.stderr
    sent = run_cli(desk, "issue", "send", ISSUE, "--segment", "language in (zh-Hant, zh-Hans)")
    assert sent.exit_code == 0, sent.stderr

    assert sorted(r.rcpt for r in mail_env.received) == sorted(READERS)
    for received in mail_env.received:
        name, language = READERS[received.rcpt]
        for line in _header_lines(received.data):
            assert line.isascii() and (len(line) <= 78 or _unbreakable(line)), line
        # every encoded-word is UTF-8 and whole characters by itself: nothing split inside one
        for header in (b"Subject", b"From", b"To"):
            words = _encoded_words(received.data, header)
            assert words, header
            for charset, encoding, text in words:
                assert charset.lower() == b"utf-8"
                _decoded_word(encoding, text).decode("utf-8")  # raises on half a character
        subject = SUBJECTS[language]
        assert not ENCODED_WORD.sub(b"", _unfolded(received.data, b"Subject").encode()).strip()
        message = received.message
        assert str(message["Subject"]) == subject
        assert str(make_header(decode_header(_unfolded(received.data, b"Subject")))) == subject
        assert message["From"].addresses[0].display_name == SENDER_NAME
        assert message["From"].addresses[0].addr_spec == "weekly@gba.example.org"
        # the long name in several encoded-words: the whitespace between them is not part of it
        # (RFC 2047 6.2), which email.header follows; policy.default's address parser keeps it
        # in the Pythons this project runs on (CPython gh-128110), so the name is read with email.header here
        to = str(make_header(decode_header(_unfolded(received.data, b"To"))))
        assert to == f"{name} <{received.rcpt}>"
        assert message["To"].addresses[0].addr_spec == received.rcpt
        assert message["Content-Language"] == {"zh-Hant": "zh-Hant-HK", "zh-Hans": "zh-Hans"}[language]
