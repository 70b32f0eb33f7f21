"""``imgprep demo``: the main job on the bundled examples, with real numbers, no user data."""

from __future__ import annotations

import os
import tempfile

import click
import numpy as np

from imgprep.api import pipeline_from_hdf5, prepare_image
from imgprep.config import DecodeSettings, PipelineOptions
from imgprep.examples import example_path
from imgprep.io.atomic import OutputError
from imgprep.io.decode import decode_image
from imgprep.io.discover import discover
from imgprep.io.stats_io import read_stats, write_stats
from imgprep.run.stats_pass import compute_stats
from imgprep.run.transform_pass import run_transform
from imgprep.run.transform_plan import TransformRequest, plan_transform
from imgprep.summary import summarize_hdf5


@click.command("demo")
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False),
    help="Where to write the demo's stats files and HDF5 output (kept).",
)
@click.option(
    "--keep",
    is_flag=True,
    help="Keep the temporary folder the demo writes to (default: removed at the end).",
)
def demo(output_dir: str | None, keep: bool) -> None:
    """Run fit-stats and transform on the bundled digits and photos, and inspect what
    transform wrote, with numbers.

    It also checks the statistics against an independent float64 two-pass NumPy computation,
    shows that stats of two halves merged equal one pass over the whole, and applies the
    pipeline stored in the transform output to an original file, as prediction code would.
    Its files go to a temporary folder that is removed at the end, unless --keep or
    --output-dir.
    """
    if output_dir is not None or keep:
        out = output_dir or tempfile.mkdtemp(prefix="imgprep-demo-")
        if os.path.exists(out) and not os.path.isdir(out):  # /dev/null: click lets it by
            raise click.BadParameter(f"{out} is not a folder", param_hint="--output-dir")
        try:
            os.makedirs(out, exist_ok=True)
        except OSError as exc:  # a read-only parent...: one line, before any work
            raise OutputError(f"cannot create {out}: {exc.strerror or exc}") from None
        _run_demo(out)
        click.echo(f"The demo's files are in {out}")
        return
    with tempfile.TemporaryDirectory(prefix="imgprep-demo-") as out:
        _run_demo(out)
    click.echo("(its files were in a temporary folder, now removed; --keep keeps them)")


def _run_demo(out: str) -> None:
    """The demo's steps, writing into ``out``."""
    mnist = example_path("mnist")

    click.echo(f"1. fit-stats on the bundled MNIST digits ({mnist})")
    stats = compute_stats([mnist])
    stats_path = os.path.join(out, "mnist-stats.json")
    write_stats(stats, stats_path)
    click.echo(f"   {stats.images} images, {stats.pixels} pixels, written to {stats_path}")
    click.echo(f"   mean {stats.global_mean!r}  std {stats.global_std!r}")

    found = discover([mnist])
    pixels = np.stack([decode_image(item.path) for item in found.items]).astype(np.float64)
    ref_mean, ref_std = float(pixels.mean()), float(pixels.std())
    rel = max(
        abs(stats.global_mean - ref_mean) / ref_mean, abs(stats.global_std - ref_std) / ref_std
    )
    click.echo(f"   NumPy two-pass float64: mean {ref_mean!r}  std {ref_std!r}")
    click.echo(f"   largest relative difference: {rel:.1e}")

    click.echo("2. stats of digits 0-4 and 5-9, merged, against one pass over all")
    low = [os.path.join(mnist, str(d)) for d in range(5)]
    high = [os.path.join(mnist, str(d)) for d in range(5, 10)]
    merged = compute_stats(low).merge(compute_stats(high))
    same = merged.mean.tolist() == stats.mean.tolist() and merged.std.tolist() == stats.std.tolist()
    click.echo(
        f"   merged mean {merged.global_mean!r}  std {merged.global_std!r}  identical: {same}"
    )

    photos = example_path("photos")
    click.echo(f"3. fit-stats on the bundled photos, RGB, resized to 64x64 (fill) ({photos})")
    settings = DecodeSettings(color="rgb", size=(64, 64), resize_mode="fill")
    photo_stats = compute_stats([photos], settings=settings, workers=2)
    photo_path = os.path.join(out, "photos-stats.json")
    write_stats(photo_stats, photo_path)
    for name, mean, std in zip("RGB", photo_stats.mean, photo_stats.std, strict=True):
        click.echo(f"   {name}: mean {mean:.6f}  std {std:.6f}")
    click.echo(f"   written to {photo_path}")

    click.echo("4. the same statistics reloaded from the file, as a training script would")
    reloaded = read_stats(photo_path)
    click.echo(f"   read_stats(...).mean = {np.array2string(reloaded.mean, precision=6)}")
    click.echo(f"   read_stats(...).std  = {np.array2string(reloaded.std, precision=6)}")

    click.echo(
        "5. transform: digits split 80/20 (seed 0), standardized with the train part's stats; "
        "inspect of the output"
    )
    options = PipelineOptions(rescale=1 / 255, center="featurewise", standardize="featurewise")
    h5_path = os.path.join(out, "mnist.h5")
    request = TransformRequest(
        inputs=[mnist],
        split_spec=[("train", 0.8), ("val", 0.2)],
        seed=0,
        options=options,
        output=h5_path,
        fmt="hdf5",
    )
    run_transform(plan_transform(request))
    for split in ("train", "val"):
        summary = summarize_hdf5(h5_path, dataset=f"{split}/images")
        glob = summary.accumulator.global_stats()
        click.echo(
            f"   {split}: {summary.accumulator.images} images, mean {glob['mean']:+.6f}, "
            f"std {glob['std']:.6f}"
        )
    click.echo(f"   written to {h5_path}")

    import h5py

    click.echo("6. prediction time: the pipeline stored in the HDF5 file, on one original file")
    stored = pipeline_from_hdf5(h5_path)
    with h5py.File(h5_path, "r") as handle:
        rel = handle["val/paths"][0].decode()
        written = handle["val/images"][0]
    again = prepare_image(stored, os.path.join(mnist, rel))
    click.echo(
        f"   prepare_image(pipeline_from_hdf5(...), {rel!r}) equals the stored row: "
        f"{bool(np.array_equal(again, written))}"
    )
    click.echo("Next: imgprep inspect --example mnist; imgprep transform --help")
