"""D codes: roster data (reading, validating and importing patient files). See
pathways/codes/__init__.py."""

from pathways.codes import Code

CODES: tuple[Code, ...] = (
    Code("D030", "roster", True,
         zh="无法读取 {file}：{reason}", en="cannot read {file}: {reason}"),
)
