"""Throwaway services the fault tests may stop, kill and restart: never the machine's shared PostgreSQL or Redis.

- `own_redis`: a redis-server on a free loopback port, no persistence (it loses its queue when stopped, as a
  crashed Redis without AOF would).
- `own_pg`: a PostgreSQL cluster in a temp dir (initdb + pg_ctl, run as the `postgres` user when we are root),
  listening on a free port and a socket in that dir. Made once per session (initdb takes seconds).
"""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, up: bool, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} did not go {'up' if up else 'down'}")


class OwnRedis:
    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> OwnRedis:
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--daemonize", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, up=True)
        return self

    def kill(self) -> None:
        """SIGKILL: Redis dies as in a crash; what was only in memory (queued jobs) is gone."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        _wait_port(self.port, up=False)


@pytest.fixture
def own_redis():
    if not shutil.which("redis-server"):
        pytest.skip("redis-server not installed")
    r = OwnRedis().start()
    yield r
    r.kill()


class OwnPostgres:
    def __init__(self, root: Path) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not bins:
            raise FileNotFoundError("pg_ctl")
        self.bin = Path(bins[-1]).parent
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_postgres, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       cwd=self.root)

    def init(self) -> OwnPostgres:
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync")
        return self

    def start(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-o",
                  f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        _wait_port(self.port, up=True)

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")
        _wait_port(self.port, up=False)


@pytest.fixture(scope="session")
def own_pg():
    root = Path(tempfile.mkdtemp(prefix="gridbot-faults-pg-"))
    try:
        pg = OwnPostgres(root).init()
    except (FileNotFoundError, subprocess.CalledProcessError) as err:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"cannot make a throwaway PostgreSQL cluster: {err}")
    pg.start()
    yield pg
    with contextlib.suppress(subprocess.CalledProcessError):
        pg.stop("immediate")
    shutil.rmtree(root, ignore_errors=True)
