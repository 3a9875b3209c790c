"""Keeping secrets out of everything the gate prints or writes."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote, unquote

MASK = "***"
# A secret shorter than this is not masked: masking "1" or "on" would garble every message
# while hiding nothing worth hiding. Documented in the README.
MIN_SECRET_LENGTH = 4


class Redactor:
    """Replaces every known secret value in a text with `***`.

    Secrets are the passwords of database URLs, header values, and the values of the
    environment variables the config names. Longer secrets are replaced first so that a
    secret containing another is masked whole.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        found = set(self._secrets)
        for secret in secrets:
            # the same secret may appear percent-encoded inside a URL, or decoded in a message
            for form in {secret, quote(secret, safe=""), unquote(secret)}:
                if len(form) >= MIN_SECRET_LENGTH:
                    found.add(form)
        self._secrets = sorted(found, key=len, reverse=True)

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(self._secrets)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text
