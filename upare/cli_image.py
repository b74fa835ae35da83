"""`upare image ...`: the image tools for operators, without HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from domain.disorder import disorder
from domain.errors import UpareError

app = typer.Typer(help="Image tools.", no_args_is_help=True)


@app.command("disorder")
def disorder_command(
    source: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="image to read")],
    target: Annotated[Path, typer.Argument(dir_okay=False, help="where to write (.png/.bmp)")],
    key: Annotated[str | None, typer.Option(help="the secret; printed when generated")] = None,
    block: Annotated[int, typer.Option(help="pixels per tile, 4-256")] = 16,
    decrypt: Annotated[bool, typer.Option("--decrypt", help="restore, not scramble")] = False,
) -> None:
    """Scramble an image's tiles with a keyed permutation, or restore them with --decrypt."""
    fmt = target.suffix.lstrip(".") or "png"
    try:
        image, used_key = disorder(
            source.read_bytes(), key, block, "decrypt" if decrypt else "encrypt", fmt
        )
    except UpareError as ex:
        reasons = "; ".join(f"{name} {why}" for name, why in (ex.errors or {}).items())
        typer.echo(f"error: {ex.message}: {reasons}", err=True)
        raise typer.Exit(2) from None
    target.write_bytes(image)
    if key is None:
        typer.echo(f"key: {used_key}")
