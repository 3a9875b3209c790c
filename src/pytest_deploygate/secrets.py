"""Keeping secrets out of everything the gate prints or writes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, unquote

MASK = "***"
#: what marks a text cut short in the gate's messages
CUT = "…"
# A secret shorter than this is not masked: masking "1" or "on" would garble every message
# while hiding nothing worth hiding. Documented on the safety page.
MIN_SECRET_LENGTH = 4


def secret_forms(secret: str) -> set[str]:
    """The ways a secret shows up in text: as is, percent-encoded (in a URL) or decoded, and
    escaped as Python's `repr` writes it (a trailing newline, common in CI secrets, shown as `\n`
    by an error message that quotes the value)."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret, safe=""), unquote(secret)}
    escaped = repr(secret)[1:-1]
    if escaped != secret:
        forms.update({escaped, escaped.strip("\\nrt "), secret.strip()})
    return forms


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
        text = self._pattern.sub(MASK, text)
        if CUT in text:
            text = self._cut_secrets(text)
        return text

    def _cut_secrets(self, text: str) -> str:
        """A text cut short (`…`) just inside a secret keeps only the secret's start, which the
        whole-secret pattern does not match: mask such a start (of at least 4 characters)."""
        pieces = text.split(CUT)
        for index, piece in enumerate(pieces[:-1]):
            lowered = piece.lower()
            for secret in self._secrets:
                start = secret.lower()
                # the longest start of the secret that the piece ends with
                for length in range(min(len(start) - 1, len(lowered)), MIN_SECRET_LENGTH - 1, -1):
                    if lowered.endswith(start[:length]):
                        piece = piece[:-length] + MASK
                        lowered = piece.lower()
                        break
            pieces[index] = piece
        return CUT.join(pieces)
