"""The media folder: files under names the server made, and no other name reaches a file."""

from __future__ import annotations

import os

import pytest

from upare.media import NAME, Media


@pytest.fixture
def media(tmp_path) -> Media:
    return Media(tmp_path / "media")


def test_a_stored_file_is_read_back_under_its_new_random_name(media):
    first, second = media.store(b"one"), media.store(b"one")

    assert NAME.fullmatch(first) and NAME.fullmatch(second) and first != second
    assert media.read(first) == b"one"
    assert sorted(os.listdir(media.folder)) == sorted([first, second])  # no temporary left


@pytest.mark.parametrize(
    "name",
    ["../secret.png", "/etc/passwd", "A" * 32 + ".png", "0" * 32 + ".png/..", "", "x.png"],
)
def test_a_name_the_server_did_not_make_reaches_no_file(media, tmp_path, name):
    (tmp_path / "secret.png").write_bytes(b"private")
    media.store(b"mine")

    assert media.read(name) is None
    media.remove(name)
    assert (tmp_path / "secret.png").exists()


def test_removed_and_missing_files_read_as_none(media):
    name = media.store(b"gone soon")
    media.remove(name, "0" * 32 + ".png")

    assert media.read(name) is None
    assert os.listdir(media.folder) == []


def test_a_failed_write_leaves_no_file_behind(media, monkeypatch):
    def full_disk(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        media.store(b"too much")
    assert os.listdir(media.folder) == []
