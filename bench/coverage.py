"""Coverage at county scale: 50,000 households, 300 grids, 60,000 group memberships, on SQLite and PostgreSQL.

    .venv/bin/python bench/coverage.py                      # both databases, default sizes
    .venv/bin/python bench/coverage.py --db sqlite --households 5000 --grids 30 --memberships 6000

What it does, per database:
1. builds a fresh database with the real migrations, then fills it with bulk inserts (Core executemany, seeded
   random so every run makes the same data): 10 communities x 30 grids, one chat group per grid, households with
   tags, representatives bound to them (most in their own group, some left, some in the wrong group), pending
   registrations (some older than 3 days), people in groups bound to nothing, and staff in the groups;
2. times gridbot.services.coverage.compute() (the full report with every list) -- best and median of --runs;
3. counts the SQL statements it issues (before_cursor_execute) at full size and at a tenth of the grids' data
   -- the counts must be equal: no per-household or per-grid queries;
4. prints EXPLAIN (EXPLAIN QUERY PLAN on SQLite) of each statement it issued;
5. runs a baseline -- the naive per-grid ORM loop one would write first -- checks it gets the same figures, and
   reports both times side by side as a ratio.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, event, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gridbot import migrate
from gridbot.db import make_engine, make_sessionmaker
from gridbot.models import (
    ChatIdentity,
    ChatMembership,
    Community,
    Grid,
    GridChat,
    Household,
    HouseholdBinding,
    Member,
    MemberGrid,
)
from gridbot.services import coverage

PG_URL = os.environ.get("GRIDBOT_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
TAGS = ["独居老人", "残疾", "困难", "留守儿童", "流动人口", "出租房"]


# -- data -------------------------------------------------------------------------------------------
def generate(engine, households: int, grids: int, memberships: int, seed: int = 6) -> dict[str, int]:
    """Bulk-insert a county. Returns how many rows of each kind were made."""
    rnd = random.Random(seed)
    communities = max(1, grids // 30)
    t0 = NOW - timedelta(days=200)
    with engine.begin() as conn:
        conn.execute(insert(Community), [{"id": c + 1, "code": f"C{c + 1:02d}", "name": f"社区{c + 1}",
                                          "created_at": t0} for c in range(communities)])
        tops = [{"id": c + 1, "community_id": c + 1, "code": f"C{c + 1:02d}", "name": f"社区{c + 1}网格",
                 "level": 1, "parent_id": None, "created_at": t0} for c in range(communities)]
        conn.execute(insert(Grid), tops)
        grid_rows, chat_rows = [], []
        for g in range(grids):
            gid = communities + g + 1
            cid = g % communities + 1
            grid_rows.append({"id": gid, "community_id": cid, "code": f"C{cid:02d}-{g + 1:03d}",
                              "name": f"第{g + 1}网格", "level": 2, "parent_id": cid, "created_at": t0})
            chat_rows.append({"grid_id": gid, "chat_id": f"chat-{gid}", "bound_at": t0})
        conn.execute(insert(Grid), grid_rows)
        conn.execute(insert(GridChat), chat_rows)
        grid_ids = [r["id"] for r in grid_rows]

        # households, spread evenly; 8% key households, 5% moved out
        hh, hh_grid = [], {}
        for i in range(households):
            gid = grid_ids[i * len(grid_ids) // households]
            n = i - (i * len(grid_ids) // households) * households // len(grid_ids)
            building, rest = divmod(n, 24)
            unit, room = divmod(rest, 12)
            tags = [rnd.choice(TAGS[:5])] if rnd.random() < 0.08 else ([TAGS[5]] if rnd.random() < 0.05 else [])
            status = "moved_out" if rnd.random() < 0.05 else "active"
            hh.append({"id": i + 1, "grid_id": gid, "building": str(building + 1), "unit": str(unit % 2 + 1),
                       "room": str((room // 2 + 1) * 100 + room % 2 + 1), "tags": tags, "status": status,
                       "created_at": t0, "updated_at": t0, "head_name": "住户", "phone": "13800000000"})
            hh_grid[i + 1] = gid
        _chunks(conn, Household, hh)

        # staff: two per grid, in their group
        members, links, identities, stays, bindings = [], [], [], [], []
        ident_id = 0

        def new_identity(user_id: str) -> int:
            nonlocal ident_id
            ident_id += 1
            identities.append({"id": ident_id, "platform": "wecom", "user_id": user_id,
                               "display_name": user_id, "created_at": t0})
            return ident_id

        for k, gid in enumerate(grid_ids):
            for j in range(2):
                mid = k * 2 + j + 1
                uid = f"staff{mid}"
                members.append({"id": mid, "community_id": (gid - communities - 1) % communities + 1,
                                "name": uid, "userid": uid, "roles": ["member"], "on_duty": True, "active": True,
                                "created_at": t0, "updated_at": t0})
                links.append({"member_id": mid, "grid_id": gid})
                stays.append({"chat_id": f"chat-{gid}", "identity_id": new_identity(uid), "joined_at": t0,
                              "source": "sync"})
        conn.execute(insert(Member), members)
        conn.execute(insert(MemberGrid), links)

        # representatives: 78% of households have one; 10% of those a second
        active_ids = [h["id"] for h in hh]
        for hid in active_ids:
            if rnd.random() >= 0.78 or len(stays) >= memberships:
                continue
            for _rep in range(2 if rnd.random() < 0.10 else 1):
                if len(stays) >= memberships:
                    break
                iid = new_identity(f"res{hid}-{_rep}")
                bindings.append({"household_id": hid, "identity_id": iid, "status": "active",
                                 "requested_at": t0, "requested_by": "bench", "decided_at": t0,
                                 "decided_by": "member:staff1"})
                fate = rnd.random()
                gid = hh_grid[hid]
                if fate < 0.05:      # left the group
                    stays.append({"chat_id": f"chat-{gid}", "identity_id": iid, "joined_at": t0,
                                  "left_at": NOW - timedelta(days=rnd.randint(1, 90)), "source": "event"})
                elif fate < 0.09:    # sits in a neighbouring grid's group
                    other = grid_ids[(grid_ids.index(gid) + 1) % len(grid_ids)]
                    stays.append({"chat_id": f"chat-{other}", "identity_id": iid, "joined_at": t0, "source": "event"})
                else:
                    stays.append({"chat_id": f"chat-{gid}", "identity_id": iid, "joined_at": t0, "source": "event"})
        # pending registrations (half of them older than 3 days), in their group
        for _ in range(min(2000, households // 25)):
            hid = rnd.randint(1, households)
            iid = new_identity(f"pend{uuid.UUID(int=rnd.getrandbits(128)).hex[:12]}")
            bindings.append({"household_id": hid, "identity_id": iid, "status": "pending",
                             "requested_at": NOW - timedelta(days=rnd.choice([1, 5])), "requested_by": "bench"})
            stays.append({"chat_id": f"chat-{hh_grid[hid]}", "identity_id": iid, "joined_at": t0, "source": "event"})
        # ended history (never deleted): one old ended binding per 10 households
        for hid in range(1, households + 1, 10):
            bindings.append({"household_id": hid, "identity_id": rnd.randint(1, ident_id), "status": "ended",
                             "requested_at": t0, "requested_by": "bench", "ended_at": t0 + timedelta(days=3),
                             "end_reason": "replaced"})
        # everyone else in a group is bound to nothing
        while len(stays) < memberships:
            gid = rnd.choice(grid_ids)
            stays.append({"chat_id": f"chat-{gid}", "identity_id": new_identity(f"guest{len(stays)}"),
                          "joined_at": t0, "source": "event"})
        for row in stays:
            row.setdefault("left_at", None)
        for row in bindings:
            for key in ("decided_at", "decided_by", "ended_at", "end_reason"):
                row.setdefault(key, None)
        _chunks(conn, ChatIdentity, identities)
        _chunks(conn, ChatMembership, stays)
        _chunks(conn, HouseholdBinding, bindings)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("communities", "grids", "grid_chats", "households", "members", "member_grids",
                          "chat_identities", "chat_memberships", "household_bindings"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))"))
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return {"grids": grids, "households": households, "memberships": len(stays), "bindings": len(bindings),
            "identities": ident_id}


def _chunks(conn, model, rows: list[dict], size: int = 5000) -> None:
    for i in range(0, len(rows), size):
        conn.execute(insert(model), rows[i:i + size])


# -- measuring --------------------------------------------------------------------------------------
class StatementCounter:
    """Counts (and keeps) the SQL statements an engine issues while active."""

    def __init__(self, engine) -> None:
        self.engine, self.statements = engine, []

    def _hear(self, _conn, _cursor, statement, parameters, _context, _many) -> None:
        self.statements.append((statement, parameters))

    def __enter__(self) -> StatementCounter:
        event.listen(self.engine, "before_cursor_execute", self._hear)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._hear)


def run_fast(factory, grid_ids=None):
    with factory() as session:
        return coverage.compute(session, NOW, grid_ids)


def _backend_cpu(pid: int | None) -> float:
    """CPU seconds used so far by a PostgreSQL backend on this machine (/proc/<pid>/stat utime + stime)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_run(factory) -> float:
    """One compute() measured in CPU seconds: this process plus, on PostgreSQL, its server backend.

    On a shared machine wall-clock time mostly measures the other jobs; CPU time is what the work costs.
    """
    with factory() as session:
        conn = session.connection()
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() if conn.dialect.name == "postgresql" else None
        c0, b0 = time.process_time(), _backend_cpu(pid)
        coverage.compute(session, NOW)
        return time.process_time() - c0 + _backend_cpu(pid) - b0


def naive_cpu_run(factory) -> float:
    """The baseline in CPU seconds the same way (its backend is the pooled connection it used)."""
    with factory() as session:
        conn = session.connection()
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() if conn.dialect.name == "postgresql" else None
    c0, b0 = time.process_time(), _backend_cpu(pid)
    run_naive(factory)
    return time.process_time() - c0 + _backend_cpu(pid) - b0


def run_naive(factory) -> dict[str, tuple[int, int]]:
    """The loop one writes first: per grid, load its households, their active bindings and the group's members."""
    out = {}
    with factory() as session:
        for grid in session.scalars(select(Grid).order_by(Grid.code)):
            chats = {c.chat_id for c in grid.chats}                       # lazy load: one query per grid
            homes = session.scalars(select(Household).where(Household.grid_id == grid.id,
                                                            Household.status == "active")).all()
            if not homes:
                continue
            reps = session.scalars(select(HouseholdBinding).where(
                HouseholdBinding.household_id.in_([h.id for h in homes]), HouseholdBinding.status == "active")).all()
            present = set(session.scalars(select(ChatMembership.identity_id).where(
                ChatMembership.chat_id.in_(chats), ChatMembership.left_at.is_(None)))) if chats else set()
            covered = {b.household_id for b in reps if b.identity_id in present}
            out[grid.code] = (len(covered), len(homes))
    return out


def timed(fn, runs: int) -> tuple[float, float, object]:
    times, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times), result


def sql_times(engine, statements) -> list[float]:
    """Each captured statement run alone on the raw DBAPI cursor (execute + fetchall): the database's share."""
    raw = engine.raw_connection()
    out = []
    try:
        for stmt, params in statements:
            cur = raw.cursor()
            t = time.perf_counter()
            cur.execute(stmt, params)
            cur.fetchall()
            out.append(time.perf_counter() - t)
            cur.close()
    finally:
        raw.close()
    return out


def explain(engine, statements) -> None:
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    raw = engine.raw_connection()
    try:
        for n, (stmt, params) in enumerate(statements, start=1):
            cur = raw.cursor()
            cur.execute(prefix + stmt, params)
            rows = cur.fetchall()
            cur.close()
            print(f"\n-- statement {n}: {' '.join(stmt.split())[:160]}...")
            for row in rows:
                print("   ", row[-1] if engine.dialect.name == "sqlite" else row[0])
    finally:
        raw.close()


# -- one database -----------------------------------------------------------------------------------
def bench(kind: str, args: argparse.Namespace) -> dict:
    if kind == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="gridbot-bench-")) / "coverage.db"
        url, cleanup = f"sqlite:///{path}", (lambda: path.unlink(missing_ok=True))
    else:
        name = f"gridbot_bench_coverage_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = f"{PG_URL.rsplit('/', 1)[0]}/{name}"

        def cleanup() -> None:
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    try:
        migrate.upgrade(url)
        engine = make_engine(url)
        factory = make_sessionmaker(engine)
        t = time.perf_counter()
        made = generate(engine, args.households, args.grids, args.memberships)
        print(f"\n== {kind}: generated {made} in {time.perf_counter() - t:.1f} s")

        run_fast(factory)   # warm the caches once, as a running server has them
        best, median, report = timed(lambda: run_fast(factory), args.runs)
        with StatementCounter(engine) as full:
            run_fast(factory)
        with factory() as s:
            few = set(s.scalars(select(Grid.id).where(Grid.level == 2).order_by(Grid.id)
                                .limit(max(1, args.grids // 10))))
        with StatementCounter(engine) as tenth:
            run_fast(factory, few)
        assert len(full.statements) == len(tenth.statements), (len(full.statements), len(tenth.statements))
        if args.explain:
            explain(engine, full.statements)
        per_statement = [min(x) for x in zip(*(sql_times(engine, full.statements) for _ in range(3)), strict=True)]
        print("   SQL time per statement (ms): " + ", ".join(f"{x * 1000:.0f}" for x in per_statement)
              + f"; sum {sum(per_statement) * 1000:.0f} ms, the rest of compute() is Python building the lists")

        cpu = min(cpu_run(factory) for _ in range(args.runs))
        n_best, n_median, naive = timed(lambda: run_naive(factory), max(1, args.runs // 2))
        n_cpu = min(naive_cpu_run(factory) for _ in range(max(1, args.runs // 2)))
        with StatementCounter(engine) as naive_count:
            run_naive(factory)
        fast_figures = {g.code: (g.covered, g.households) for g in report.grids if g.households}
        assert naive == fast_figures, "the baseline and the set-based computation disagree"
        total = report.total()
        result = {"db": kind, "households": args.households, "grids": args.grids,
                  "memberships": made["memberships"], "covered": total.covered,
                  "active_households": total.households, "ratio": total.ratio,
                  "uncovered_listed": sum(len(g.uncovered) for g in report.grids),
                  "unbound": total.unbound_members, "pending_overdue": total.pending_overdue,
                  "wrong_group": total.wrong_group,
                  "best_s": best, "median_s": median, "statements": len(full.statements),
                  "naive_best_s": n_best, "naive_statements": len(naive_count.statements),
                  "speedup": n_best / best, "cpu_s": cpu, "naive_cpu_s": n_cpu}
        print(f"   coverage.compute: best {best * 1000:.0f} ms, median {median * 1000:.0f} ms over {args.runs} runs, "
              f"{len(full.statements)} statements (same at 1/10 of the grids)")
        print(f"   CPU time (this process + database backend): best {cpu * 1000:.0f} ms")
        print(f"   naive per-grid ORM loop: best {n_best * 1000:.0f} ms wall, {n_cpu * 1000:.0f} ms CPU, "
              f"{len(naive_count.statements)} statements (figures identical) -> set-based is "
              f"{n_best / best:.1f}x faster (wall), {n_cpu / cpu:.1f}x (CPU)")
        return result
    finally:
        cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--households", type=int, default=50_000)
    parser.add_argument("--grids", type=int, default=300)
    parser.add_argument("--memberships", type=int, default=60_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-explain", dest="explain", action="store_false")
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    results = [bench(k, args) for k in kinds]
    print("\n| database | households | grids | memberships | coverage.compute wall best / median | CPU best "
          "| statements | naive loop wall / CPU | statements | ratio wall / CPU |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['db']} | {r['households']:,} | {r['grids']} | {r['memberships']:,} | "
              f"{r['best_s'] * 1000:.0f} ms / {r['median_s'] * 1000:.0f} ms | {r['cpu_s'] * 1000:.0f} ms | "
              f"{r['statements']} | {r['naive_best_s'] * 1000:.0f} ms / {r['naive_cpu_s'] * 1000:.0f} ms | "
              f"{r['naive_statements']} | {r['speedup']:.1f}x / {r['naive_cpu_s'] / r['cpu_s']:.1f}x |")
    load = os.getloadavg()
    print(f"\n(machine: {os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end; "
          "timings on a busy machine are inflated accordingly)")
    r = results[0]
    print(f"(covered {r['covered']:,} of {r['active_households']:,} active households = {r['ratio']:.1%}; "
          f"uncovered listed {r['uncovered_listed']:,}; unbound people {r['unbound']:,}; "
          f"pending > 3 days {r['pending_overdue']:,}; wrong group {r['wrong_group']:,})")
    if any(r["cpu_s"] >= 1 for r in results):
        print("coverage.compute used 1 s of CPU or more: over the target")
        sys.exit(1)


if __name__ == "__main__":
    main()
