"""Parsing a build's HTML with lxml, whole.

libxml2 stops a text node at 10 MB unless told otherwise (`huge_tree`), and drops the rest of
the document without an error: a 10 MB paragraph made an email of 89 bytes, and the build said it
succeeded. Every parse of an issue's HTML goes through here, so nothing is cut silently; the
size check (`render.size_problem`) then says what is too big.
"""

from __future__ import annotations

from lxml import etree
from lxml import html as lxml_html


def document(text: str) -> lxml_html.HtmlElement:
    """A whole HTML document (`lxml.html.document_fromstring`, never cut)."""
    return lxml_html.document_fromstring(text, parser=lxml_html.HTMLParser(huge_tree=True))


def fragment(text: str) -> lxml_html.HtmlElement:
    """A piece of HTML (`lxml.html.fromstring`, never cut)."""
    return lxml_html.fromstring(text, parser=lxml_html.HTMLParser(huge_tree=True))


def plain_tree(text: str) -> etree._ElementTree:
    """A document as plain etree elements, the way premailer parses one (`etree.HTMLParser`)."""
    return etree.fromstring(text.strip(), etree.HTMLParser(huge_tree=True)).getroottree()
