"""Every CSV sangao writes goes through SafeWriter (formula-injection escaping). The code lives in
pathways/csv_safe.py so that store/ (the reject file) can use it too; this name stays for reports."""

from pathways.csv_safe import SafeWriter, safe_cell

__all__ = ["SafeWriter", "safe_cell"]
