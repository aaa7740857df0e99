"""SOAP sessions: the vmware_soap_session cookie names a server-side session in Django's cache
(Redis, shared by every web process), holding the user and the session's own objects
(container views, property collectors and filters).

SessionManager Login, Logout, SessionIsActive and currentSession live here. Login checks Django
users with the lab's login throttle (config.login_throttle), as every password check does.
"""

import secrets
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.contrib.auth import authenticate, get_user_model
from django.contrib.sessions.backends.cache import SessionStore
from pyVmomi import vim
from redis.exceptions import LockError

from config.login_throttle import current_refusal, record_failure, record_success
from hostsim.redis_client import get_redis
from vsphere import registry

COOKIE_NAME = "vmware_soap_session"
IDLE_TIMEOUT_S = 30 * 60  # vCenter's default session idle timeout (vpxd.httpClientIdleTimeout)
LOCALE = "en"
STATE_KEY = "vsphere"


@dataclass
class Client:
    """Who is calling: the address and user agent of the HTTP request."""

    address: str
    user_agent: str
    https: bool = False


@dataclass
class SoapSession:
    store: SessionStore
    user: object | None = None
    modified: bool = False
    state: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.store.session_key

    def objects(self, kind: str) -> dict:
        """The session's own objects of one kind ("views", "filters", "collectors")."""
        self.modified = True
        return self.state.setdefault(kind, {})

    def new_id(self, prefix: str) -> str:
        """A managed object id for a session object, in vCenter's style: session[key]id."""
        self.modified = True
        number = self.state.get("next", 1)
        self.state["next"] = number + 1
        return f"session[{self.key[:16]}]{prefix}{number}"

    def save(self) -> None:
        self.store[STATE_KEY] = self.state
        self.store.set_expiry(IDLE_TIMEOUT_S)
        self.store.save()


SESSION_LOCK_S = 30  # a call holds its session this long at most (a crashed call frees it then)


class SessionBusy(Exception):
    pass


@contextmanager
def serialized(cookie: str | None):
    """One call of a session at a time: each call reads the session's objects, may change them and
    writes them back, and clients call from several threads on one session (vmware_exporter's
    scrapes create their container views in parallel), so two overlapping calls would lose one's
    change. WaitForUpdates holds it only while it looks, not while it waits."""
    if not cookie or len(cookie) > 64 or not cookie.isalnum():
        yield
        return
    lock = get_redis().lock(
        f"vmemlab:vsphere-session:{cookie}", timeout=SESSION_LOCK_S, blocking_timeout=SESSION_LOCK_S
    )
    if not lock.acquire():
        raise SessionBusy("The session is busy with another call; try again.")
    try:
        yield
    finally:
        with suppress(LockError):  # held past its timeout: another call has it now
            lock.release()


_current: ContextVar[SoapSession | None] = ContextVar("vsphere_soap_session", default=None)
_client: ContextVar[Client | None] = ContextVar("vsphere_soap_client", default=None)


def current() -> SoapSession | None:
    return _current.get()


def client() -> Client:
    return _client.get() or Client("unknown", "")


def open_session(cookie: str | None, client_info: Client) -> SoapSession | None:
    """The logged-in session the cookie names (and make it the current one), or None."""
    _client.set(client_info)
    _current.set(None)
    if not cookie or len(cookie) > 64 or not cookie.isalnum():
        return None
    store = SessionStore(session_key=cookie)
    user_id = store.get("vsphere_user_id")
    if user_id is None:
        return None
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return None
    session = SoapSession(store, user, state=store.get(STATE_KEY) or {})
    session.state["calls"] = session.state.get("calls", 0) + 1
    session.state["lastActive"] = datetime.now(UTC).isoformat()
    session.modified = True
    _current.set(session)
    return session


def user_session(session: SoapSession) -> vim.UserSession:
    user = session.user
    state = session.state
    return vim.UserSession(
        key=session.key,
        userName=user.get_username(),
        fullName=user.get_full_name() or user.get_username(),
        loginTime=datetime.fromisoformat(state["loginTime"]),
        lastActiveTime=datetime.fromisoformat(state.get("lastActive", state["loginTime"])),
        locale=LOCALE,
        messageLocale=LOCALE,
        extensionSession=False,
        ipAddress=state.get("ipAddress", ""),
        userAgent=state.get("userAgent", ""),
        callCount=state.get("calls", 0),
    )


@registry.method("SessionManager", "Login")
def login(call: registry.Call):
    username = str(call.args.get("userName") or "")
    password = str(call.args.get("password") or "")
    who = client()
    refusal = current_refusal(username, who.address)
    if refusal is not None:
        raise vim.fault.InvalidLogin(
            msg=(
                "Cannot complete login due to an incorrect user name or password. "
                f"{refusal.sentence()}"
            )
        )
    user = authenticate(username=username, password=password) if username and password else None
    if user is None:
        record_failure(username, who.address)
        raise vim.fault.InvalidLogin(
            msg="Cannot complete login due to an incorrect user name or password."
        )
    record_success(username)
    store = SessionStore()
    store["vsphere_user_id"] = user.pk
    store["vsphere_token"] = secrets.token_hex(8)  # a non-empty session, so create() keeps it
    store.set_expiry(IDLE_TIMEOUT_S)
    store.create()
    now = datetime.now(UTC).isoformat()
    session = SoapSession(
        store,
        user,
        modified=True,
        state={
            "loginTime": now,
            "lastActive": now,
            "calls": 1,
            "ipAddress": who.address,
            "userAgent": who.user_agent[:200],
        },
    )
    old = _current.get()
    if old is not None:  # a second Login on a session replaces it, as on vCenter
        old.store.delete()
    _current.set(session)
    return user_session(session)


@registry.method("SessionManager", "Logout")
def logout(call: registry.Call):
    session = current()
    if session is not None:
        session.store.delete()
        session.modified = False
        _current.set(None)


@registry.method("SessionManager", "SessionIsActive")
def session_is_active(call: registry.Call):
    session = current()
    return bool(
        session is not None
        and session.key == call.args.get("sessionID")
        and session.user.get_username() == call.args.get("userName")
    )


@registry.properties("SessionManager")
def session_manager_property(mo, path: str):
    if path == "currentSession":
        session = current()
        return user_session(session) if session is not None else None
    if path == "defaultLocale":
        return LOCALE
    if path == "supportedLocaleList":
        from vsphere.soap import array_of

        return array_of(str, [LOCALE])
    if path == "message":
        return ""
    raise registry.InvalidProperty(path)
