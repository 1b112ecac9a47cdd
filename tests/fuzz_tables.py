"""Strategies for the tabular fuzz suites (CSV, XLSX, ZIP): tables with the headers real exports
use and cells that are valid, nearly valid or junk."""

from __future__ import annotations

import csv
import io

from hypothesis import strategies as st

from store.readers.aliases import TABLES

HEADERS = {role: [spec.aliases[0] if spec.aliases else name for name, spec in fields.items()]
           for role, fields in TABLES.items()}
TABLE_FILES = {"patients": "患者.csv", "visits": "随访.csv", "labs": "化验.csv", "screenings": "筛查.csv",
               "history": "既往史.csv", "referrals": "转诊.csv"}

VALID = {
    "患者编号": ["p1", "p2", "p3"],
    "身份证号": ["370202195803021236", "37020219580302123X", "370202580302123"],
    "性别": ["男", "女", "1", "2", "M"],
    "出生日期": ["1958-03-02", "1958/3/2", "19580302"],
    "管理病种": ["高血压", "糖尿病", "高血压,糖尿病", "hypertension"], "建档日期": ["2021-05-10"],
    "随访日期": ["2026-03-05", "2026-04-05"], "收缩压": ["150", "120"], "舒张压": ["90", "80"],
    "血压": ["150/90", "120/80"], "检验日期": ["2026-03-05"], "筛查日期": ["2026-03-05"],
}
junk = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "1e309", "-0", "NaN", "inf", "150/90", "150/", "/90", "2026-02-30",
                     "0000-00-00", "9999-12-31", "=1+1", "@SUM(A1)", "\x00", "是", "否", "有", "无", "1,200",
                     "150/90/60",
                     "３７０２０２", "✓", "—", "null", "None", "#N/A", "高血压;;", "\ufeff", "\r", "\n",
                     "\"", "'", ",", "；"]),
    st.integers(-10**12, 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


def cell_for(header: str):
    return st.sampled_from(VALID[header]) | junk if header in VALID else junk


@st.composite
def tables(draw, role: str | None = None):
    """(role, header row, data rows) of one table."""
    role = role or draw(st.sampled_from(list(HEADERS)))
    pool = HEADERS[role]
    chosen = draw(st.lists(st.sampled_from(pool) | st.text(max_size=6), min_size=1, max_size=8))
    if draw(st.booleans()):  # usually the id column, so rows can join
        chosen = ["患者编号", *chosen]
    rows = draw(st.lists(st.tuples(*[cell_for(h) for h in chosen]), max_size=5))
    ragged = draw(st.booleans())
    if ragged and rows:  # a row with a cell too many or too few
        rows[0] = rows[0][:-1] if draw(st.booleans()) else (*rows[0], "extra")
    return role, chosen, rows


def csv_text(headers: list[str], rows: list[tuple], delimiter: str = ",") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(headers)
    writer.writerows(rows)
    return buffer.getvalue()


def encode(text: str, encoding: str) -> bytes:
    return text.encode(encoding, errors="surrogatepass" if encoding.startswith("utf") else "replace")


encodings = st.sampled_from(["utf-8", "utf-8-sig", "gb18030"])
delimiters = st.sampled_from([",", ",", "\t", ";"])
