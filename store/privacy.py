"""Files that hold patient data, and the raw column of the reject file.

`open_private(path)`: every file sangao writes with patient data (the database, exports, assessment
CSV/JSONL, the reject file, generated rosters) is created owner-only (0600), whatever the umask;
an existing regular file written over is made 0600 too (a device or pipe such as /dev/null is left
as it is).

`mask_raw(text)`: the reject file's `raw` column (the rejected line or row as JSON) with names,
resident IDs and phones masked as everywhere else (pathways/resident_id.py): by key where the text
is a JSON object (a name key: name, 姓名, 联系人 …), and by shape everywhere (an 18- or 15-digit ID,
a mobile or landline number), so a line that is not even JSON is masked too. `--unmasked` keeps the
raw text as read; the CLI records that in the audit log (store/audit.py).
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import IO, Any

from pathways import resident_id

_NAME_KEYS = ("name", "姓名", "联系人", "患者姓名", "居民姓名", "家属")
_PHONE_KEYS = ("phone", "电话", "手机", "联系方式")
_ID_KEYS = ("id_number", "身份证")

_ID = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])|(?<![0-9])[0-9]{15}(?![0-9])")
_PHONE = re.compile(r"(?<![0-9])(?:\+?86[- ]?)?1[3-9][0-9][- ]?[0-9]{4}[- ]?[0-9]{4}(?![0-9])"
                    r"|(?<![0-9])0[0-9]{2,3}-?[0-9]{7,8}(?![0-9])")
_JSON_NAME = re.compile(r'("(?:[^"]*(?:name|姓名|联系人|家属)[^"]*)"\s*:\s*")([^"\\]*)(")')


def open_private(path: str | Path, mode: str = "w", **kwargs: Any) -> IO:
    """open(path, mode, **kwargs), the file created (or truncated and made) owner-only: 0600."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):  # never /dev/null or a pipe: run as root, that would
            os.fchmod(fd, 0o600)                # make /dev/null unwritable for every other user
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


def _mask_shapes(text: str) -> str:
    text = _ID.sub(lambda m: resident_id.mask(m.group()), text)
    return _PHONE.sub(lambda m: resident_id.mask_phone(re.sub(r"\D", "", m.group())), text)


def _mask_value(key: str, value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask_value(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_value(key, v) for v in value]
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        return value
    text = str(value)
    lowered = key.lower()
    if any(k in lowered for k in _NAME_KEYS):
        return resident_id.mask_name(text)
    if any(k in lowered for k in _ID_KEYS):
        return resident_id.mask(text)
    if any(k in lowered for k in _PHONE_KEYS):
        return resident_id.mask_phone(text)
    masked = _mask_shapes(text)
    return value if masked == text else masked


def mask_raw(text: str) -> str:
    """The reject file's raw text with names, resident IDs and phones masked."""
    if not text:
        return text
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict):
        return json.dumps(_mask_value("", data), ensure_ascii=False)
    text = _JSON_NAME.sub(lambda m: m.group(1) + resident_id.mask_name(m.group(2)) + m.group(3), text)
    return _mask_shapes(text)
