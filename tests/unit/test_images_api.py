"""Image/disorder over HTTP and from the command line."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

UPARE = str(Path(sys.executable).with_name("upare"))


def png_bytes(width: int = 67, height: int = 45, mode: str = "RGB") -> bytes:
    pixels = np.random.default_rng(7).integers(0, 256, (height, width, len(mode)), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels.squeeze(), mode).save(buffer, "PNG")
    return buffer.getvalue()


def pixels_of(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGBA"))


def multipart(fields: dict[str, str], image: bytes | None) -> tuple[bytes, dict[str, str]]:
    boundary = "uparetestboundary"
    body = b""
    for name, value in fields.items():
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    if image is not None:
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="image"; '
                'filename="in.png"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode()
            + image
            + b"\r\n"
        )
    body += f"--{boundary}--\r\n".encode()
    return body, {"content-type": f"multipart/form-data; boundary={boundary}"}


def post(client, fields: dict[str, str], image: bytes | None, method: str = "POST"):
    body, headers = multipart(fields, image)
    return client.simulate_request(method, "/api/Image/disorder", body=body, headers=headers)


@pytest.mark.parametrize("fmt", ["png", "bmp"])
def test_decrypting_with_the_same_key_restores_the_upload_exactly(client, fmt):
    original = png_bytes()
    scrambled = post(client, {"key": "k1", "block": "8", "type": fmt}, original)
    assert scrambled.status_code == 200
    assert scrambled.headers["content-type"] == f"image/{fmt}"
    assert not np.array_equal(pixels_of(scrambled.content), pixels_of(original))

    restored = post(client, {"key": "k1", "block": "8", "action": "decrypt"}, scrambled.content)
    assert np.array_equal(pixels_of(restored.content), pixels_of(original))


def test_without_a_key_one_is_generated_and_sent_back(client):
    original = png_bytes()
    scrambled = post(client, {}, original)
    key = scrambled.headers["x-disorder-key"]
    assert len(key) >= 22
    restored = post(client, {"key": key, "action": "decrypt"}, scrambled.content, method="GET")
    assert np.array_equal(pixels_of(restored.content), pixels_of(original))


def test_another_key_does_not_restore_it(client):
    original = png_bytes()
    scrambled = post(client, {"key": "right", "block": "4"}, original)
    wrong = post(client, {"key": "wrong", "block": "4", "action": "decrypt"}, scrambled.content)
    assert not np.array_equal(pixels_of(wrong.content), pixels_of(original))


@pytest.mark.parametrize(
    ("fields", "image", "field"),
    [
        ({"type": "jpg"}, png_bytes(), "type"),
        ({"block": "3"}, png_bytes(), "block"),
        ({"action": "shuffle"}, png_bytes(), "action"),
        ({}, None, "image"),
        ({}, b"GIF89a not really", "image"),
        ({}, png_bytes()[:200], "image"),
    ],
)
def test_bad_input_is_a_validation_failure_never_a_server_error(client, fields, image, field):
    answer = post(client, fields, image)
    assert answer.status_code == 400
    assert answer.json["error_code"] == 100004
    assert field in answer.json["errors"]


def test_the_command_line_round_trip_is_exact(tmp_path):
    source = tmp_path / "in.png"
    source.write_bytes(png_bytes(50, 33))
    scrambled, restored = tmp_path / "out.bmp", tmp_path / "back.png"
    encrypt = subprocess.run(
        [UPARE, "image", "disorder", str(source), str(scrambled), "--block", "5"],
        capture_output=True,
        text=True,
        check=True,
    )
    key = encrypt.stdout.split("key: ")[1].strip()
    subprocess.run(
        [
            UPARE,
            "image",
            "disorder",
            str(scrambled),
            str(restored),
            "--key",
            key,
            "--block",
            "5",
            "--decrypt",
        ],
        check=True,
    )
    assert np.array_equal(pixels_of(restored.read_bytes()), pixels_of(source.read_bytes()))


def test_the_command_line_explains_a_refusal(tmp_path):
    source = tmp_path / "in.png"
    source.write_bytes(png_bytes())
    refused = subprocess.run(
        [UPARE, "image", "disorder", str(source), str(tmp_path / "out.jpg")],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2
    assert "lossy" in refused.stderr
