"""The placement use cases' pure parts: what the coordinator must give, the school days
assumed, and the hash a week's verification link names."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from wbl_registry.domain import DomainError
from wbl_registry.placements import (
    AgreementRequest,
    Contact,
    DayHours,
    check_request,
    school_calendar,
    week_subject,
)

pytestmark = pytest.mark.unit

PAT = Contact("Pat Lee", "pat@acme.example.org")
ROSA = Contact("Rosa Souza", "rosa@family.example.org")
AT = datetime(2027, 7, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("wage", "guardian", "paid", "minor", "field"),
    [
        (None, ROSA, True, True, "hourly_wage"),
        (Decimal("16.50"), ROSA, False, True, "hourly_wage"),
        (Decimal("16.50"), None, True, True, "guardian"),
        (Decimal("16.50"), ROSA, True, False, "guardian"),
    ],
)
def test_an_agreement_request_must_fit_the_opening_and_the_student(
    wage: Decimal | None, guardian: Contact | None, paid: bool, minor: bool, field: str
) -> None:
    request = AgreementRequest(PAT, "OSHA 10", wage, guardian)
    with pytest.raises(DomainError) as refused:
        check_request(request, paid=paid, minor=minor)
    assert refused.value.field == field


def test_a_fitting_request_passes() -> None:
    check_request(AgreementRequest(PAT, "OSHA 10", None, None), paid=False, minor=False)
    check_request(AgreementRequest(PAT, "OSHA 10", Decimal(15), ROSA), paid=True, minor=True)


def test_weekdays_from_september_to_june_are_school_days() -> None:
    calendar = school_calendar(date(2027, 6, 1), date(2027, 8, 31))
    assert calendar.is_school_day(date(2027, 6, 30))  # a Wednesday in June
    assert not calendar.is_school_day(date(2027, 7, 7))  # summer
    assert not calendar.is_school_day(date(2027, 6, 26))  # a Saturday
    assert calendar.is_school_day(date(2027, 9, 1))


def test_a_correction_changes_what_a_weeks_link_names_and_the_same_entries_do_not() -> None:
    monday = date(2027, 7, 5)
    days = [DayHours(monday, Decimal("6.50"), 1, "student", AT)]
    same = [DayHours(monday, Decimal("6.5"), 1, "employer", AT)]  # who and when do not count
    corrected = [DayHours(monday, Decimal("6.5"), 2, "student", AT)]
    subject = week_subject("mat_1", monday, days)
    assert subject.startswith("2027-07-05@")
    assert week_subject("mat_1", monday, same) == subject
    assert week_subject("mat_1", monday, corrected) != subject
    assert week_subject("mat_2", monday, days) != subject
