"""Who is using the workbench, and what they may do.

``none``: only on a loopback address; the user is the OS user and an editor. ``token``: a
shared secret from the environment (SQLCOMPILER_UI_TOKEN) exchanged for a session cookie at
login. ``proxy``: the user named by a header (X-Forwarded-User) set by an SSO reverse proxy,
believed only from the proxies' own addresses. The role of each user comes from
SQLCOMPILER_UI_ROLES (``alice=editor,bob=viewer,chi=approver``, default viewer). Every state-changing request carries a CSRF token (forms) or the
``X-Requested-With`` header (API), which a cross-site page cannot send.
"""

from __future__ import annotations

import getpass
import hmac
import ipaddress
import os
import secrets
from dataclasses import dataclass, field

from ..errors import SqlCompilerError

ROLES = ("viewer", "editor", "approver")


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
    token: str | None = None
    roles: dict[str, str] = field(default_factory=dict)
    session_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    require_approval: bool = False  # four-eyes: an editor submits, another user approves
    proxy_header: str = "X-Forwarded-User"
    trusted_proxies: frozenset[str] = frozenset()

    @classmethod
    def from_env(
        cls,
        mode: str,
        host: str,
        *,
        require_approval: bool = False,
        proxy_header: str = "X-Forwarded-User",
        trusted_proxies: str = "",
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
                "(SQLCOMPILER_UI_TOKEN) to serve other machines"
            )
        token = os.environ.get("SQLCOMPILER_UI_TOKEN")
        if mode == "token" and not token:
            raise SqlCompilerError("--auth token needs the secret in SQLCOMPILER_UI_TOKEN")
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
        return cls(mode, token, roles, secret, require_approval, proxy_header, proxies)

    def from_proxy(self, client_host: str | None, header: str | None) -> User | None:
        """The user a trusted reverse proxy names; nobody when the request bypassed it."""
        if self.mode != "proxy" or client_host not in self.trusted_proxies or not header:
            return None
        name = header.strip()
        return User(name, self.roles.get(name, "viewer")) if name else None

    def login(self, name: str, token: str) -> User | None:
        if self.mode != "token" or not name or not self.token:
            return None
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            return None
        return User(name, self.roles.get(name, "viewer"))

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
