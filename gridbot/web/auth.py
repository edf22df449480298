"""Console sign-in: local accounts (hashed passwords, lock-out) and WeCom web authorization / QR login.

Who someone is comes from a ConsoleAccount; what they may do comes from the Member it is linked to (roles and
grids, the same member_scope the chat uses), or from being an operator (configuration, no case work).
Sessions are signed cookies (HttpOnly, SameSite=Lax, Secure outside the demo); every form carries a CSRF token.
A cookie holds the account's session epoch, checked on every request: sign-out and a password reset raise it, so
a cookie copied before them is refused after. A password reset also revokes the account's API tokens (docs/console.md).
A new token's secret is shown once in the response page, never put in the cookie (a flash would be).
Every sign-in, refusal and lock-out is written to the audit log.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, NoReturn
from urllib.parse import quote, urlparse

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, selectinload
from werkzeug.security import check_password_hash, generate_password_hash

from ..errors import Refusal
from ..models import Member
from ..models.console import ApiToken, ConsoleAccount, LoginFailure
from ..models.org import LEADER_ROLES, ROLE_CHIEF, ROLE_OPERATOR, ROLE_SECRETARY
from ..services import audit
from ..services.people import Speaker, member_scope
from ..texts import t
from ..wecom.client import client_for
from . import gridbot_app

bp = Blueprint("auth", __name__, url_prefix="/console")

MAX_FAILURES = 5
LOCK_WINDOW = timedelta(minutes=15)
PASSWORD_METHOD = "scrypt"
MIN_PASSWORD = 8
TOKEN_PREFIX = "gbt_"
CASEWORK_ROLES = frozenset({"part_time", "member", "building_leader", "group_leader", "grid_leader",
                            "secretary", "chief"})
# Who may read residents' phones (in their own scope): not 楼栋长/小组长, who are contacts, not handlers.
PHONE_ROLES = frozenset({"part_time", "member", "grid_leader", "secretary", "chief"})
_DUMMY_HASH = generate_password_hash("not-a-password", method=PASSWORD_METHOD)


@bp.record_once
def _cookie_settings(state: Any) -> None:
    """Secure cookies, except where the console is served over plain HTTP on purpose (demo, tests)."""
    cfg = state.app.config
    insecure = bool(cfg.get("GRIDBOT_SIMULATOR") or cfg.get("TESTING") or cfg.get("CONSOLE_INSECURE_COOKIES")
                    or state.app.debug)
    cfg["SESSION_COOKIE_HTTPONLY"] = True
    cfg["SESSION_COOKIE_SAMESITE"] = cfg.get("SESSION_COOKIE_SAMESITE") or "Lax"
    if not insecure:
        cfg["SESSION_COOKIE_SECURE"] = True
    if cfg.get("PERMANENT_SESSION_LIFETIME") == timedelta(days=31):   # Flask's default: a working day instead
        cfg["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=12)
    state.app.jinja_env.globals["csrf_token"] = csrf_token
    state.app.session_interface = PeopleOnlySessions()


SESSIONLESS_PREFIXES = ("/wecom/", "/metrics", "/healthz", "/readyz")


class PeopleOnlySessions(SecureCookieSessionInterface):
    """Sessions are for people in the console. WeCom's callbacks and the probes never carry the cookie, so they
    skip building the cookie signer: a twentieth of a callback's CPU at saturation (bench/webhook)."""

    def open_session(self, app, request):
        if request.path.startswith(SESSIONLESS_PREFIXES):
            return self.make_null_session(app)
        return super().open_session(app, request)


# -- who is asking ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Principal:
    account_id: int
    username: str
    name: str
    is_operator: bool
    member_id: int | None = None
    userid: str | None = None
    roles: frozenset[str] = frozenset()
    community_id: int | None = None
    grid_ids: frozenset[int] = frozenset()
    scope_grid_ids: frozenset[int] = frozenset()
    via: str = "session"

    @property
    def actor(self) -> str:
        return f"member:{self.userid}" if self.userid else f"console:{self.username}"

    @property
    def can_casework(self) -> bool:
        return self.member_id is not None and bool(self.roles & CASEWORK_ROLES)

    @property
    def can_configure(self) -> bool:
        return self.is_operator or bool(self.roles & {ROLE_SECRETARY, ROLE_CHIEF})

    @property
    def is_secretary(self) -> bool:
        return bool(self.roles & {ROLE_SECRETARY, ROLE_CHIEF})

    @property
    def is_leader(self) -> bool:
        return bool(self.roles & LEADER_ROLES)

    @property
    def role_label(self) -> str:
        if self.is_secretary:
            return "secretary"
        if self.is_leader:
            return "grid_leader"
        if self.can_casework:
            return "member"
        return "operator" if self.is_operator else "none"

    def in_scope(self, grid_id: int | None) -> bool:
        return self.can_casework and grid_id is not None and grid_id in self.scope_grid_ids

    def sees_phone(self, grid_id: int | None) -> bool:
        return self.in_scope(grid_id) and bool(self.roles & PHONE_ROLES)

    def speaker(self) -> Speaker:
        """The same Speaker the chat builds, so ticket services check scope the same way."""
        return Speaker(platform="console", user_id=self.userid or self.username, name=self.name,
                       member_id=self.member_id, roles=self.roles, community_id=self.community_id,
                       grid_ids=self.grid_ids, scope_grid_ids=self.scope_grid_ids)


def principal_for(session: Session, account: ConsoleAccount | None, via: str = "session") -> Principal | None:
    if account is None or not account.active:
        return None
    member = account.member
    if member is None:
        return Principal(account.id, account.username, account.display_name or account.username,
                         is_operator=account.is_operator, via=via)
    if not member.active:
        return None
    roles = frozenset(member.roles or [])
    operator = account.is_operator or (ROLE_OPERATOR in roles and not roles & CASEWORK_ROLES)
    return Principal(
        account.id, account.username, member.name, is_operator=operator, member_id=member.id,
        userid=member.userid, roles=roles - {ROLE_OPERATOR}, community_id=member.community_id,
        grid_ids=frozenset(link.grid_id for link in member.grid_links),
        scope_grid_ids=frozenset(member_scope(session, member)) if roles & CASEWORK_ROLES else frozenset(),
        via=via)


def _load_account(session: Session, account_id: int) -> ConsoleAccount | None:
    return session.scalar(select(ConsoleAccount).where(ConsoleAccount.id == account_id)
                          .options(selectinload(ConsoleAccount.member).selectinload(Member.grid_links)))


def current_principal() -> Principal | None:
    """The signed-in person of this request (cached on g); None when anonymous or the session went stale."""
    if "principal" in g:
        return g.principal
    g.principal = None
    account_id = session.get("account_id")
    if account_id:
        with gridbot_app().session() as s:
            account = _load_account(s, int(account_id))
            if account is not None and session.get("epoch") == account.session_epoch:
                g.principal = principal_for(s, account)
        if g.principal is None:
            session.clear()
    return g.principal


def signed_in() -> Principal:
    """The signed-in person, in a view behind requires(...): like it, anyone else is sent to sign in."""
    principal = current_principal()
    if principal is None:
        abort(redirect(url_for("auth.login", next=request.full_path.rstrip("?"))))
    return principal


def end_sessions(s: Session, account_id: int) -> None:
    """Every session cookie of this account stops working (copies included): its epoch moves on."""
    s.execute(update(ConsoleAccount).where(ConsoleAccount.id == account_id)
              .values(session_epoch=ConsoleAccount.session_epoch + 1))


# -- refusals and audit -------------------------------------------------------------------------------------
def audit_event(actor: str, action: str, entity_type: str | None = None, entity_id: Any = None,
                **detail: Any) -> None:
    """An audit row in its own transaction (refusals must be recorded even though the request fails)."""
    app = gridbot_app()
    with app.session() as s, s.begin():
        audit.record(s, actor, action, entity_type, entity_id,
                     {"path": request.path, "method": request.method, **detail}, at=app.clock.now())


def forbid(reason: str = "scope", entity_type: str | None = None, entity_id: Any = None) -> NoReturn:
    """Refuse (403), audited. The console shows the 403 page; the API answers a JSON error."""
    p = current_principal() if not getattr(g, "api_principal", None) else g.api_principal
    actor = p.actor if p else "anonymous"
    audit_event(actor, "console.forbidden" if not request.path.startswith("/api/") else "api.forbidden",
                entity_type, entity_id, reason=reason)
    abort(403)


ACCESS_LEVELS = ("public", "login", "casework", "configure", "operator")


def requires(level: str) -> Callable:
    """Mark a console view with who may open it; the authorization matrix test reads `_access`."""
    if level not in ACCESS_LEVELS:
        raise ValueError(level)

    def deco(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kw: Any) -> Any:
            if level != "public":
                p = current_principal()
                if p is None:
                    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
                allowed = (level == "login" or (level == "casework" and p.can_casework)
                           or (level == "configure" and p.can_configure)
                           or (level == "operator" and p.is_operator))
                if not allowed:
                    forbid(f"needs {level}")
            return view(*args, **kw)

        wrapped._access = level  # type: ignore[attr-defined]  # read by the authorization matrix test
        return wrapped

    return deco


# -- CSRF ------------------------------------------------------------------------------------------------
def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Every state-changing console request carries the session's token (form field or X-CSRF-Token)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf") or ""
    if not expected or not hmac.compare_digest(sent, expected):
        p = current_principal()
        audit_event(p.actor if p else "anonymous", "console.csrf_refused")
        abort(400, description=t("console.errors.csrf"))


bp.before_request(check_csrf)


# -- passwords, lock-out --------------------------------------------------------------------------------
def hash_password(password: str) -> str:
    return generate_password_hash(password, method=PASSWORD_METHOD)


def check_password(password: str) -> None:
    """Refuse a password too short to keep a community's data safe."""
    if len(password) < MIN_PASSWORD:
        raise Refusal("console.errors.password_short", n=MIN_PASSWORD)


def locked_until(session: Session, username: str, now: datetime, *, besides: int | None = None) -> datetime | None:
    """When the lock-out ends, if MAX_FAILURES failures in the window lock it now (`besides`: a row not to count)."""
    since = now - LOCK_WINDOW
    query = select(LoginFailure.at).where(LoginFailure.username == username, LoginFailure.at > since)
    if besides is not None:
        query = query.where(LoginFailure.id != besides)
    rows = list(session.scalars(query.order_by(LoginFailure.at.desc()).limit(MAX_FAILURES)))
    if len(rows) < MAX_FAILURES:
        return None
    return rows[0] + LOCK_WINDOW


def _record_attempt(session: Session, username: str, now: datetime, ip: str | None) -> tuple[int, int]:
    """Write this attempt as a failure and commit it before any password is checked; then count the failures in
    the window, this one included. (its row id, the count)

    Concurrent attempts each see at least as many failures as were committed before theirs, so however many arrive
    at once only the first MAX_FAILURES can go on to a password check (it was 18-20 of 40 when the failure was
    written after the check). Its own short transaction, on both databases.
    """
    with Session(bind=session.get_bind(), expire_on_commit=False) as own, own.begin():
        row = LoginFailure(username=username, at=now, ip=ip)
        own.add(row)
        own.flush()
        row_id = row.id
    count = session.scalar(select(func.count()).select_from(LoginFailure).where(
        LoginFailure.username == username, LoginFailure.at > now - LOCK_WINDOW)) or 0
    return row_id, count


def authenticate(session: Session, username: str, password: str, now: datetime, ip: str | None
                 ) -> tuple[ConsoleAccount | None, str | None]:
    """(account, None) on success; (None, Chinese reason) otherwise. The failure is counted before the check.

    Call it before `session` has run a statement (it commits the attempt on a connection of its own first).
    """
    username = username.strip()[:64]
    attempt_id, failures = _record_attempt(session, username, now, ip)
    if failures > MAX_FAILURES:
        # locked: this attempt is not a failure of its own (it does not extend the lock) and nothing is checked
        session.execute(delete(LoginFailure).where(LoginFailure.id == attempt_id))
        until = locked_until(session, username, now, besides=attempt_id) or now + LOCK_WINDOW
        audit.record(session, f"console:{username}", "console.login_locked", "console_account", None,
                     {"ip": ip}, at=now)
        return None, t("console.errors.locked", minutes=max(1, int((until - now).total_seconds() // 60) + 1))
    account = session.scalar(select(ConsoleAccount).where(ConsoleAccount.username == username))
    ok = check_password_hash(account.password_hash if account and account.password_hash else _DUMMY_HASH,
                             password)
    if account is None or not account.password_hash or not ok or not account.active:
        audit.record(session, f"console:{username}", "console.login_failed", "console_account",
                     account.id if account else None, {"ip": ip}, at=now)
        if failures == MAX_FAILURES:
            audit.record(session, f"console:{username}", "console.locked", "console_account",
                         account.id if account else None, {"ip": ip, "minutes": LOCK_WINDOW.seconds // 60}, at=now)
        return None, t("console.errors.bad_login")
    session.execute(delete(LoginFailure).where(LoginFailure.username == username))
    return account, None


def _start_session(account: ConsoleAccount, now: datetime, how: str) -> None:
    session.clear()
    session.permanent = True
    session["account_id"] = account.id
    session["epoch"] = account.session_epoch
    csrf_token()
    account.last_login_at = now


def _safe_next(target: str | None) -> str:
    """Only a local console path: no open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and not urlparse(target).netloc:
        return target
    return url_for("console.dashboard")


def _client_ip() -> str | None:
    return (request.remote_addr or "")[:64] or None


@bp.route("/login", methods=["GET", "POST"])
@requires("public")
def login():
    app = gridbot_app()
    error = None
    if request.method == "POST":
        username = request.form.get("username", "")
        password = request.form.get("password", "")
        now = app.clock.now()
        with app.session() as s, s.begin():
            account, error = authenticate(s, username, password, now, _client_ip())
            if account is not None:
                principal = principal_for(s, _load_account(s, account.id))
                if principal is None:
                    error = t("console.errors.inactive")
                else:
                    _start_session(account, now, "password")
                    audit.record(s, principal.actor, "console.login", "console_account", account.id,
                                 {"ip": _client_ip(), "via": "password"}, at=now)
        if error is None:
            return redirect(_safe_next(request.args.get("next")))
    wecom = app.settings.wecom
    return render_template("console/login.html", error=error, wecom_enabled=bool(wecom.corp_id),
                           next=request.args.get("next", "")), (401 if error else 200)


@bp.post("/logout")
@requires("login")
def logout():
    p = signed_in()
    app = gridbot_app()
    with app.session() as s, s.begin():   # every session of the account ends, not only this browser's
        end_sessions(s, p.account_id)
        audit.record(s, p.actor, "console.logout", "console_account", p.account_id,
                     {"path": request.path, "method": request.method}, at=app.clock.now())
    session.clear()
    flash(t("console.flash.logged_out"))
    return redirect(url_for("auth.login"))


# -- WeCom web authorization (企业微信网页授权登录) and QR login ------------------------------------------------
OAUTH_URL = "https://open.weixin.qq.com/connect/oauth2/authorize"
QR_URL = "https://login.work.weixin.qq.com/wwlogin/sso/login"


@bp.get("/login/wecom")
@requires("public")
def wecom_login():
    """Inside WeCom's browser: the OAuth2 authorize page (silent, snsapi_base). Elsewhere: the QR login page."""
    wc = gridbot_app().settings.wecom
    if not wc.corp_id:
        abort(404)
    state = session["wecom_state"] = secrets.token_urlsafe(16)
    session["wecom_next"] = _safe_next(request.args.get("next"))
    # the address WeCom sends the person back to: the configured public base (a trusted domain in WeCom's admin)
    base = gridbot_app().settings.console_base_url.rstrip("/")
    callback = quote(base + url_for("auth.wecom_callback"), safe="")
    if "wxwork" in (request.headers.get("User-Agent") or "").lower():
        return redirect(f"{OAUTH_URL}?appid={wc.corp_id}&redirect_uri={callback}&response_type=code"
                        f"&scope=snsapi_base&state={state}&agentid={wc.agent_id or ''}#wechat_redirect")
    return redirect(f"{QR_URL}?login_type=CorpApp&appid={wc.corp_id}&agentid={wc.agent_id or ''}"
                    f"&redirect_uri={callback}&state={state}")


@bp.get("/login/wecom/callback")
@requires("public")
def wecom_callback():
    """code -> /cgi-bin/auth/getuserinfo -> userid -> the Member -> their console account (made on first use)."""

    app = gridbot_app()
    code = request.args.get("code", "")
    state = request.args.get("state", "")
    expected = session.pop("wecom_state", None)
    if not code or not expected or not hmac.compare_digest(state, expected):
        audit_event("anonymous", "console.login_failed", detail="wecom state mismatch")
        return render_template("console/login.html", error=t("console.errors.wecom_state"),
                               wecom_enabled=True, next=""), 400
    try:
        data = client_for(app).call(f"/cgi-bin/auth/getuserinfo?code={quote(code)}", method="GET")
    except Exception as exc:  # noqa: BLE001 - WeCom refused the code or is unreachable: one clear line
        audit_event("anonymous", "console.login_failed", via="wecom", error=type(exc).__name__)
        return render_template("console/login.html", error=t("console.errors.wecom_failed"),
                               wecom_enabled=True, next=""), 401
    userid = data.get("userid") or data.get("UserId")
    now = app.clock.now()
    with app.session() as s, s.begin():
        member = s.scalar(select(Member).where(Member.userid == userid, Member.active.is_(True))) if userid else None
        if member is None:
            audit.record(s, f"wecom:{userid or data.get('openid') or '?'}", "console.login_failed",
                         "console_account", None, {"via": "wecom", "reason": "not a member"}, at=now)
            error = t("console.errors.wecom_not_member")
        else:
            account = s.scalar(select(ConsoleAccount).where(ConsoleAccount.member_id == member.id))
            if account is None:
                account = ConsoleAccount(username=_free_username(s, member.userid), member_id=member.id,
                                         display_name=member.name, created_at=now)
                s.add(account)
                s.flush()
            principal = principal_for(s, _load_account(s, account.id))
            if principal is None:
                error = t("console.errors.inactive")
            else:
                error = None
                _start_session(account, now, "wecom")
                audit.record(s, principal.actor, "console.login", "console_account", account.id,
                             {"ip": _client_ip(), "via": "wecom"}, at=now)
    if error:
        return render_template("console/login.html", error=error, wecom_enabled=True, next=""), 403
    return redirect(session.pop("wecom_next", None) or url_for("console.dashboard"))


def _free_username(s: Session, wanted: str) -> str:
    name, n = wanted[:60], 1
    while s.scalar(select(func.count()).select_from(ConsoleAccount).where(ConsoleAccount.username == name)):
        n += 1
        name = f"{wanted[:56]}-{n}"
    return name


# -- accounts and tokens (shared by the console and the CLI) ------------------------------------------------
def create_account(s: Session, *, username: str, password: str | None, member_userid: str | None = None,
                   operator: bool = False, display_name: str | None = None, actor: str = "cli",
                   now: datetime) -> ConsoleAccount:
    username = username.strip()
    if not username or len(username) > 64:
        raise Refusal("console.errors.username")
    if s.scalar(select(ConsoleAccount.id).where(ConsoleAccount.username == username)):
        raise Refusal("console.errors.username_taken", username=username)
    member = None
    if member_userid:
        member = s.scalar(select(Member).where(Member.userid == member_userid))
        if member is None:
            raise Refusal("console.errors.no_member", userid=member_userid)
        if s.scalar(select(ConsoleAccount.id).where(ConsoleAccount.member_id == member.id)):
            raise Refusal("console.errors.member_has_account", userid=member_userid)
    elif not operator:
        raise Refusal("console.errors.member_or_operator")
    if password is not None:
        check_password(password)
    account = ConsoleAccount(username=username, password_hash=hash_password(password) if password else None,
                             member_id=member.id if member else None, is_operator=operator,
                             display_name=display_name or (member.name if member else username), created_at=now)
    s.add(account)
    s.flush()
    audit.record(s, actor, "console.account_create", "console_account", account.id,
                 {"username": username, "member": member_userid, "operator": operator}, at=now)
    return account


def set_password(s: Session, account: ConsoleAccount, password: str, *, actor: str, now: datetime) -> None:
    check_password(password)
    account.password_hash = hash_password(password)
    s.execute(delete(LoginFailure).where(LoginFailure.username == account.username))
    s.flush()
    end_sessions(s, account.id)
    s.refresh(account)
    revoked = []
    for token in s.scalars(select(ApiToken).where(ApiToken.account_id == account.id, ApiToken.revoked_at.is_(None))):
        revoke_token(s, token, actor=actor, now=now)
        revoked.append(token.id)
    audit.record(s, actor, "console.password_reset", "console_account", account.id,
                 {"sessions_ended": True, "tokens_revoked": revoked}, at=now)


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(s: Session, account: ConsoleAccount, name: str, *, actor: str, now: datetime) -> tuple[ApiToken, str]:
    """A new bearer token; the secret is shown once and only its hash is kept."""
    name = (name or "").strip()[:64] or "token"
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(account_id=account.id, name=name, token_hash=token_hash(secret), prefix=secret[:10],
                     created_at=now)
    s.add(token)
    s.flush()
    audit.record(s, actor, "api.token_create", "api_token", token.id, {"account": account.username, "name": name},
                 at=now)
    return token, secret


def revoke_token(s: Session, token: ApiToken, *, actor: str, now: datetime) -> None:
    if token.revoked_at is None:
        token.revoked_at = now
        audit.record(s, actor, "api.token_revoke", "api_token", token.id, at=now)


def principal_for_token(s: Session, secret: str, now: datetime) -> Principal | None:
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = s.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(secret),
                                            ApiToken.revoked_at.is_(None)))
    if token is None:
        return None
    account = _load_account(s, token.account_id)
    if account is None:
        return None
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=5):
        token.last_used_at = now   # coarse, so a busy integration does not write on every call
    return principal_for(s, account, via="token")
