"""`gridbot demo` as a newcomer runs it: a real process that builds a fresh database and answers HTTP."""
from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

GRIDBOT = Path(sys.executable).parent / "gridbot"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_demo(tmp_path: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDBOT_")}
    env.update(GRIDBOT_INSTANCE_DIR=str(tmp_path / "instance"), PYTHONUNBUFFERED="1")
    return subprocess.Popen([str(GRIDBOT), "demo", "--port", str(port), "--no-browser"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def wait_for(url: str, proc: subprocess.Popen, limit: float = 90.0) -> None:
    """Poll until the server answers (or the process dies: then show what it said)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"gridbot demo exited with {proc.returncode}:\n{proc.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as res:
                if res.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail("gridbot demo did not answer HTTP in time")


def stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.stdout.read()


def start_wait_stop(tmp_path: Path) -> str:
    """The demo started, answering HTTP, stopped: what it printed."""
    port = free_port()
    proc = start_demo(tmp_path, port)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", proc)
    finally:
        output = stop(proc)
    return output


def post_json(url: str, payload: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as res:
        return json.loads(res.read())


@pytest.mark.slow
def test_demo_starts_answers_http_and_talks(tmp_path):
    port = free_port()
    proc = start_demo(tmp_path, port)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/healthz", proc)
        with urllib.request.urlopen(f"{base}/", timeout=10) as res:
            page = res.read().decode()
        assert "聊天模拟器" in page and "chat-xf-01" in page
        data = post_json(f"{base}/simulator/say", {"chat_id": "chat-xf-01", "user_id": "xf_zhang", "text": "帮助"})
        assert data["ok"] and any("张敏" in r["text"] for r in data["replies"])
    finally:
        output = stop(proc)
    assert f"http://127.0.0.1:{port}/" in output
    assert "住户 300 户" in output
    assert (tmp_path / "instance" / "demo.db").exists()


@pytest.mark.slow
def test_demo_starts_fresh_each_time(tmp_path):
    for _ in range(2):
        output = start_wait_stop(tmp_path)
        assert "住户 300 户" in output      # a re-used database would have imported 0 new households


def test_demo_on_a_busy_port_says_so_in_one_line(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        proc = start_demo(tmp_path, port)
        output = proc.communicate(timeout=60)[0]
    assert proc.returncode != 0
    assert f"端口 {port} 已被占用" in output and "Traceback" not in output


@pytest.mark.slow
def test_what_the_demo_prints_is_true_the_grid_count_and_the_hint_that_works_as_typed(tmp_path):
    """A newcomer reads the start-up text: it agrees with `gridbot demo --help`, and its hint runs as printed."""
    output = start_wait_stop(tmp_path)
    helptext = subprocess.run([str(GRIDBOT), "demo", "--help"], capture_output=True, text=True, check=True).stdout
    promised = re.search(r"(\d+) 个网格", helptext)
    printed = re.search(r"网格 (\d+) 个", output)
    assert promised and printed and promised.group(1) == printed.group(1)
    (hint,) = [line.strip() for line in output.splitlines() if " say --chat " in line]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDBOT_")}
    env["PATH"] = "/usr/bin:/bin"                      # the venv is not on a newcomer's PATH
    ran = subprocess.run(hint, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert "张敏" in ran.stdout                          # 帮助 answered the grid member by name
    assert shlex.split(hint)[1].endswith("gridbot")
