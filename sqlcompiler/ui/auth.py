"""Who is using the workbench, and what they may do.

``none``: only on a loopback address; the user is the OS user and an editor. ``token``: each
person logs in with a secret of their own from the users file (SQLCOMPILER_UI_USERS, see
users.py), which also gives their role; the session is kept server-side (sessions.py).
``proxy``: the user named by a header (X-Forwarded-User) set by an SSO reverse proxy, believed
only when the TCP peer is one of the proxies (no X-Forwarded-For decides it); roles from
SQLCOMPILER_UI_ROLES (``alice=editor,bob=viewer,chi=approver``, default viewer). Every
state-changing request carries a CSRF token (forms) or the ``X-Requested-With`` header (API),
which a cross-site page cannot send; only the Host names in ``allowed_hosts`` are served (a
rebinding DNS name reaches nothing).
"""

from __future__ import annotations

import getpass
import ipaddress
import os
import secrets
from dataclasses import dataclass, field

from ..errors import SqlCompilerError
from .users import ROLES, Account, check, read_users

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class User:
    name: str
    role: str

    @property
    def can_edit(self) -> bool:
        return self.role in ("editor", "approver")

    @property
    def can_approve(self) -> bool:
        return self.role == "approver"


@dataclass(frozen=True)
class AuthSettings:
    mode: str = "none"  # none | token | proxy
    users: dict[str, Account] = field(default_factory=dict)  # token mode
    roles: dict[str, str] = field(default_factory=dict)  # proxy mode
    session_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    require_approval: bool = False  # four-eyes: an editor submits, another user approves
    proxy_header: str = "X-Forwarded-User"
    trusted_proxies: frozenset[str] = frozenset()
    allowed_hosts: frozenset[str] = frozenset(LOOPBACK_NAMES)
    secure_cookies: bool = False  # reached over https (a TLS proxy): cookies marked Secure

    @classmethod
    def from_env(
        cls,
        mode: str,
        host: str,
        *,
        require_approval: bool = False,
        proxy_header: str = "X-Forwarded-User",
        trusted_proxies: str = "",
        allowed_hosts: tuple[str, ...] = (),
        secure_cookies: bool = False,
    ) -> AuthSettings:
        if mode not in ("none", "token", "proxy"):
            raise SqlCompilerError(f"--auth {mode!r}: use none, token or proxy")
        proxies = frozenset(p.strip() for p in trusted_proxies.split(",") if p.strip())
        if mode == "proxy" and not proxies:
            raise SqlCompilerError(
                "--auth proxy needs --trusted-proxies: the addresses of the reverse proxies whose "
                f"{proxy_header} header is believed"
            )
        if mode == "none" and not _loopback(host):
            raise SqlCompilerError(
                f"--auth none is allowed only on a loopback address, not {host}: use --auth token "
                "(SQLCOMPILER_UI_USERS) or --auth proxy to serve other machines"
            )
        users: dict[str, Account] = {}
        if mode == "token":
            path = os.environ.get("SQLCOMPILER_UI_USERS")
            if not path:
                old = " (SQLCOMPILER_UI_TOKEN, one secret shared by all, is no longer read)"
                raise SqlCompilerError(
                    "--auth token needs a users file in SQLCOMPILER_UI_USERS, one secret per "
                    "person: `sqlcompiler ui user add NAME --role ROLE --file PATH`"
                    + (old if os.environ.get("SQLCOMPILER_UI_TOKEN") else "")
                )
            users = read_users(path)
            if not users:
                raise SqlCompilerError(
                    f"{path} has no users: add one with `sqlcompiler ui user add`"
                )
        roles = {}
        for item in filter(
            None, (x.strip() for x in os.environ.get("SQLCOMPILER_UI_ROLES", "").split(","))
        ):
            name, _, role = item.partition("=")
            if role not in ROLES:
                raise SqlCompilerError(
                    f"SQLCOMPILER_UI_ROLES: role {role!r} of {name!r} is not one of {', '.join(ROLES)}"
                )
            roles[name.strip()] = role
        secret = os.environ.get("SQLCOMPILER_UI_SESSION_SECRET") or secrets.token_hex(32)
        hosts = frozenset((*LOOPBACK_NAMES, host.strip("[]").lower(),
                           *(h.strip().strip("[]").lower() for h in allowed_hosts if h.strip())))  # fmt: skip
        return cls(mode, users, roles, secret, require_approval, proxy_header, proxies, hosts,
                   secure_cookies)  # fmt: skip

    def from_proxy(self, client_host: str | None, header: str | None) -> User | None:
        """The user a trusted reverse proxy names; nobody when the request bypassed it."""
        if self.mode != "proxy" or client_host not in self.trusted_proxies or not header:
            return None
        name = header.strip()
        return User(name, self.roles.get(name, "viewer")) if name else None

    def login(self, name: str, secret: str) -> User | None:
        if self.mode != "token" or not name or not secret:
            return None
        account = check(self.users, name, secret)
        return User(account.name, account.role) if account else None

    def default_user(self) -> User | None:
        if self.mode == "none":
            return User(getpass.getuser(), "editor")
        return None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
