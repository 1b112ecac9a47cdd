import csv
import io

import pytest

from pathways.csv_safe import SafeWriter, safe_cell


@pytest.mark.parametrize("cell", ["=1+1", "+86 138", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_a_text_cell_a_spreadsheet_would_run_gets_an_apostrophe(cell):
    assert safe_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["张三", "150/90", "", -3.5, 7, None])
def test_plain_cells_and_numbers_are_written_as_they_are(cell):
    assert safe_cell(cell) == cell


def test_the_writer_escapes_every_text_cell_of_a_row():
    out = io.StringIO()
    SafeWriter(out).writerow(["=HYPERLINK(\"x\")", -1, "ok"])
    assert next(csv.reader(io.StringIO(out.getvalue()))) == ["'=HYPERLINK(\"x\")", "-1", "ok"]
