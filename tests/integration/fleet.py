"""Run Upare's worker processes for a test: start, kill -9, restart, stop, show their logs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UPARE = [str(Path(sys.executable).with_name("upare"))]  # the installed command
TALLY_UPARE = [sys.executable, "-m", "tests.integration.tally_upare"]  # plus the tally projection


class Fleet:
    """Named worker processes sharing one environment, each logging to its own file."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = {**os.environ, **env}
        self.logs = logs
        self.commands: dict[str, tuple[list[str], dict[str, str]]] = {}
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.kills = 0

    def start(self, name: str, *args: str, tally: bool = True, **env: str) -> None:
        """Start (or restart) the process `name` running `upare ARGS` (with tally, if told)."""
        self.commands.setdefault(name, ([*(TALLY_UPARE if tally else UPARE), *args], env))
        command, extra = self.commands[name]
        with open(self.logs / f"{name}.log", "ab") as log:
            self.running[name] = subprocess.Popen(
                command, env={**self.env, **extra}, cwd=ROOT, stdout=log, stderr=log
            )

    def kill(self, name: str) -> None:
        """Kill the process with SIGKILL, no chance to clean up, and reap it."""
        process = self.running.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        self.kills += 1

    def restart(self, name: str) -> None:
        self.kill(name)
        self.start(name)

    def alive(self) -> dict[str, bool]:
        return {name: process.poll() is None for name, process in self.running.items()}

    def stop(self) -> dict[str, int | None]:
        """Stop every process with SIGTERM (SIGKILL after 20 s); return their exit codes."""
        for process in self.running.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for name, process in self.running.items():
            try:
                codes[name] = process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
                codes[name] = None
        self.running.clear()
        return codes

    def wait_for(self, name: str, line: str, count: int = 1, seconds: float = 30) -> None:
        """Wait until `name`'s log holds `line` `count` times (a process is up once it logs it)."""
        log = self.logs / f"{name}.log"
        deadline = time.monotonic() + seconds
        while log.read_text(errors="replace").count(line) < count:
            assert time.monotonic() < deadline, self.tails()
            time.sleep(0.05)

    def tails(self, lines: int = 30) -> str:
        """Return the end of every process's log, for a failing assertion's message."""
        parts = []
        for log in sorted(self.logs.glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(parts)
