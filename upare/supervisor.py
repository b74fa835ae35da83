"""Keep a helper process running beside the API: start it again whenever it exits."""

from __future__ import annotations

import logging
import subprocess
import threading

log = logging.getLogger(__name__)


class Supervised:
    """Run a command in a child process, restarted (after a doubling pause) until `stop()`.

    The pause starts at `first` seconds and doubles up to `longest` while the child keeps
    dying young; a child that ran for `steady` seconds resets it.
    """

    def __init__(
        self, command: list[str], first: float = 0.5, longest: float = 10.0, steady: float = 30.0
    ) -> None:
        self.command = command
        self.first, self.longest, self.steady = first, longest, steady
        self.child: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="upare-supervisor", daemon=True)

    def start(self) -> None:
        self.child = subprocess.Popen(self.command)
        self._thread.start()

    def _watch(self) -> None:
        pause, alive_for = self.first, 0.0
        while not self._stop.wait(0.5):
            alive_for += 0.5
            assert self.child is not None
            code = self.child.poll()
            if code is None:
                if alive_for >= self.steady:
                    pause = self.first
                continue
            log.error("%s exited with %s; starting it again in %.1f s", self.command, code, pause)
            if self._stop.wait(pause):
                return
            pause, alive_for = min(pause * 2, self.longest), 0.0
            self.child = subprocess.Popen(self.command)
            self.restarts += 1

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching and end the child (SIGTERM, then SIGKILL after `timeout`)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        if self.child is not None and self.child.poll() is None:
            self.child.terminate()
            try:
                self.child.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait(timeout=timeout)
