"""The detail fields of a profile (`modifyDetailInfo`) and the rules for their values.

- `idcard`: an 18-character PRC resident identity number (GB 11643-1999): a 6-digit region
  code, the birth date as YYYYMMDD, a 3-digit sequence number and the ISO 7064 MOD 11-2 check
  character (a digit or `X`; `x` is read as `X`). The birth date must be a real date from
  1900-01-01 up to today in China (UTC+8). The region code is not looked up: the register of
  divisions changes, and old numbers stay valid.
- `postalcode`: 6 digits. `gender`: one of GENDERS (any case).
- `departmentcode`, `majorcode`: 1-32 letters, digits, `-`, `_` or `.`.
- `realname`, `leader`, `nation`, `address`: text (domain/text.py) of at most MAX_TEXT's length.

Values are trimmed. An empty value clears its field.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

from domain.errors import invalid
from domain.text import text_problem

GENDERS = ("male", "female", "other")
MAX_TEXT = {"realname": 64, "leader": 64, "nation": 32, "address": 200}
CODE = re.compile(r"[A-Za-z0-9_.-]{1,32}")
POSTAL_CODE = re.compile(r"[0-9]{6}")
ID_CARD = re.compile(r"[0-9]{17}[0-9X]")
FIELDS = (
    "realname",
    "idcard",
    "address",
    "gender",
    "nation",
    "postalcode",
    "departmentcode",
    "majorcode",
    "leader",
)
# ISO 7064 MOD 11-2: the n-th character from the right (the check character is the 1st)
# weighs 2**(n-1) mod 11; the check character makes the weighted sum 1 mod 11.
ID_WEIGHTS = tuple(pow(2, 17 - position, 11) for position in range(17))
ID_CHECKS = "10X98765432"  # the check character for each remainder of the weighted sum
FIRST_BIRTH = date(1900, 1, 1)
CHINA = timezone(timedelta(hours=8))


def id_check_character(first17: str) -> str:
    """Return the ISO 7064 MOD 11-2 check character of an identity number's first 17 digits."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECKS[total % 11]


def id_card_problem(idcard: str, today: date) -> str | None:
    """Return why `idcard` is not a valid resident identity number, or None if it is."""
    if not ID_CARD.fullmatch(idcard):
        return "must be 17 digits and a check digit or X"
    try:
        born = date(int(idcard[6:10]), int(idcard[10:12]), int(idcard[12:14]))
    except ValueError:
        return "must hold a real birth date"
    if not FIRST_BIRTH <= born <= today:
        return "must hold a birth date from 1900 to today"
    if idcard[17] != id_check_character(idcard[:17]):
        return "has a wrong check digit"
    return None


def _normalised(name: str, value: str) -> str:
    value = value.strip()
    return value.upper() if name == "idcard" else value.lower() if name == "gender" else value


def _problem(name: str, value: str, today: date) -> str | None:
    if name not in FIELDS:
        return "is not a detail field"
    if name == "idcard":
        return id_card_problem(value, today)
    if name == "postalcode":
        return None if POSTAL_CODE.fullmatch(value) else "must be 6 digits"
    if name == "gender":
        return None if value in GENDERS else f"must be one of {', '.join(GENDERS)}"
    if name in ("departmentcode", "majorcode"):
        return None if CODE.fullmatch(value) else "must be 1-32 letters, digits, '_', '.' or '-'"
    return text_problem(value, MAX_TEXT[name])


def today_in_china(now: datetime) -> date:
    """Return the date in China at `now`: the calendar that birth dates in identity numbers use."""
    return now.astimezone(CHINA).date()


def check_details(details: dict[str, str], today: date) -> dict[str, str]:
    """Return the detail fields given, normalised; 100004 naming every bad one (or, given none,
    every field)."""
    if not details:
        raise invalid(**{name: "give at least one detail field" for name in FIELDS})
    normalised = {name: _normalised(name, value) for name, value in details.items()}
    errors = {
        name: problem
        for name, value in normalised.items()
        if value and (problem := _problem(name, value, today))
    }
    if errors:
        raise invalid(**errors)
    return normalised
