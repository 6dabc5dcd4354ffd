"""The training agreement: one canonical text per set of terms, its hash, and its PDF."""

from __future__ import annotations

import dataclasses
import re
import zlib
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from wbl_registry.agreements import (
    AgreementTerms,
    Signatory,
    Signature,
    agreement_hash,
    agreement_pdf,
    agreement_text,
)
from wbl_registry.party_links import Party

TERMS = AgreementTerms(
    match_id="mat_0123456789abcdef",
    opening_title="Medical assistant intern",
    employer_name="UMass Memorial Health",
    school_name="Worcester Technical High School",
    student_name="Zoë Núñez",
    place="Worcester",
    starts_on=date(2027, 7, 6),
    ends_on=date(2027, 8, 27),
    hours_per_week=20,
    hourly_wage=Decimal("16.50"),
    supervisor="Pat Lee, clinic manager",
    safety_training="OSHA 10-Hour General Industry; bloodborne pathogens",
    signatories=(
        Signatory(Party.SCHOOL, "Dana Rivera", "Worcester Technical High School"),
        Signatory(Party.EMPLOYER, "Pat Lee", "UMass Memorial Health"),
        Signatory(Party.STUDENT, "Zoë Núñez", "Zoë Núñez"),
        Signatory(Party.GUARDIAN, "Rosa Núñez", "Zoë Núñez"),
    ),
)


def pdf_text(pdf: bytes) -> str:
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S)
    return b"".join(zlib.decompress(s) for s in streams).decode("latin-1")


def test_the_text_covers_what_the_rule_asks_for() -> None:
    text = agreement_text(TERMS)
    assert "Hours: 20 a week" in text
    assert "Pay: $16.50 an hour, paid by the employer" in text
    assert "Workers' compensation: The employer covers the student" in text
    assert "Signed for the guardian: Rosa Núñez (Zoë Núñez)" in text
    assert "Dates: 06 July 2027 to 27 August 2027" in text
    assert "Pay: Unpaid" in agreement_text(dataclasses.replace(TERMS, hourly_wage=None))


def test_the_same_terms_give_the_same_text_and_hash() -> None:
    again = dataclasses.replace(TERMS)
    assert agreement_text(again) == agreement_text(TERMS)
    assert agreement_hash(agreement_text(TERMS)) == agreement_hash(agreement_text(again))


@pytest.mark.parametrize(
    "change",
    [
        {"hours_per_week": 21},
        {"hourly_wage": Decimal("16.51")},
        {"ends_on": date(2027, 8, 28)},
        {"supervisor": "Sam Lee"},
        {"signatories": TERMS.signatories[:3]},
    ],
)
def test_any_change_of_terms_changes_the_hash(change: dict[str, object]) -> None:
    changed = dataclasses.replace(TERMS, **change)  # type: ignore[arg-type]
    assert agreement_hash(agreement_text(changed)) != agreement_hash(agreement_text(TERMS))


def test_terms_that_cannot_be_signed_are_refused() -> None:
    with pytest.raises(ValueError, match="ends before it starts"):
        dataclasses.replace(TERMS, ends_on=date(2027, 7, 5))
    with pytest.raises(ValueError, match="each party signs once"):
        dataclasses.replace(TERMS, signatories=(TERMS.signatories[0], TERMS.signatories[0]))


def test_the_pdf_holds_the_text_and_the_signatures_and_is_reproducible() -> None:
    text = agreement_text(TERMS)
    signed = (
        Signature(Party.SCHOOL, "Dana Rivera", datetime(2027, 6, 1, 14, 5, tzinfo=UTC), "ab" * 32),
    )
    issued = datetime(2027, 5, 28, 9, 0, tzinfo=UTC)
    pdf = agreement_pdf(text, issued, signed)
    assert pdf.startswith(b"%PDF-")
    inside = pdf_text(pdf)
    assert "Medical assistant intern at UMass Memorial Health" in inside
    assert "Zo\xeb N\xfa\xf1ez" in inside  # Latin-1 names print as they are
    assert "school: Dana Rivera, 01 June 2027 14:05 UTC" in inside
    assert b"/CreationDate (D:20270528090000Z)" in pdf  # dated when issued, not when drawn
    assert agreement_pdf(text, issued, signed) == pdf
    assert "Signatures" not in pdf_text(agreement_pdf(text, issued))
