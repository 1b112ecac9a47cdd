"""HTML → PDF with correct Chinese glyphs, pip-installed only: WeasyPrint and the Noto Sans CJK
collection of the `noto-cjk-sans-otc` package.

Why the font is subset here: WeasyPrint embeds a font by subsetting the whole file it was given,
and for the 19 MB CJK collection (65,000 glyphs, glyph ids retained) that takes 6–17 s per
document. So each document gets its own font first: the Simplified Chinese face of the collection
cut down with fontTools to the characters of that document (about 1 s, any character the face
has, rare name characters included), handed to WeasyPrint as a data: URL. Many patients in one
document (one page each) pay for this once.
"""

from __future__ import annotations

import base64
import functools
import io
import logging
import warnings
from importlib import resources

from pathways.errors import SangaoError

_FAMILY = "Sangao CJK"
_FACE_SC = "Noto Sans CJK SC"  # the Simplified Chinese face of the collection
# Always in the font, so page numbers, dates and figures never depend on the document's text.
_ALWAYS = "".join(chr(c) for c in range(0x20, 0x7F)) + "·—–…、。，：；！？（）《》％～→≥≤±×"


def _collection_path() -> str:
    return str(resources.files("noto_cjk_sans_otc") / "NotoSansCJK-Regular.ttc")


@functools.cache
def _face_index(path: str) -> int:
    from fontTools.ttLib import TTCollection

    with TTCollection(path, lazy=True) as collection:
        for index, font in enumerate(collection.fonts):
            if font["name"].getDebugName(4) == _FACE_SC:
                return index
    raise LookupError(f"{_FACE_SC} is not in {path}")


def cjk_font_subset(text: str) -> bytes:
    """An OpenType font with the glyphs of every character of `text` (plus ASCII and common
    punctuation) from Noto Sans CJK SC."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    path = _collection_path()
    options = subset.Options()
    options.layout_features = []  # WeasyPrint drops GSUB/GPOS anyway; CJK needs no shaping
    options.notdef_outline = True
    options.hinting = False
    options.name_IDs = ["*"]
    # horizontal text only; WeasyPrint would drop the layout tables anyway
    options.drop_tables += ["vhea", "vmtx", "VORG", "GSUB", "GPOS", "BASE"]
    out = io.BytesIO()
    # recalcBBoxes=False: recomputing every kept glyph's bounds was most of the time, and the
    # whole face's bounding box still holds for the subset
    with TTFont(path, fontNumber=_face_index(path), lazy=True, recalcBBoxes=False) as font:
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=_ALWAYS + text)
        subsetter.subset(font)
        font.save(out)
    return out.getvalue()


def font_face_css(text: str) -> str:
    """An @font-face rule for the family `Sangao CJK` holding the glyphs of `text`."""
    data = base64.b64encode(cjk_font_subset(text)).decode("ascii")
    return (
        f'@font-face {{ font-family: "{_FAMILY}"; '
        f'src: url("data:font/otf;base64,{data}") format("opentype"); }}\n'
        f'html {{ font-family: "{_FAMILY}", sans-serif; }}\n'
    )


def html_to_pdf(html: str, extra_css: str = "") -> bytes:
    """The PDF of one HTML document (all its pages). The page's own CSS (print rules, @page)
    applies; the CJK family is added to the root element."""
    with warnings.catch_warnings():
        # WeasyPrint asks for the system HarfBuzz-Subset library; we subset with fontTools
        # before it sees the font, so its own subsetting has next to nothing to do.
        warnings.filterwarnings("ignore", message="HarfBuzz-Subset", category=DeprecationWarning)
        try:
            from weasyprint import CSS, HTML
            from weasyprint.text.fonts import FontConfiguration
        except OSError as exc:  # WeasyPrint loads the system's Pango when imported
            raise SangaoError.of("R105", reason=str(exc).splitlines()[0]) from None

    # its "Using fontTools instead of HarfBuzz-Subset" notice is for installers, not users
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    config = FontConfiguration()
    css = CSS(string=font_face_css(html) + extra_css, font_config=config)
    return HTML(string=html).write_pdf(stylesheets=[css], font_config=config)
