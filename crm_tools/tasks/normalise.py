"""How values are compared: the normalisation the graders apply (documented in docs/evaluation.md).

- text: Unicode NFKC, dashes unified, whitespace collapsed, case folded;
- domains: lower case, without scheme, ``www.``, path or trailing slash;
- emails: trimmed, lower case; phones: the digits only;
- numbers and amounts: equal as numbers (amounts in currency units, stored as micros);
- dates: the day (``YYYY-MM-DD``) of a date-time; options (stage, status, currency): upper case, ``_`` for
  spaces and dashes.

Answers: an expected number is found when a number written in the answer has its value ("17,309",
"17309", "17.3k" is 17300, "$1.2m" is 1200000); an expected text when its normalised form is inside
the normalised answer.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

_DASHES = re.compile(r"[\u2010-\u2015\u2212]")
_SCHEME = re.compile(r"^[a-z]+://")
_NUMBER = re.compile(
    r"(?<![\w.])[-+]?[$€£]?\s?(\d{1,3}(?:[,_\u00a0\u202f ]\d{3})+|\d+)(\.\d+)?\s?(k|m|bn|thousand|million|billion)?(?![\w])",
    re.IGNORECASE,
)
_SCALE = {"": 1, "k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "bn": 1e9, "billion": 1e9}


def text(value: Any) -> str:
    cleaned = _DASHES.sub("-", unicodedata.normalize("NFKC", str(value)))
    return " ".join(cleaned.split()).casefold()


def domain(value: Any) -> str:
    cleaned = _SCHEME.sub("", str(value).strip().lower())
    return cleaned.split("/", 1)[0].removeprefix("www.")


def email(value: Any) -> str:
    return str(value).strip().lower()


def phone(value: Any) -> str:
    return "".join(ch for ch in str(value) if ch.isdigit())


def number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    found = numbers_in(str(value))
    return found[0] if len(found) == 1 else None


def day(value: Any) -> str:
    return str(value)[:10]


def option(value: Any) -> str:
    return re.sub(r"[\s-]+", "_", str(value).strip()).upper()


def numbers_in(answer: str) -> list[float]:
    """Every number written in ``answer``, thousands separators and k/m suffixes read."""
    values = []
    for match in _NUMBER.finditer(unicodedata.normalize("NFKC", answer)):
        whole, fraction, scale = match.group(1), match.group(2) or "", (match.group(3) or "").lower()
        digits = re.sub(r"[,_\u00a0\u202f ]", "", whole) + fraction
        sign = -1 if match.group(0).lstrip().startswith("-") else 1
        values.append(sign * float(digits) * _SCALE[scale])
    return values


def same_number(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))


def answer_contains(answer: str, expected: str | int | float) -> bool:
    if isinstance(expected, int | float) and not isinstance(expected, bool):
        return any(same_number(found, float(expected)) for found in numbers_in(answer))
    return text(expected) in text(answer)
