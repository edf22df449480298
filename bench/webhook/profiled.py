"""A web app with every thread under cProfile, for `run.py --profile`: where a gunicorn worker's CPU goes under load
(the test-client profile in cpu_profile.py is dominated by werkzeug's test machinery).

`profiled:app` is gridbot, `profiled:bare_app` the bare endpoint, so the two can be compared function by function.
Each worker writes its merged stats to $GRIDBOT_BENCH_PROFILE_DIR/<pid>.prof when it exits.
"""
from __future__ import annotations

import atexit
import cProfile
import os
import pstats
import threading
import time

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()
_original_run = threading.Thread.run


def _profiled_run(self: threading.Thread) -> None:
    prof = cProfile.Profile(time.thread_time)
    with _lock:
        _profiles.append(prof)
    prof.enable()
    try:
        _original_run(self)
    finally:
        prof.disable()


def _dump() -> None:
    with _lock:
        profiles = list(_profiles)
    if not profiles:
        return
    stats = pstats.Stats(profiles[0])
    for prof in profiles[1:]:
        stats.add(prof)
    stats.dump_stats(os.path.join(os.environ["GRIDBOT_BENCH_PROFILE_DIR"], f"{os.getpid()}.prof"))


threading.Thread.run = _profiled_run
atexit.register(_dump)



def __getattr__(name: str):  # gunicorn asks for the app by name: build only the one it asks for
    if name == "app":
        from gridbot.web import create_app

        return create_app()
    if name == "bare_app":
        import bare

        return bare.app
    raise AttributeError(name)
