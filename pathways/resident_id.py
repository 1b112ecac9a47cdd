"""Resident identity numbers (居民身份证号码, GB 11643-1999): check digit, birth date, sex, and the
upgrade of legacy 15-digit numbers. Pure functions; callers turn failures into located findings.
"""

from __future__ import annotations

from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"  # ISO 7064 MOD 11-2: remainder → check character


def check_digit(first17: str) -> str:
    """The 18th character for the first 17 digits."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("the first 17 characters must be digits")
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def problem(id_number: str, lang: str = "en") -> str | None:
    """None if `id_number` is a well-formed 18-character ID with a correct check digit,
    else what is wrong, in `lang` ("en" or "zh"), for a D finding."""
    zh = lang == "zh"
    if len(id_number) != 18:
        if zh:
            return f"共 {len(id_number)} 位；身份证号应为 18 位（旧版 15 位号码导入时自动升级）"
        return (f"has {len(id_number)} characters; a resident ID has 18 "
                "(legacy 15-digit IDs are upgraded on import)")
    if not id_number[:17].isdigit() or id_number[17] not in "0123456789X":
        return "应为 17 位数字加一位数字或 X" if zh else "must be 17 digits followed by a digit or X"
    try:
        birth_date(id_number)
    except ValueError:
        if zh:
            return f"其中的出生日期 {id_number[6:14]} 不是有效日期"
        return f"birth date {id_number[6:14]} inside the ID is not a date"
    expected = check_digit(id_number[:17])
    if id_number[17] != expected:
        if zh:
            return f"校验码为 {id_number[17]}，应为 {expected}（GB 11643）；有一位数字录错了"
        return f"check digit is {id_number[17]} but should be {expected} (GB 11643); a digit was mistyped"
    return None


def birth_date(id_number: str) -> date:
    return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


def sex(id_number: str) -> str:
    """`M` or `F` from the sequence code (17th character: odd = male)."""
    return "M" if int(id_number[16]) % 2 == 1 else "F"


def upgrade15(id15: str) -> str:
    """A legacy 15-digit ID (YYMMDD, 1900s births) as its 18-character form."""
    if len(id15) != 15 or not id15.isdigit():
        raise ValueError("a legacy ID has 15 digits")
    first17 = id15[:6] + "19" + id15[6:]
    return first17 + check_digit(first17)


def mask(id_number: str | None) -> str:
    """370202********1234 style: area code and last four only."""
    if not id_number:
        return ""
    return id_number[:6] + "*" * max(len(id_number) - 10, 0) + id_number[-4:]


def mask_phone(phone: str | None) -> str:
    """138****1234 style: the first three and last four digits only (shorter numbers keep less)."""
    if not phone:
        return ""
    if len(phone) <= 7:
        return phone[:1] + "*" * (len(phone) - 1)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_name(name: str | None) -> str:
    """张* / 欧阳** : surname character only."""
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)
