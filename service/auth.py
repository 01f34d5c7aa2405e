"""Authentication: credentials of a request → `Principal`, by `KB_AUTH__MODE`.

- `none`: every request acts as the local admin. Only for a service on a loopback address (`check_bind`).
- `token`: `Authorization: Bearer kb_…` from `kb tokens create`; unknown, revoked or expired tokens → 401.
- `trusted_proxy`: a reverse proxy that has signed the user in names them in `X-KB-User` (and optionally their
  memberships in `X-KB-Groups`); believed only when the request comes from one of `trusted_proxies`.
Every signed-in request counts against the per-minute rate limit of its token (or proxy user).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import ip_address

from ingest.errors import AccountError, ConfigurationError, Unauthenticated
from service.accounts import authenticate_token, find_principal
from service.config import AuthSettings
from service.db import Database
from service.principal import Membership, Principal
from service.ratelimit import RateLimiter
from service.sessions import session_principal

LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # another host name: it may resolve to anything


def check_bind(auth: AuthSettings, host: str) -> None:
    """Refuse to serve without authentication on anything but a loopback address."""
    if auth.mode == "none" and not is_loopback(host):
        raise ConfigurationError(
            f"KB_AUTH__MODE=none serves every document to anyone who can connect; refusing to listen on "
            f"{host!r}. Bind to 127.0.0.1, or set KB_AUTH__MODE=token (or trusted_proxy)."
        )


@dataclass(frozen=True)
class Authenticator:
    settings: AuthSettings
    db: Database

    @property
    def limiter(self) -> RateLimiter:
        return RateLimiter(self.db, self.settings.rate_limit_per_min)

    def authenticate(self, headers: Mapping[str, str], client_host: str | None) -> Principal:
        """The caller of a request with these headers from this address, or Unauthenticated / RateLimited."""
        mode = self.settings.mode
        if mode == "none":
            return Principal.local_admin(self.settings.local_user)
        if mode == "token":
            principal = self._from_token(headers.get("authorization"), headers)
            self.limiter.hit(f"token:{principal.token_id}")
            return principal
        principal = self._from_proxy(headers, client_host)
        self.limiter.hit(f"user:{principal.user}")
        return principal

    def _from_token(self, authorization: str | None, headers: Mapping[str, str] | None = None) -> Principal:
        if not authorization and headers and (cookie := session_principal(self.db, headers)) is not None:
            return cookie  # the chat page's session (service.sessions); CSRF: routes.signin.require_csrf
        if not authorization:
            raise Unauthenticated("Anmeldung erforderlich: Authorization: Bearer <Token> fehlt")
        scheme, _, token = authorization.partition(" ")
        principal = authenticate_token(self.db, token.strip()) if scheme.lower() == "bearer" else None
        if principal is None:
            raise Unauthenticated("Token ungültig, widerrufen oder abgelaufen")
        return principal

    def _from_proxy(self, headers: Mapping[str, str], client_host: str | None) -> Principal:
        if client_host is None or not self._trusted(client_host):
            raise Unauthenticated("Anmeldung nur über den vertrauenswürdigen Proxy")
        user = (headers.get(self.settings.user_header.lower()) or "").strip()
        if not user:
            raise Unauthenticated(f"Anmeldung erforderlich: {self.settings.user_header} fehlt")
        known = find_principal(self.db, user)
        groups = headers.get(self.settings.groups_header.lower())
        if groups is None:
            return known or Principal(user)
        try:
            memberships = tuple(Membership.parse(g) for g in groups.split(",") if g.strip())
        except AccountError as exc:
            raise Unauthenticated(f"{self.settings.groups_header} unlesbar: {exc.message}") from None
        # Global admin comes from the database only, never from a header.
        return Principal(user, memberships, is_admin=known.is_admin if known else False)

    def _trusted(self, client_host: str) -> bool:
        try:
            address = ip_address(client_host)
        except ValueError:
            return False
        return any(address in network for network in self.settings.proxy_networks())
