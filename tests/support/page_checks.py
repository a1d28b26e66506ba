"""What a reader would see wrong in a page or an email as Chromium draws it: contrast under 4.5:1
(3:1 for large text), in the dark scheme dark text or a light ground, a sideways scroll, small
field text, short tap targets, an invisible focus ring. Shared by the browser tests of the pages
(test_web_pages_browser) and of the emails they send (test_web_emails_browser)."""

from __future__ import annotations

from importlib import resources

from gbaletter.issue import accessibility

# `issue check`'s measure of the email's text colours, over what is painted under them
MEASURE_TEXT_JS = resources.files("gbaletter.issue").joinpath(accessibility.MEASURE_TEXT_JS).read_text()
# For every element the page measures: the document's width, the fields' font sizes, the heights
# of what is tapped (a box's whole label), and the focused field's ring.
LAYOUT_JS = """() => {
  const visible = (element) => element.getClientRects().length > 0 && !element.closest('.trap');
  const field = document.querySelector('input[type=email], input[type=text]');
  if (field) field.focus();
  const ring = field ? getComputedStyle(field) : null;
  return {
    width: document.scrollingElement.scrollWidth,
    scheme: document.querySelector('meta[name=color-scheme]')?.content || '',
    ground: getComputedStyle(document.body).backgroundColor,
    fields: [...document.querySelectorAll('input[type=email], input[type=text]')].filter(visible)
      .map((input) => [input.id, parseFloat(getComputedStyle(input).fontSize)]),
    targets: [...document.querySelectorAll('button, input[type=checkbox], input[type=radio]')].filter(visible)
      .map((element) => element.closest('label') || element)
      .map((target) => [target.textContent.trim().slice(0, 30), target.getBoundingClientRect().height]),
    ring: ring && [ring.outlineStyle, ring.outlineColor],
  };
}"""


def rgb(css: str) -> list[float]:
    return [float(part) for part in css[css.index("(") + 1:css.index(")")].split(",")[:3]]


def problems(page, where: str, width: int, scheme: str) -> list[str]:
    """What is wrong with the page as Chromium draws it, one line each, naming `where`."""
    texts = page.evaluate(MEASURE_TEXT_JS)
    layout = page.evaluate(LAYOUT_JS)
    found = [f"{where}: {finding.message} ({finding.where})"
             for finding in accessibility.contrast_findings(texts, scheme, "page")]
    if scheme == "dark":
        found += [f"{where}: {text['text']!r} is darker than its ground" for text in texts  # but a button's
                  if text["tag"] != "button"
                  and accessibility.luminance(text["colour"]) < accessibility.luminance(text["background"])]
        if accessibility.luminance(rgb(layout["ground"])) > 0.05:
            found.append(f"{where}: the page's ground {layout['ground']} is not dark")
    if layout["scheme"] != "light dark":
        found.append(f"{where}: color-scheme meta is {layout['scheme']!r}, not 'light dark'")
    if layout["width"] > width:
        found.append(f"{where}: {layout['width']} px wide, scrolls sideways")
    found += [f"{where}: field {name} has {size} px text" for name, size in layout["fields"] if size < 16]
    found += [f"{where}: {text!r} is {height:.0f} px tall" for text, height in layout["targets"] if height < 44]
    if layout["ring"] and (layout["ring"][0] == "none" or accessibility.contrast(
            rgb(layout["ring"][1]), rgb(layout["ground"])) < 3):
        found.append(f"{where}: the focus ring {layout['ring']} is not visible")
    return found
