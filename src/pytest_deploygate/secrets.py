"""Keeping secrets out of everything the gate prints or writes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, unquote

MASK = "***"
# A secret shorter than this is not masked: masking "1" or "on" would garble every message
# while hiding nothing worth hiding. Documented on the safety page.
MIN_SECRET_LENGTH = 4


def secret_forms(secret: str) -> set[str]:
    """The ways a secret shows up in text: as is, percent-encoded (in a URL) or decoded."""
    return {secret, quote(secret, safe=""), quote_plus(secret, safe=""), unquote(secret)}


class Redactor:
    """Replaces every known secret value in a text with `***`.

    Secrets are the passwords of database URLs, header values, and the values of the
    environment variables the config names. Each is matched in any letter case (PostgreSQL folds
    an unquoted identifier to lower case in its errors: `column "tok_abcdef123456" does not
    exist`) and percent-encoded or decoded. Longer secrets are matched first, so that a secret
    containing another is masked whole.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        found = set(self._secrets)
        for secret in secrets:
            found.update(form for form in secret_forms(secret) if len(form) >= MIN_SECRET_LENGTH)
        self._secrets = sorted(found, key=len, reverse=True)
        self._pattern = (re.compile("|".join(re.escape(s) for s in self._secrets), re.IGNORECASE)
                         if self._secrets else None)

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(self._secrets)

    def __call__(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)
