"""`gridbot seed synthetic`: realistic, deterministic data the benchmarks and load tests stand on."""
from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from gridbot.cli import main
from gridbot.models import Grid, Member, Ticket, TicketEvent, TicketSequence
from gridbot.services import coverage, synthetic
from gridbot.services import tickets as tickets_svc

END = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
SPEC = synthetic.Spec(grids=6, households=1200, days=20, communities=2, seed=5, end=END)


def _fingerprint(app) -> tuple:
    with app.session() as s:
        return (s.execute(select(Ticket.number, Ticket.category, Ticket.urgency, Ticket.status, Ticket.rating)
                          .order_by(Ticket.id)).all(),
                s.execute(select(TicketEvent.ticket_id, TicketEvent.action, TicketEvent.at)
                          .order_by(TicketEvent.id)).all())


def test_synthetic_county_is_realistic(app):
    counts = synthetic.generate(app.engine, SPEC, app.settings.timezone)
    assert counts["grids"] == 6 and counts["households"] == 1200 and counts["communities"] == 2
    # 0.5–2 tickets per grid per day
    assert 0.5 * 6 * 20 * 0.7 <= counts["tickets"] <= 2 * 6 * 20 * 1.3
    with app.session() as s:
        report = coverage.compute(s, END)
        total = report.total()
        assert 0.80 <= total.ratio <= 0.90          # ~85% of households have a representative in the group
        # A/B pairs: every grid's two workers are each other's partner
        pairs = s.execute(select(Member.id, Member.partner_id).where(Member.partner_id.is_not(None))).all()
        partner = dict(pairs)
        assert len(pairs) == 12 and all(partner[b] == a for a, b in pairs)
        # every ticket has a history that starts with its report and ends in its status
        for t in s.scalars(select(Ticket)).all():
            evs = s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == t.id).order_by(TicketEvent.id)).all()
            assert evs[0].action == "report" and evs[-1].to_status == t.status
            assert all(e.at >= t.created_at for e in evs)
        urgent = s.scalar(select(func.count()).select_from(Ticket).where(Ticket.urgency == "urgent"))
        assert 0 < urgent < counts["tickets"] * 0.3
        assert s.scalar(select(func.count(func.distinct(Ticket.category)))) >= 8
        assert s.scalar(select(func.count()).select_from(Ticket).where(Ticket.rating == "satisfied")) > \
            counts["tickets"] / 2


def test_same_seed_same_data_and_real_tickets_continue_the_numbering(make_app, tmp_path, db_url):
    a = make_app(db_url)
    synthetic.generate(a.engine, SPEC, a.settings.timezone)
    first = _fingerprint(a)
    b = make_app(f"sqlite:///{tmp_path / 'again.db'}")
    synthetic.generate(b.engine, SPEC, b.settings.timezone)
    assert _fingerprint(b) == first
    # the data is usable by the product: a new ticket gets the next number of its day, ids continue
    with a.session() as s, s.begin():
        last = s.scalar(select(TicketSequence).order_by(TicketSequence.prefix.desc()))
        community = last.prefix.split("-")[0]
        number = tickets_svc.next_number(s, community, END, a.settings.tz)
        if number.startswith(last.prefix):
            assert number == f"{last.prefix}-{last.last + 1:04d}"
        s.add(Grid(community_id=1, code="NEW", name="新网格", level=2))
        s.flush()


def test_refuses_a_database_with_data(app):
    synthetic.generate(app.engine, SPEC, app.settings.timezone)
    with pytest.raises(synthetic.NotEmpty):
        synthetic.generate(app.engine, SPEC, app.settings.timezone)


def test_cli(monkeypatch, make_app, sqlite_url):
    make_app(sqlite_url)
    monkeypatch.setenv("GRIDBOT_DATABASE_URL", sqlite_url)
    runner = CliRunner()
    result = runner.invoke(main, ["seed", "synthetic", "--grids", "3", "--households", "300", "--days", "5",
                                  "--until", "2026-11-02T09:00"])
    assert result.exit_code == 0, result.output
    assert re.search(r"^households\s+300$", result.output, re.M) and re.search(r"^tickets\s+\d+", result.output, re.M)
    again = runner.invoke(main, ["seed", "synthetic", "--grids", "3", "--days", "5"])
    assert again.exit_code == 2 and "空库" in again.output
    few = runner.invoke(main, ["seed", "synthetic", "--grids", "3", "--households", "2"])
    assert few.exit_code == 2 and "户数太少" in few.output
