"""Configuration pages (operator, and the secretary for their community): accounts, API tokens, roster import,
dead outbox messages with a retry button, chats and their kind."""
from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ...app import Gridbot
from ...errors import Refusal
from ...models import Grid, GridChat, Member, OutboxMessage, UnknownChat
from ...models.console import ApiToken, ConsoleAccount
from ...models.org import CHAT_KINDS
from ...pipeline import delivery as outbox_svc
from ...privacy import mask_text
from ...services.membership import list_chats, set_chat_kind
from ...services.roster import (
    MAX_COLUMNS,
    MAX_FILE_BYTES,
    MAX_ROWS,
    SHEETS,
    ImportResult,
    RosterError,
    import_roster,
    read_roster,
)
from ...services.scope import Scope
from ...texts import t
from .. import gridbot_app
from ..auth import (
    Principal,
    create_account,
    create_token,
    current_principal,
    forbid,
    requires,
    revoke_token,
    set_password,
    signed_in,
)
from .base import bp, not_found, page_args, paginate, render


# -- accounts ----------------------------------------------------------------------------------------------
def _account_visible(p: Principal, account: ConsoleAccount) -> bool:
    """An operator manages every account; a secretary those of their own community's members whose roles are not
    above their own (never an operator's: that would hand them the county)."""
    if p.is_operator:
        return True
    scope = Scope.of(p)
    return (account.member is not None and not account.is_operator
            and scope.has_community(account.member.community_id) and scope.may_grant(account.member.roles or []))


@bp.route("/accounts", methods=["GET", "POST"])
@requires("configure")
def accounts():
    p = signed_in()
    app = gridbot_app()
    if request.method == "POST":
        username = request.form.get("username", "")
        member_userid = request.form.get("member", "").strip() or None
        # operator accounts: made by an operator, or `gridbot account create --operator` on the server; the box
        # is not on a secretary's form, and a forged one is ignored
        operator = bool(request.form.get("operator")) and p.is_operator
        password = request.form.get("password", "")
        with app.session() as s:
            try:
                with s.begin():
                    if member_userid and not p.is_operator:
                        scope = Scope.of(p)
                        member = s.scalar(select(Member).where(Member.userid == member_userid))
                        if member is None or not scope.has_community(member.community_id):
                            forbid("account for another community", "member", member_userid)
                        if not scope.may_grant(member.roles or []):
                            forbid("account for a member above one's own role", "member", member_userid)
                    create_account(s, username=username, password=password, member_userid=member_userid,
                                   operator=operator, actor=p.actor, now=app.clock.now())
                flash(t("console.flash.account_created", username=username.strip()))
            except Refusal as err:
                flash(err.text, "error")
        return redirect(url_for("console.accounts"))
    with app.session() as s:
        rows = [a for a in s.scalars(select(ConsoleAccount).options(selectinload(ConsoleAccount.member))
                                     .order_by(ConsoleAccount.username)) if _account_visible(p, a)]
        members_q = select(Member).where(Member.active.is_(True)).order_by(Member.name)
        if not p.is_operator:
            members_q = members_q.where(Member.community_id == p.community_id)
        members = list(s.scalars(members_q))
    return render("accounts.html", accounts=rows, members=members)


@bp.post("/accounts/<int:account_id>/password")
@requires("configure")
def account_password(account_id: int) -> ResponseReturnValue:
    p = signed_in()
    app = gridbot_app()
    with app.session() as s:
        try:
            with s.begin():
                account = s.get(ConsoleAccount, account_id)
                if account is None:
                    not_found()
                if not _account_visible(p, account):
                    forbid("account of another community", "console_account", account_id)
                set_password(s, account, request.form.get("password", ""), actor=p.actor, now=app.clock.now())
                username = account.username
            flash(t("console.flash.password_reset", username=username))
        except Refusal as err:
            flash(err.text, "error")
    return redirect(url_for("console.accounts"))


# -- API tokens ------------------------------------------------------------------------------------------------
@bp.route("/tokens", methods=["GET", "POST"])
@requires("login")
def tokens():
    """Everyone manages their own tokens (a token acts with its account's role and grids); operators see all."""
    p = signed_in()
    app = gridbot_app()
    secret = None
    if request.method == "POST":   # the secret is in this response only: never in the session cookie (a flash)
        with app.session() as s, s.begin():
            account = s.get_one(ConsoleAccount, p.account_id)   # the signed-in account exists
            _, secret = create_token(s, account, request.form.get("name", ""), actor=p.actor, now=app.clock.now())
    with app.session() as s:
        q = select(ApiToken).options(selectinload(ApiToken.account)).order_by(ApiToken.id.desc())
        if not p.is_operator:
            q = q.where(ApiToken.account_id == p.account_id)
        rows = list(s.scalars(q))
    page = render("tokens.html", tokens=rows, new_secret=secret,
                  new_secret_text=t("console.flash.token_created", secret=secret) if secret else None)
    return (page, 200, {"Cache-Control": "no-store"}) if secret else page


@bp.post("/tokens/<int:token_id>/revoke")
@requires("login")
def token_revoke(token_id: int) -> ResponseReturnValue:
    p = signed_in()
    app = gridbot_app()
    with app.session() as s, s.begin():
        token = s.get(ApiToken, token_id)
        if token is None:
            not_found()
        if token.account_id != p.account_id and not p.is_operator:
            forbid("token of another account", "api_token", token_id)
        revoke_token(s, token, actor=p.actor, now=app.clock.now())
    flash(t("console.flash.token_revoked"))
    return redirect(url_for("console.tokens"))


# -- roster import -----------------------------------------------------------------------------------------------
@bp.route("/roster", methods=["GET", "POST"])
@requires("configure")
def roster_import():
    """Upload a roster (xlsx or csv): every row is validated first; with any bad row nothing is written."""
    p = signed_in()
    app = gridbot_app()
    result = error = None
    dry_run = False
    if request.method == "POST":
        uploads = [f for f in request.files.getlist("file") if f and f.filename]
        dry_run = bool(request.form.get("dry_run"))
        names = [_roster_name(f.filename or "") for f in uploads]
        if not uploads or None in names:
            error = t("console.errors.no_file")
        else:
            with tempfile.TemporaryDirectory() as tmp:
                paths = []
                for upload, name in zip(uploads, names, strict=True):
                    path = Path(tmp) / str(name)
                    upload.save(path)
                    paths.append(path)
                try:
                    raw = read_roster(paths if len(paths) > 1 else paths[0])
                except RosterError as err:      # unreadable: the same report, the sheet and row named
                    result = ImportResult(errors=err.errors)
                except Exception as exc:  # noqa: BLE001 - a broken file is the clerk's problem, said plainly
                    error = t("console.errors.bad_file", error=type(exc).__name__)
                else:
                    with app.session() as s:
                        tx = s.begin()
                        result = import_roster(s, raw, p.actor, app.clock.now(), scope=Scope.of(p))
                        if result.errors or dry_run:
                            tx.rollback()
                        else:
                            tx.commit()
            if result is not None and result.errors:
                flash(t("console.flash.import_errors", n=len(result.errors)), "error")
            elif result is not None and not dry_run:
                c = result.counts
                flash(t("console.flash.imported", grids=c["网格"].changed, members=c["成员"].changed,
                        households=c["住户"].changed))
    status = 400 if (error or (result is not None and result.errors)) else 200
    limits = t("roster.limits", rows=MAX_ROWS, cols=MAX_COLUMNS, mb=MAX_FILE_BYTES // (1024 * 1024))
    return render("roster.html", result=result, error=error, dry_run=dry_run, limits=limits), status


def _roster_name(filename: str) -> str | None:
    """Where an upload is saved: an .xlsx as is, a CSV only under its sheet's name (网格.csv, 成员.csv, 住户.csv)."""
    name = Path(filename.replace("\\", "/")).name
    suffix = Path(name).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return "roster" + suffix
    if suffix == ".csv" and Path(name).stem in SHEETS:
        return Path(name).stem + ".csv"
    return None


# -- dead outbox messages ------------------------------------------------------------------------------------------
@bp.get("/outbox")
@requires("configure")
def outbox():
    """Messages that could not be sent, of the person's own community (an operator sees every community's)."""
    app = gridbot_app()
    page, per_page = page_args()
    with app.session() as s:
        q = (Scope.of(current_principal()).outbox(select(OutboxMessage))
             .where(OutboxMessage.status.in_(("dead", "unknown"))).order_by(OutboxMessage.id.desc()))
        result = paginate(s, q, page, per_page)
    rows = [{"id": r.id, "platform": r.platform, "target_type": r.target_type, "target": r.target,
             "text": mask_text(str((r.content or {}).get("text", "")))[:300], "status": r.status,
             "attempts": r.attempts, "error": mask_text(r.last_error or "")[:300], "created_at": r.created_at}
            for (r,) in result.items]
    return render("outbox.html", page=result, rows=rows)


def _outbox_action(outbox_id: int, act: Callable[[Gridbot, int, str], bool], done: str,
                   failed: str) -> ResponseReturnValue:
    """One person's action on an outbox row of their community (another community's row is not there for them)."""
    p = signed_in()
    with gridbot_app().session() as s:
        if s.scalar(Scope.of(p).outbox(select(OutboxMessage.id)).where(OutboxMessage.id == outbox_id)) is None:
            not_found()
    if act(gridbot_app(), outbox_id, p.actor):
        flash(t(f"console.flash.{done}", id=outbox_id))
    else:
        flash(t(f"console.flash.{failed}", id=outbox_id), "error")
    return redirect(url_for("console.outbox"))


@bp.post("/outbox/<int:outbox_id>/retry")
@requires("configure")
def outbox_retry(outbox_id: int) -> ResponseReturnValue:
    return _outbox_action(outbox_id, outbox_svc.retry_dead, "retried", "retry_failed")


@bp.post("/outbox/<int:outbox_id>/confirm")
@requires("configure")
def outbox_confirm(outbox_id: int) -> ResponseReturnValue:
    """已确认送达: a person checked the chat and the message of unknown outcome is there; it leaves the list."""
    return _outbox_action(outbox_id, outbox_svc.confirm_delivered, "confirmed", "confirm_failed")


# -- chats: what each one is (its kind decides how the bot can speak in it) ---------------------------------------
@bp.get("/chats")
@requires("configure")
def chats():
    """Bound chats of the person's community with their kind; an operator sees all, and the chats heard from but
    not bound yet."""
    p = signed_in()
    with gridbot_app().session() as s:
        rows = list_chats(s, None if p.is_operator else Scope.of(p).community_ids)
    kinds = [(k, t(f"wecom.chat_kinds.{k}")) for k in CHAT_KINDS]
    return render("chats.html", rows=rows, kinds=kinds, kind_names=dict(kinds))


@bp.post("/chats/<chat_id>/kind")
@requires("configure")
def chat_kind(chat_id: str) -> ResponseReturnValue:
    """Set a chat's kind (and a robot group's webhook key): a chat of another community is not this person's; a
    chat bound to no grid is an operator's."""
    p = signed_in()
    app = gridbot_app()
    with app.session() as s, s.begin():
        community = s.scalar(select(Grid.community_id).join(GridChat, GridChat.grid_id == Grid.id)
                             .where(GridChat.chat_id == chat_id))
        if community is None and s.scalar(select(UnknownChat.id).where(UnknownChat.chat_id == chat_id)) is None:
            not_found()   # no such chat, bound or heard from
        if not p.is_operator and not (community is not None and Scope.of(p).has_community(community)):
            forbid("chat outside the community", "chat", chat_id)
        kind = request.form.get("kind", "")
        try:
            set_chat_kind(s, chat_id, kind, p.actor, app.clock.now(),
                          robot_key=request.form.get("robot_key", "").strip() or None)
            flash(t("wecom.chat.kind_set", chat_id=chat_id, kind=kind, label=t(f"wecom.chat_kinds.{kind}")))
        except Refusal as err:
            flash(err.text, "error")
    return redirect(url_for("console.chats"))
