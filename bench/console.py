"""Console and API page times on a large community (e.g. 50,000 households and 100,000 tickets).

    createdb console_bench && export GRIDBOT_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/console_bench
    gridbot db upgrade && gridbot seed synthetic --grids 140 --households 50000 --days 365 --communities 1
    python bench/console.py [--repeat 5]

Signs in as the community's secretary (whole community in scope) and as one grid member, requests each page in
process (Flask test client, no network), and prints the median time and the number of SQL statements per page.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import event, func, select


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from gridbot.bootstrap import build
    from gridbot.config import Settings
    from gridbot.models import Household, Member, Ticket
    from gridbot.models.console import ConsoleAccount
    from gridbot.web import create_app
    from gridbot.web.auth import create_account
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.console_helpers import login

    app = build(Settings.from_env(), sync_jobs=True)
    with app.session() as s, s.begin():
        households = s.scalar(select(func.count()).select_from(Household))
        tickets = s.scalar(select(func.count()).select_from(Ticket))
        members = list(s.scalars(select(Member).order_by(Member.id)))
        secretary = next(m for m in members if "secretary" in (m.roles or []))
        worker = next(m for m in members if "member" in (m.roles or []) and m.grid_links)
        for username, member in (("bench_sec", secretary), ("bench_mem", worker)):
            if not s.scalar(select(ConsoleAccount.id).where(ConsoleAccount.username == username)):
                create_account(s, username=username, password="bench-pass-1", member_userid=member.userid,
                               now=app.clock.now())
        number = s.scalar(select(Ticket.number).where(Ticket.grid_id.in_([link.grid_id for link in worker.grid_links]))
                          .order_by(Ticket.id.desc()).limit(1))
        grid_code = worker.grid_links[0].grid.code
    print(f"database: {app.engine.url.render_as_string(hide_password=True)}")
    print(f"households {households:,}  tickets {tickets:,}")
    flask_app = create_app({"TESTING": True}, gridbot=app)
    pages = ["/console/dashboard", "/console/tickets", "/console/tickets?status=open",
             "/console/tickets?status=overdue&category=repair", "/console/tickets?page=500",
             f"/console/tickets/{number}", "/console/households", "/console/households?covered=no",
             "/console/households?tag=独居老人", "/console/coverage", f"/console/coverage?grid={grid_code}",
             "/console/members", "/console/reminders", "/console/outbox"]
    counter = {"n": 0}

    def count(*_a):
        counter["n"] += 1

    event.listen(app.engine, "before_cursor_execute", count)
    for username in ("bench_sec", "bench_mem"):
        client = flask_app.test_client()
        login(client, username, "bench-pass-1")
        print(f"\n{username}: {'page':<52} {'median ms':>10} {'max ms':>8} {'queries':>8}")
        for url in pages:
            times = []
            for _ in range(args.repeat):
                counter["n"] = 0
                start = time.perf_counter()
                resp = client.get(url)
                times.append((time.perf_counter() - start) * 1000)
                queries = counter["n"]
            status = "" if resp.status_code == 200 else f"  HTTP {resp.status_code}"
            print(f"  {url:<58} {statistics.median(times):>10.0f} {max(times):>8.0f} {queries:>8}{status}")
    with app.session() as s, s.begin():
        from gridbot.web.auth import create_token

        account = s.scalar(select(ConsoleAccount).where(ConsoleAccount.username == "bench_sec"))
        secret = create_token(s, account, "bench", actor="bench", now=app.clock.now())[1]
    headers = {"Authorization": f"Bearer {secret}"}
    client = flask_app.test_client()
    print(f"\nAPI (secretary's token): {'endpoint':<45} {'median ms':>10} {'max ms':>8} {'queries':>8}")
    for url in ("/api/v1/tickets", "/api/v1/tickets?status=open&per_page=200", "/api/v1/tickets?page=400",
                f"/api/v1/tickets/{number}", "/api/v1/grids", "/api/v1/coverage", "/metrics"):
        times = []
        for _ in range(args.repeat):
            counter["n"] = 0
            start = time.perf_counter()
            resp = client.get(url, headers=headers)
            times.append((time.perf_counter() - start) * 1000)
            queries = counter["n"]
        status = "" if resp.status_code == 200 else f"  HTTP {resp.status_code}"
        print(f"  {url:<58} {statistics.median(times):>10.0f} {max(times):>8.0f} {queries:>8}{status}")
    app.close()


if __name__ == "__main__":
    main()
