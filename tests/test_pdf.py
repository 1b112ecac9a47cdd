"""reports/pdf.py: a PDF of Chinese text shows the real glyphs (not tofu boxes), checked on the
page rendered to an image with pypdfium2."""

from __future__ import annotations

import pypdfium2 as pdfium

from reports.pdf import cjk_font_subset, html_to_pdf

PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>
@page {{ size: A4; margin: 20mm; }} p {{ font-size: 40pt; margin: 0 0 10mm 0; }}
</style></head><body><p>{first}</p><p>{second}</p></body></html>"""


def _page(html: str):
    pdf = pdfium.PdfDocument(html_to_pdf(html))
    page = pdf[0]
    text = page.get_textpage().get_text_range()
    image = page.render(scale=1).to_pil().convert("L")
    return text, image


def _ink(image, box) -> list[int]:
    """Dark pixels per row of a region: the shape of what is printed there."""
    region = image.crop(box)
    width, height = region.size
    pixels = region.load()
    return [sum(1 for x in range(width) if pixels[x, y] < 128) for y in range(height)]


def test_chinese_text_is_extractable_from_the_pdf():
    text, _ = _page(PAGE.format(first="年度照护计划", second="血压目标"))
    assert "年度照护计划" in text and "血压目标" in text


def test_chinese_glyphs_are_drawn_and_differ_from_the_missing_glyph_box():
    # Line one differs between the two pages; a font without these glyphs would draw the same
    # .notdef box for every character, so the two renderings would be identical.
    _, real = _page(PAGE.format(first="血压控制满意", second="随访"))
    _, other = _page(PAGE.format(first="糖尿病肾病眼", second="随访"))
    _, missing = _page(PAGE.format(first="\ue000" * 6, second="随访"))
    line_one = (70, 70, 500, 140)
    assert sum(_ink(real, line_one)) > 500  # ink where the text is
    assert _ink(real, line_one) != _ink(other, line_one)
    assert _ink(real, line_one) != _ink(missing, line_one)
    line_two = (70, 140, 500, 210)
    assert _ink(real, line_two) == _ink(other, line_two)  # same text, same pixels


def test_the_embedded_font_holds_only_the_documents_characters():
    small = cjk_font_subset("血压")
    larger = cjk_font_subset("血压" + "糖尿病肾病眼底周围神经血管冠心病脑卒中" * 3)
    assert 0 < len(small) < len(larger) < 200_000
