from datetime import datetime, timedelta, timezone

from pathways.resident_id import mask_phone
from store.audit import audit_entries, record_unmasking

CST = timezone(timedelta(hours=8))


def test_each_unmasking_is_recorded_with_who_when_what_and_how_many(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    record_unmasking(url, who="doctor1", at=datetime(2026, 12, 1, 9, 30, tzinfo=CST),
                     command="worklist --unmasked", patients=12)
    record_unmasking(url, who="nurse2", at=datetime(2026, 12, 2, 8, 0, tzinfo=CST),
                     command="worklist --unmasked", patients=3)
    assert [(e.who, e.at, e.command, e.patients) for e in audit_entries(url)] == [
        ("doctor1", "2026-12-01T09:30:00+08:00", "worklist --unmasked", 12),
        ("nurse2", "2026-12-02T08:00:00+08:00", "worklist --unmasked", 3),
    ]


def test_a_phone_shows_its_first_three_and_last_four_digits():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("053288886666") == "053*****6666"
    assert mask_phone("88886666") == "888*6666"
    assert mask_phone(None) == ""
