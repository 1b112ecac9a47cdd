"""Re-export of pathways/csv_safe.py for the report writers (store/ imports it from pathways)."""

from pathways.csv_safe import SafeWriter, safe_cell

__all__ = ["SafeWriter", "safe_cell"]
