"""`minewatch collect` as its own process on 127.0.0.1, the way an operator runs it: for the tests that
send it datagrams (or let an exporter do so) and stop it with SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path


class CollectorProcess:
    """Started on a free loopback port; `port` is read from its first line on stderr."""

    def __init__(self, out: Path, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "minewatch.cli", "collect", "--listen", "127.0.0.1:0", "--out", str(out)],
            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})},
        )
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        m = re.search(r"127\.0\.0\.1:(\d+)", line)
        if not m:
            self.proc.kill()
            raise AssertionError(f"minewatch collect did not report its port: {line!r}")
        self.port = int(m.group(1))

    def stop(self, timeout: float = 30) -> tuple[int, str]:
        """SIGTERM, then (returncode, the rest of stderr): the summary the collector prints on its way out."""
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, err

    def __enter__(self) -> CollectorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
