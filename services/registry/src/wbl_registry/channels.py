"""The rules a coordinator's notification channels meet before registry stores them.

Pure: no I/O. The notifier checks again at send time (it resolves the host and refuses
private addresses); these checks refuse at once, with a field-level message, what can
never be delivered safely: other schemes, credentials in the URL, control characters,
hosts written as bare numbers or as private addresses.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

from wbl_registry.domain import DomainError
from wbl_schemas.events import NotificationChannels

MAX_WEBHOOK_URL = 2000
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
# A DNS name of letters, digits and hyphens (IDNs in their xn-- form), at least one dot.
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$"
)
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def check_channels(channels: NotificationChannels, loopback_allowed: bool) -> None:
    """Raises DomainError naming `channels.email` or `channels.webhook_url`."""
    if channels.email is not None:
        problem = email_problem(channels.email)
        if problem:
            raise DomainError(problem, "channels.email")
    if channels.webhook_url is not None:
        problem = webhook_url_problem(channels.webhook_url, loopback_allowed)
        if problem:
            raise DomainError(problem, "channels.webhook_url")


def email_problem(email: str) -> str | None:
    if _CONTROL.search(email):
        return "the email address must not contain spaces, line breaks or control characters"
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as error:
        return f"not a valid email address: {error}"
    return None


def webhook_url_problem(url: str, loopback_allowed: bool) -> str | None:
    """Why `url` cannot be a webhook address, or None. `loopback_allowed` (development and
    tests only) lets http:// reach this machine."""
    if len(url) > MAX_WEBHOOK_URL:
        return f"the webhook URL is longer than {MAX_WEBHOOK_URL:,} characters"
    if _CONTROL.search(url):
        return "the webhook URL must not contain spaces, line breaks or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        return "not a valid URL: write it as https://host/path"
    if parts.scheme not in ("https", "http") or not parts.netloc:
        return "the webhook URL must start with https://"
    if "@" in parts.netloc:
        return "the webhook URL must not contain a user name or password; use the signature"
    host = (parts.hostname or "").lower()
    if loopback_allowed and host in LOOPBACK_NAMES:
        return None
    if parts.scheme != "https":
        return "the webhook URL must start with https://"
    return _host_problem(host)


def _host_problem(host: str) -> str | None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if _HOSTNAME.match(host):
            return None
        return "the webhook URL's host must be a domain name such as hooks.example.org"
    if not address.is_global:
        return "the webhook URL must point to a public address, not a private or local one"
    return None
