"""`guidelines diff --indicators` (reports/indicator_diff.py): the month's indicators under both
sets, for the roster and by team, on a literal roster."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

import cli
from pathways.models import Patient
from reports.indicator_diff import indicator_diff
from tests.roster_files import write_jsonl

ALT_2016 = str(
    Path(__file__).resolve().parents[1] / "guidelines" / "overlays-examples" / "alt-hba1c-lipid-2016"
)

# L1: medium ASCVD risk, LDL-C 3.0: above the 2023 target (<2.6), below the 2016 one (<3.4).
# L2: diabetes, FPG 7.5 and HbA1c 6.5: the clinical glucose measure switches to HbA1c, the QC
# 血糖控制率 stays on FPG; LDL-C 1.2 meets both targets.
MEDIUM = dict(
    patient_id="L1",
    sex="M",
    birth_date="1970-01-01",
    conditions=["hypertension"],
    enrolled_on="2024-01-10",
    smoker=False,
    team="一队",
    institution="甲卫生院",
    visits=[{"date": "2026-11-02", "sbp": 132, "dbp": 82}],
    labs=[{"date": "2026-10-01", "ldl_c": 3.0, "tc": 5.0, "hdl_c": 1.3}],
)
OTHER = dict(
    MEDIUM,
    patient_id="L2",
    team="二队",
    conditions=["hypertension", "diabetes"],
    visits=[{"date": "2026-11-02", "sbp": 132, "dbp": 82, "fpg": 7.5}],
    labs=[{"date": "2026-10-01", "ldl_c": 1.2, "tc": 3.5, "hdl_c": 1.3, "hba1c": 6.5}],
)


def test_the_2016_lipid_targets_raise_the_ldl_rate_of_the_team_with_ldl_3_and_leave_bp_and_fpg_alone():
    patients = [Patient.model_validate(r) for r in (MEDIUM, OTHER)]
    changes = {
        (c.scope, c.code): c for c in indicator_diff(patients, "national-default", ALT_2016, "2026-11", True)
    }
    assert (changes[(("", ""), "L02")].old, changes[(("", ""), "L02")].new) == ((1, 2), (2, 2))
    assert changes[(("", ""), "L02")].change == 50.0
    assert changes[(("甲卫生院", "一队"), "L02")].change == 100.0
    assert changes[(("甲卫生院", "二队"), "L02")].change == 0.0
    for code in ("H02", "D02", "M01"):
        assert changes[(("", ""), code)].change == 0.0


def test_guidelines_diff_prints_the_indicator_view_by_team(tmp_path):
    roster = write_jsonl(tmp_path / "roster.jsonl", [MEDIUM, OTHER])
    result = CliRunner().invoke(
        cli.app,
        [
            "guidelines",
            "diff",
            "national-default",
            ALT_2016,
            "--roster",
            str(roster),
            "--as-of",
            "2026-12-01",
            "--provisional-calendar",
            "--indicators",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "2026-11 质控指标" in result.output
    assert "血脂达标率" in result.output and "+50.0" in result.output
    assert "0.0%→100.0%" in result.output and "1 / 2 个团队的指标有变化" in result.output
