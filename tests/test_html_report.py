"""``inspect --html``: one self-contained page, rendered by a real browser (headless Chromium).

The browser test needs Debian's ``chromium`` (``.ci/run`` installs it); without it that test is
skipped and says why. The page itself is checked without a browser too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from imgprep.cli import main
from tests.conftest import write_image

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def report(runner, tmp_path: Path, rng) -> tuple[Path, str]:
    """A report of two labelled splits with a leak, a skipped file and drift."""
    for split, count in (("train", 4), ("val", 2)):
        for label in ("cat", "dog"):
            (tmp_path / split / label).mkdir(parents=True)
            for index in range(count):
                colour = tuple(int(v) for v in rng.integers(0, 256, 3))
                canvas = Image.new("RGB", (40, 30), colour)
                box = (*rng.integers(0, 15, 2).tolist(), *rng.integers(20, 40, 2).tolist())
                ImageDraw.Draw(canvas).ellipse(box, fill=(250, 250, 0))
                canvas.save(tmp_path / split / label / f"{index}.png")
    leaked = Image.open(tmp_path / "train" / "cat" / "0.png")
    leaked.save(tmp_path / "val" / "cat" / "leak.png")
    (tmp_path / "val" / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot a png")
    stats = tmp_path / "train.json"
    assert runner.invoke(main, ["fit-stats", str(tmp_path / "train"), "-q", "-o", str(stats)]
                         ).exit_code == 0  # fmt: skip
    html = tmp_path / "report.html"
    args = ["inspect", f"--input=train={tmp_path / 'train'}", f"--input=val={tmp_path / 'val'}",
            "--duplicates", "--outliers", "--against", str(stats), "--on-error", "skip",
            "--html", str(html), "-q"]  # fmt: skip
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    return html, html.read_text(encoding="utf-8")


def test_the_page_is_self_contained(report):
    _, page = report
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"https?:|<script|@import|url\(|<link", page)
    sources = re.findall(r'src="([^"]*)"', page)
    assert sources and all(source.startswith("data:image/png;base64,") for source in sources)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "@media (prefers-color-scheme: dark)" in page


def test_the_page_has_every_section_and_the_numbers(report, tmp_path):
    _, page = report
    for anchor in ("overview", "statistics", "histograms", "drift", "classes", "outliers",
                   "duplicates", "skipped"):  # fmt: skip
        assert f'<section id="{anchor}">' in page
    assert "Leakage into other splits: 1" in page
    assert (
        'aria-label="image sizes: width (x) by height (y), in pixels"' in page and "<circle" in page
    )
    broken = tmp_path / "val" / "dog" / "broken.png"
    assert (f"<tr><td>val</td><td>{broken}</td><td>not an image imgprep reads (it reads PNG, "
            "JPEG, BMP, GIF, TIFF, WebP or PPM/PGM/PBM)</td></tr>") in page  # fmt: skip
    assert "<td>train</td><td>directory</td><td>8</td>" in page
    assert "<td>val</td><td>directory</td><td>5</td>" in page  # 2 + 2 + the leak; 1 skipped


def test_the_report_refuses_to_overwrite_an_input(runner, tmp_path, rng):
    image = tmp_path / "data" / "a.png"
    write_image(image, rng.integers(0, 256, (4, 4), np.uint8))
    result = runner.invoke(main, ["inspect", str(tmp_path / "data"), "--html", str(image)])
    assert result.exit_code == 2
    assert image.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium here (Debian: apt-get install "
    "chromium; .ci/run installs it): the page was checked without a browser",
)
def test_headless_chromium_renders_it_without_console_errors(report, tmp_path):
    html, _ = report
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
               "--v=0", f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    dom = subprocess.run([*command, "--dump-dom", html.as_uri()], capture_output=True,
                         text=True, timeout=120, check=True)  # fmt: skip
    assert '<section id="duplicates">' in dom.stdout and "Leakage into other splits" in dom.stdout
    assert "CONSOLE" not in dom.stderr and "Uncaught" not in dom.stderr
    shot = tmp_path / "phone.png"
    subprocess.run([*command, "--window-size=390,2000", f"--screenshot={shot}", html.as_uri()],
                   capture_output=True, timeout=120, check=True)  # fmt: skip
    with Image.open(shot) as picture:
        assert picture.size == (390, 2000)
        pixels = np.asarray(picture.convert("L"))
    assert pixels.std() > 10  # something was drawn, not a blank page
