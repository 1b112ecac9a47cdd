"""Bad roster files built in the tests (tests/test_bad_input.py, the fuzz suites): each must end in
an import or a located error (exit 1), never an internal error."""

from __future__ import annotations

import io
import json
import struct
import warnings
import zipfile
from pathlib import Path

from roster_files import record

PATIENTS_CSV = ("患者编号,身份证号,性别,出生日期,管理病种,建档日期\n"
                "p1,370202195803021236,男,1958-03-02,高血压,2021-05-10\n")


def good_lines(n: int) -> list[str]:
    return [json.dumps(record(patient_id=f"p{i}"), ensure_ascii=False) for i in range(n)]


def zip_bytes(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of a duplicate name, which is the point
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in members:
                z.writestr(name, data)
    return buf.getvalue()


def _patch_local_and_central(data: bytes, offset_in_header: int, fmt: str, value: int) -> bytes:
    """Set one field in every local file header and central directory entry."""
    out = bytearray(data)
    local, central = b"PK\x03\x04", b"PK\x01\x02"
    # local header: flags at 6, method at 8; central: flags at 8, method at 10
    for sig, shift in ((local, 0), (central, 2)):
        start = 0
        while (at := out.find(sig, start)) != -1:
            struct.pack_into(fmt, out, at + offset_in_header + shift, value)
            start = at + 4
    return bytes(out)


def encrypted_zip() -> bytes:
    return _patch_local_and_central(zip_bytes([("patients.csv", PATIENTS_CSV.encode())]), 6, "<H", 1)


def aes_zip() -> bytes:
    return _patch_local_and_central(zip_bytes([("patients.csv", PATIENTS_CSV.encode())]), 8, "<H", 99)


def corrupt_member_zip() -> bytes:
    data = bytearray(zip_bytes([("patients.csv", PATIENTS_CSV.encode() * 20)]))
    at = data.find(b"PK\x03\x04") + 30 + len("patients.csv") + 5
    data[at : at + 8] = b"\xff" * 8  # the deflate stream, not the headers
    return bytes(data)


def duplicate_zip() -> bytes:
    return zip_bytes([("patients.csv", PATIENTS_CSV.encode()), ("patients.csv", PATIENTS_CSV.encode())])


def xlsx_bytes() -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "患者"
    for row in PATIENTS_CSV.strip().split("\n"):
        ws.append(row.split(","))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def damaged_sheet_xlsx() -> bytes:
    source = zipfile.ZipFile(io.BytesIO(xlsx_bytes()))
    members = []
    for info in source.infolist():
        data = source.read(info)
        if info.filename.startswith("xl/worksheets/sheet"):
            data = data[: len(data) // 2]  # cut in the middle of the XML
        members.append((info.filename, data))
    return zip_bytes(members)


def write(path: Path, data: bytes | str) -> Path:
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path
