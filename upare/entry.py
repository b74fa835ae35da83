"""The `upare` command's entry point: `upare events ...` starts without the rest of the app.

The whole command tree (`upare.cli`) imports every driver, broker client and library the
server and the workers need (about 80 MB of memory). An analyst's export needs the event store
only, and pyarrow (about 90 MB) for Parquet; issue 11 holds it under 200 MB on a million
events. So `upare events ...` runs its own typer app; everything else goes to `upare.cli`,
which lists `events` too (`upare --help`).
"""

from __future__ import annotations

import sys


def main() -> None:
    """Run the `upare` command line."""
    if sys.argv[1:2] == ["events"]:
        from upare.cli_events import app

        app(args=sys.argv[2:], prog_name="upare events")
        return
    from upare.cli import main as everything

    everything()
