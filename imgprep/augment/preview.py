"""``--preview``: a contact sheet of source images and their augmented copies, as PNG.

Each row shows one source image, then its copies, each labelled (source index and relative
path; copy number with what each operation's ``caption`` shows: the sampled angle, zoom,
brightness and flips). The copies are exactly those the run writes (same seed, image index
and copy), shown before normalization. 16-bit and float images are scaled to 0-255 for
display by the row's own min and max.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from imgprep.augment.registry import OPERATIONS
from imgprep.augment.settings import AugmentParams

TILE = 112
LINES = 4  # caption lines under a tile, of at most WIDTH characters
WIDTH = 22
LABEL = 2 + 12 * LINES
GAP = 6


def contact_sheet(
    rows: Sequence[tuple[str, np.ndarray, Sequence[tuple[int, np.ndarray, AugmentParams]]]],
) -> Image.Image:
    """Build the sheet from (label, source image, [(copy, image, params), ...]) rows."""
    columns = 1 + max(len(copies) for _, _, copies in rows)
    sheet = Image.new(
        "RGB",
        (GAP + columns * (TILE + GAP), GAP + len(rows) * (TILE + LABEL + GAP)),
        (255, 255, 255),
    )
    draw = ImageDraw.Draw(sheet)
    for row, (label, source, copies) in enumerate(rows):
        top = GAP + row * (TILE + LABEL + GAP)
        images = [source] + [image for _, image, _ in copies]
        low = min(float(image.min()) for image in images)
        high = max(float(image.max()) for image in images)
        captions = [label] + [_describe(copy, params) for copy, _, params in copies]
        for column, (image, caption) in enumerate(zip(images, captions, strict=True)):
            left = GAP + column * (TILE + GAP)
            sheet.paste(_tile(image, low, high), (left, top))
            for line, text in enumerate(caption.split("\n")[:LINES]):
                draw.text((left, top + TILE + 2 + 12 * line), text[:WIDTH], fill=(0, 0, 0))
    return sheet


def _describe(copy: int, params: AugmentParams) -> str:
    """The copy number, then each operation's caption pieces by line and rank, flowed into
    lines of at most ``WIDTH`` characters (a piece that does not fit starts a line)."""
    pieces = sorted(piece for op in OPERATIONS for piece in op.caption(params))
    lines = [f"copy {copy}"]
    for _, _, text in pieces:
        if len(lines[-1]) + 1 + len(text) <= WIDTH:
            lines[-1] = f"{lines[-1]} {text}"
        else:
            lines.append(text)
    return "\n".join(lines)


def _tile(image: np.ndarray, low: float, high: float) -> Image.Image:
    """The image as an 8-bit RGB tile fitted into TILE x TILE, centred on white."""
    pixels = image.astype(np.float64)
    if image.dtype != np.uint8:
        scale = 255.0 / (high - low) if high > low else 1.0
        pixels = (pixels - low) * scale
    pixels = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    channels = pixels.shape[2]
    if channels == 1:
        pil = Image.fromarray(pixels[:, :, 0]).convert("RGB")
    elif channels in (3, 4):
        pil = Image.fromarray(np.ascontiguousarray(pixels[:, :, :3]))
    else:
        pil = Image.fromarray(np.ascontiguousarray(pixels[:, :, 0])).convert("RGB")
    pil.thumbnail((TILE, TILE), Image.Resampling.LANCZOS)
    if max(pil.size) < TILE:  # small images: enlarge (sharply by whole factors, as MNIST)
        factor = TILE / max(pil.size)
        size = (max(1, int(pil.width * factor)), max(1, int(pil.height * factor)))
        smooth = factor < 2
        pil = pil.resize(size, Image.Resampling.BILINEAR if smooth else Image.Resampling.NEAREST)
    canvas = Image.new("RGB", (TILE, TILE), (255, 255, 255))
    canvas.paste(pil, ((TILE - pil.width) // 2, (TILE - pil.height) // 2))
    return canvas


def preview_sheet(
    split_items: Any,
    pipeline: Any,
    plan: Any,
    *,
    split: int = 0,
    sources: int = 6,
    copies: int = 7,
) -> Image.Image:
    """The contact sheet for the first ``sources`` readable images of a split."""
    from imgprep.augment.chain import view
    from imgprep.errors import DecodeError, ImgprepError
    from imgprep.io.decode import bomb_warnings_silenced
    from imgprep.run.worker import augmented_copies, decode_for_rows

    rows = []
    shown = replace(plan, copies=min(plan.copies, copies))
    for index in range(len(split_items)):
        if len(rows) == sources:
            break
        try:
            with bomb_warnings_silenced():
                decoded, source = decode_for_rows(split_items.path(index), pipeline, shown)
        except DecodeError:
            continue
        made = augmented_copies(
            source if source is not None else decoded.array, index, split, pipeline, shown
        )
        label = f"#{index} {split_items.rel(index)}"
        original = view(decoded.array, plan.settings)[0]
        rows.append((label, original, [(row.copy, row.image, row.params) for row in made]))
    if not rows:
        raise ImgprepError("no image could be read for the preview")
    return contact_sheet(rows)


def write_preview(path: str, splits: Sequence[Any], plan: Any, *, decode: Any, split: int) -> None:
    """Check, build and write the ``--preview`` sheet of split ``split`` as a PNG at ``path``.

    The path is refused if it is, or lies inside, one of the splits' inputs (a later run
    would read it as an image). The copies are shown as decoded with ``decode`` and
    augmented, before any normalization; the file appears under its name only when whole.
    """
    from imgprep.io.atomic import atomic_path
    from imgprep.plan import check_output
    from imgprep.transforms.pipeline import Pipeline, PipelineOptions

    inputs = [source for part in splits for source in part.discovery.inputs]
    check_output(path, inputs, what="the preview")
    pipeline = Pipeline(PipelineOptions(decode=decode))
    sheet = preview_sheet(splits[split].discovery.items, pipeline, plan, split=split)
    with atomic_path(path) as temporary:
        sheet.save(temporary, format="PNG")
