"""Resident ID numbers (GB 11643): check digit, birth date, sex, legacy upgrade, masking."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pathways import resident_id

VALID_MALE = "370202195803021236"  # born 1958-03-02, sequence 123 (odd: male)
VALID_FEMALE = "37020219600101002X"  # born 1960-01-01, sequence 002 (even: female), check digit X


def test_a_correct_male_id_has_no_problem():
    assert resident_id.problem(VALID_MALE) is None


def test_a_correct_id_with_check_character_x_has_no_problem():
    assert resident_id.problem(VALID_FEMALE) is None


def test_a_wrong_check_digit_is_named_with_the_right_one():
    assert resident_id.problem("370202195803021234") == (
        "check digit is 4 but should be 6 (GB 11643); a digit was mistyped"
    )


def test_an_id_of_17_characters_is_a_problem():
    assert "has 17 characters" in resident_id.problem(VALID_MALE[:-1])


def test_an_id_with_letters_inside_is_a_problem():
    assert resident_id.problem("37020219580302A236") == "must be 17 digits followed by a digit or X"


def test_an_id_with_an_impossible_birth_date_is_a_problem():
    first17 = "37020219580230123"  # 30 February
    assert "is not a date" in resident_id.problem(first17 + resident_id.check_digit(first17))


def test_birth_date_and_sex_are_read_from_the_id():
    assert resident_id.birth_date(VALID_MALE) == date(1958, 3, 2)
    assert resident_id.sex(VALID_MALE) == "M"
    assert resident_id.birth_date(VALID_FEMALE) == date(1960, 1, 1)
    assert resident_id.sex(VALID_FEMALE) == "F"


def test_a_legacy_15_digit_id_upgrades_to_the_18_character_id():
    assert resident_id.upgrade15("370202580302123") == VALID_MALE


def test_mask_keeps_area_code_and_last_four_only():
    assert resident_id.mask(VALID_MALE) == "370202********1236"
    assert resident_id.mask_name("张三") == "张*"


_first17 = st.from_regex(r"\A[1-6]\d{5}(19[5-9]\d|200\d)(0[1-9]|1[0-2])(0[1-9]|1\d|2[0-8])\d{3}\Z")


@given(_first17)
def test_any_well_formed_id_with_its_check_digit_passes(first17):
    assert resident_id.problem(first17 + resident_id.check_digit(first17)) is None


@given(_first17, st.integers(0, 16), st.integers(1, 9))
def test_changing_any_one_digit_fails_the_check(first17, position, shift):
    number = first17 + resident_id.check_digit(first17)
    changed = number[:position] + str((int(number[position]) + shift) % 10) + number[position + 1 :]
    # the change may also break the embedded birth date: either way it is a problem
    assert resident_id.problem(changed) is not None


@pytest.mark.parametrize("wrong", [c for c in "0123456789X" if c != "6"])
def test_every_other_check_character_fails(wrong):
    assert resident_id.problem(VALID_MALE[:-1] + wrong) is not None
