"""A real fakesnow server (Snowflake's HTTP protocol, emulated on DuckDB) for the test session.

Server mode, not `fakesnow.patch()`: dbt runs in a subprocess that dagster-dbt launches, and it
must see the same tables as the Python warehouse client, so both talk to one server over HTTP.
Every test gets its own database on it; the server keeps everything in memory.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class FakesnowServer:
    process: subprocess.Popen
    port: int

    @classmethod
    def start(cls, log_path: Path, timeout_s: float = 60) -> FakesnowServer:
        port = _free_port()
        fakesnow = Path(sys.executable).with_name("fakesnow")
        log = log_path.open("w")
        process = subprocess.Popen(
            [str(fakesnow), "-s", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
        )
        server = cls(process, port)
        deadline = time.monotonic() + timeout_s
        while not server._accepts_connections():
            if process.poll() is not None or time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"fakesnow server did not start; see {log_path}")
            time.sleep(0.2)
        return server

    def _accepts_connections(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def env(self, database: str) -> dict[str, str]:
        """What profiles.yml's snowflake target needs to reach `database` on this server."""
        return {
            "SNOWFLAKE_ACCOUNT": "fakesnow",
            "SNOWFLAKE_USER": "warecast",
            "SNOWFLAKE_PASSWORD": "fakesnow",
            "SNOWFLAKE_HOST": "127.0.0.1",
            "SNOWFLAKE_PORT": str(self.port),
            "SNOWFLAKE_PROTOCOL": "http",
            "SNOWFLAKE_DATABASE": database.upper(),
            "WARECAST_FAKESNOW": "1",
        }

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fakesnow's CLI stops cleanly on SIGINT
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
