"""Discovery: class folders, sorting, ignored files, explicit files, errors."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from imgprep.errors import InputError
from imgprep.io.discover import discover, read_path_list
from tests.conftest import write_image

PIXEL = np.zeros((2, 2, 3), np.uint8)


def touch_image(path: Path) -> None:
    write_image(path, PIXEL) if path.suffix.lower() in (".png", ".jpg") else path.write_bytes(b"x")


def test_class_folders_are_sorted_labels_as_keras(tmp_path: Path):
    for rel in ["zebra/b.png", "zebra/a.png", "ant/x.PNG", "ant/sub/y.jpg", "mole/c.png"]:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_image(path.with_suffix(".png"), PIXEL)
        if path.suffix != ".png":
            path.with_suffix(".png").rename(path)
    found = discover([str(tmp_path)])
    assert found.classes == ["ant", "mole", "zebra"]
    assert [(i.rel, i.label) for i in found.items] == [
        ("ant/sub/y.jpg", 0),
        ("ant/x.PNG", 0),
        ("mole/c.png", 1),
        ("zebra/a.png", 2),
        ("zebra/b.png", 2),
    ]
    assert found.labelled


def test_hidden_and_non_image_files_are_ignored_and_counted(tmp_path: Path):
    write_image(tmp_path / "a/1.png", PIXEL)
    write_image(tmp_path / "a/.hidden.png", PIXEL)
    (tmp_path / "a/notes.txt").write_text("hello")
    write_image(tmp_path / "a/.cache/2.png", PIXEL)
    (tmp_path / "README.md").write_text("top-level file of a labelled dataset")
    found = discover([str(tmp_path)])
    assert [i.rel for i in found.items] == ["a/1.png"]
    assert found.ignored == 4


def test_flat_directory_is_unlabelled_and_sorted(tmp_path: Path):
    for name in ["b.png", "a.png", "C.png"]:
        write_image(tmp_path / name, PIXEL)
    found = discover([str(tmp_path)])
    assert [i.rel for i in found.items] == ["C.png", "a.png", "b.png"]
    assert found.classes == [] and not found.labelled
    assert all(i.label is None for i in found.items)


def test_explicit_files_keep_their_order_and_any_extension(tmp_path: Path):
    write_image(tmp_path / "b.png", PIXEL)
    (tmp_path / "a.dat").write_bytes(b"not checked here")
    found = discover([str(tmp_path / "b.png"), str(tmp_path / "a.dat")])
    assert [i.path for i in found.items] == [str(tmp_path / "b.png"), str(tmp_path / "a.dat")]


def test_several_labelled_directories_share_one_class_list(tmp_path: Path):
    write_image(tmp_path / "train/cat/1.png", PIXEL)
    write_image(tmp_path / "train/dog/1.png", PIXEL)
    write_image(tmp_path / "extra/dog/2.png", PIXEL)
    write_image(tmp_path / "extra/emu/3.png", PIXEL)
    found = discover([str(tmp_path / "train"), str(tmp_path / "extra")])
    assert found.classes == ["cat", "dog", "emu"]
    assert [i.label for i in found.items] == [0, 1, 1, 2]


def test_missing_input_is_an_input_error(tmp_path: Path):
    with pytest.raises(InputError, match=r"input not found: .*nowhere"):
        discover([str(tmp_path / "nowhere")])


def test_directory_without_images_is_an_input_error(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match=r"no images found in .* \(1 non-image or hidden"):
        discover([str(tmp_path)])


def test_no_inputs_is_an_input_error():
    with pytest.raises(InputError, match="no input given"):
        discover([])


def test_path_list_skips_blanks_and_comments():
    text = "a.png\n\n# a comment\nb c.png\r\n"
    assert read_path_list(io.StringIO(text)) == ["a.png", "b c.png"]


def test_subfolders_without_images_do_not_make_a_folder_labelled(tmp_path: Path):
    for name in ["a.png", "b.png"]:
        write_image(tmp_path / name, PIXEL)
    (tmp_path / "empty").mkdir()
    (tmp_path / "__MACOSX").mkdir()
    (tmp_path / "__MACOSX" / "._a.png").write_bytes(b"resource fork")
    found = discover([str(tmp_path)])
    assert [i.rel for i in found.items] == ["a.png", "b.png"]
    assert found.classes == [] and found.ignored == 1


def test_labelled_folder_notes_top_level_images_and_empty_folders(tmp_path: Path):
    write_image(tmp_path / "cat/1.png", PIXEL)
    write_image(tmp_path / "stray.png", PIXEL)
    (tmp_path / "empty").mkdir()
    write_image(tmp_path / ".git/objects/x.png", PIXEL)
    found = discover([str(tmp_path)])
    assert found.classes == ["cat"] and len(found.items) == 1
    assert found.ignored == 2  # stray.png and the file under .git
    assert any("1 image(s) at the top of a labelled folder" in note for note in found.notes)
    assert any("without images are not classes: empty" in note for note in found.notes)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (["cat/1.png", "cat/1.png"], "is given twice"),
        (["", "cat"], "inputs overlap: .*cat is inside"),
        (["cat", "cat/"], "is given twice"),
        (["", "cat/1.png"], "inputs overlap"),
    ],
)
def test_overlapping_inputs_are_refused(tmp_path: Path, inputs, message):
    write_image(tmp_path / "cat/1.png", PIXEL)
    with pytest.raises(InputError, match=message):
        discover([str(tmp_path / p) if p else str(tmp_path) for p in inputs])


def test_a_plain_string_is_one_input(tmp_path: Path):
    write_image(tmp_path / "a.png", PIXEL)
    assert len(discover(str(tmp_path)).items) == 1


def test_only_the_documented_formats_are_found(tmp_path: Path, rng):
    import numpy as np

    from imgprep.errors import DecodeError
    from imgprep.io.decode import decode_image

    array = rng.integers(0, 256, (3, 4, 3), dtype=np.uint8)
    for ext in (".png", ".jpg", ".bmp", ".gif", ".tif", ".webp", ".ppm"):
        write_image(tmp_path / f"a{ext}", array)
    write_image(tmp_path / "b.tga", array)  # Pillow reads TGA; imgprep does not document it
    (tmp_path / "data.h5").write_bytes(b"\x89HDF\r\n\x1a\n")
    found = discover([str(tmp_path)])
    rels = [i.rel for i in found.items]
    assert rels == ["a.bmp", "a.gif", "a.jpg", "a.png", "a.ppm", "a.tif", "a.webp"]
    assert found.ignored == 2
    np.testing.assert_array_equal(decode_image(str(tmp_path / "a.ppm")), array)
    with pytest.raises(DecodeError, match="not an image imgprep reads"):
        decode_image(str(tmp_path / "b.tga"))
