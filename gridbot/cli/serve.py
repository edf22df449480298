"""`gridbot serve` and `gridbot worker`."""
from __future__ import annotations

from typing import TYPE_CHECKING, cast

import click

from .base import build_app, fail, load_settings, main

if TYPE_CHECKING:
    from ..bootstrap import Gridbot
    from ..queue import RQQueue


def start_embedded_scheduler(app: Gridbot) -> None:
    """Without Redis there is no `gridbot scheduler run` beside us: tick in this process (reminders, SLA sweeps)."""
    if app.settings.redis_url is None:
        from ..schedule.scheduler import start_in_thread  # noqa: PLC0415 - loaded when the command runs: --help stays quick

        start_in_thread(app)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """启动 Web 服务（回调、控制台；GRIDBOT_SIMULATOR=1 时另有聊天模拟器）。

    生产环境用 gunicorn 'gridbot.web:create_app()'。
    """
    from ..web import create_app  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    load_settings()
    app = build_app(sync_jobs=False)
    flask_app = create_app(gridbot=app)
    start_embedded_scheduler(app)
    click.echo(f"gridbot 已启动：http://{host}:{port}/")
    flask_app.run(host=host, port=port, threaded=True, use_reloader=False)


def warm_up(app: Gridbot) -> None:
    """Load what every job needs before the first job (and before RQ forks a work horse per job with `--fork`).

    Without this each job reloaded jieba's dictionary, the categories and the templates in its own short-lived
    process: seconds per message (bench/run.py's end-to-end latency). Nothing here opens a database connection,
    so no connection is shared across the fork.
    """
    # Loading these modules is the point of warming up (and keeps `gridbot serve` from loading the worker's).
    import gridbot.jobs  # noqa: F401, PLC0415 - the job functions and everything they import

    from ..services.tickets import policy_for  # noqa: PLC0415 - warm-up: see above
    from ..texts import t  # noqa: PLC0415 - warm-up: see above
    from ..understanding import understand  # noqa: PLC0415 - warm-up: see above

    understand("预热：3栋2单元101楼道灯坏了")
    policy_for(app)
    t("fallback.resident")


@main.command()
@click.option("--queue", "queues", multiple=True, type=click.Choice(["inbound", "outbound", "scheduled"]),
              help="只处理这些队列（默认全部）")
@click.option("--burst", is_flag=True, help="处理完队列中已有的任务就退出")
@click.option("--fork", is_flag=True,
              help="每个任务在单独的子进程中运行（隔离更强，但每个任务多花数百毫秒）")
def worker(queues: tuple[str, ...], burst: bool, fork: bool) -> None:
    """运行后台任务（RQ，需要 GRIDBOT_REDIS_URL）。默认在本进程内运行任务；--fork 每个任务一个子进程。
    \f
    Jobs run in this process by default (RQ's SimpleWorker): it keeps its database pool, Redis connection and warm
    caches from job to job. RQ's forking worker (`--fork`) starts a work-horse per job, which must open its own
    connections: hundreds of milliseconds per job on a small host, the storm's bottleneck in bench/README.md.
    A job that dies takes this process with it; the supervisor (compose, systemd) restarts it and the recovery
    sweep and the outbox's `sending` state cover the job it held (tests/faults/test_worker_killed.py).
    """
    settings = load_settings()
    if not settings.redis_url:
        fail("配置错误 (configuration error): GRIDBOT_REDIS_URL 未设置：没有 Redis 时任务在 Web 进程内执行，"
             "不需要单独的 worker (unset: jobs run in-process; no worker needed)")
    from rq import SimpleWorker, Worker  # noqa: PLC0415 - loaded when the command runs: --help stays quick

    app = build_app(sync_jobs=False)
    warm_up(app)
    rq_queues = cast("RQQueue", app.queue).queues  # GRIDBOT_REDIS_URL is set (above): build() made an RQQueue
    names = [rq_queues[q].name for q in (queues or ("inbound", "outbound", "scheduled"))]
    how = "每个任务一个子进程" if fork else "任务在本进程内运行"
    click.echo(f"gridbot worker 监听队列：{', '.join(names)}（{how}）")
    worker_class = Worker if fork else SimpleWorker
    worker_class([rq_queues[q] for q in (queues or ("inbound", "outbound", "scheduled"))],
                 connection=app.redis).work(with_scheduler=True, burst=burst)
