"""`gbaletter issue screenshot`: desktop and phone PNGs of the sample issue, light and dark, and
clear refusals."""

import pytest
from PIL import Image


ISSUE = "2019-W26"
STAND_IN_GREY = (0xC9, 0xCE, 0xD3)  # browser.STAND_IN_IMAGE (a grey the design does not use)


@pytest.mark.usefixtures("chromium")
def test_screenshots_are_pngs_of_the_right_width_and_not_blank(sample_workspace, run_cli):
    assert run_cli(sample_workspace, "issue", "build", ISSUE).exit_code == 0
    result = run_cli(sample_workspace, "issue", "screenshot", ISSUE)
    assert result.exit_code == 0, result.stderr
    folder = sample_workspace / "issues/2019-W26/build"
    names = ("desktop", "mobile", "desktop-dark", "mobile-dark")
    assert result.output.splitlines() == [f"wrote issues/2019-W26/build/{name}.png" for name in names]
    edge = {}
    for name, width in zip(names, (800, 375, 800, 375), strict=True):
        with Image.open(folder / f"{name}.png") as picture:
            assert picture.format == "PNG"
            assert picture.width == width and picture.height > 1500  # the full page, not a window
            colours = picture.convert("RGB").getcolors(maxcolors=1 << 24)
            edge[name] = picture.convert("L").getpixel((2, picture.height // 2))  # beside the card
            pixels = picture.width * picture.height
        assert len(colours) > 200  # text, headings, buttons: far from blank
        assert max(count for count, _ in colours) < 0.85 * pixels  # no one colour covers it
        # the story's image is the build's resized file, not the grey stand-in of a remote image
        assert dict((colour, count) for count, colour in colours).get(STAND_IN_GREY, 0) < 500
    # the dark ones are dark: the page beside the card, light grey by day, near black by night
    assert edge["desktop"] > 200 and edge["desktop-dark"] < 40
    assert not list(folder.glob(".*.tmp"))  # written atomically


def test_screenshot_refuses_a_stale_build(sample_workspace, run_cli):
    assert run_cli(sample_workspace, "issue", "build", ISSUE).exit_code == 0
    post = sample_workspace / "posts/2019-06-27-macau-light-rail.md"
    post.write_text(post.read_text() + "\nOne more line.\n")
    result = run_cli(sample_workspace, "issue", "screenshot", ISSUE)
    assert result.exit_code == 1
    assert result.error_lines == ["error: issues/2019-W26/build is older than the issue's manifest, "
                                  "content or templates: run `gbaletter issue build 2019-W26` first"]


def test_missing_chromium_says_how_to_install_it(sample_workspace, run_cli, tmp_path):
    assert run_cli(sample_workspace, "issue", "build", ISSUE).exit_code == 0
    result = run_cli(sample_workspace, "issue", "screenshot", ISSUE,
                     env={"PATH": str(tmp_path), "GBALETTER_CHROMIUM": None})
    assert result.exit_code == 1
    assert len(result.error_lines) == 1 and "apt-get install chromium" in result.error_lines[0]
    assert not (sample_workspace / "issues/2019-W26/build/desktop.png").exists()


def test_chromium_named_in_the_environment_must_exist(sample_workspace, run_cli, tmp_path):
    assert run_cli(sample_workspace, "issue", "build", ISSUE).exit_code == 0
    result = run_cli(sample_workspace, "issue", "check", ISSUE,
                     env={"GBALETTER_CHROMIUM": str(tmp_path / "no-such-chrome")})
    assert result.exit_code == 1
    assert result.error_lines == [f"error: GBALETTER_CHROMIUM={tmp_path / 'no-such-chrome'} "
                                  "is not an executable"]
