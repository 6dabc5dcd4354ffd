"""Reading signed, expiring tokens (itsdangerous) with one refusal type for every service:
links in emails and tickets. A signature proves who and what; single use is the store's
job (an insert against a unique key), never the token's."""

from __future__ import annotations

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer


class LinkRefused(Exception):
    """A token that is not ours, was tampered with, or has expired."""

    def __init__(self, reason: str, expired: bool) -> None:
        super().__init__(reason)
        self.expired = expired


def read_signed(serializer: URLSafeTimedSerializer, token: str, max_age: int, what: str) -> object:
    try:
        return serializer.loads(token, max_age=max_age)
    except SignatureExpired as error:
        raise LinkRefused(f"this {what} has expired", expired=True) from error
    except BadSignature as error:
        raise LinkRefused(f"this {what} is not valid", expired=False) from error
