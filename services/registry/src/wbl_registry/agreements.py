"""The training agreement of a placement (603 CMR 4.03: school, employer, student and
parent or guardian agree in writing on hours, wages and workers' compensation): its terms,
the canonical text every party reads and signs, that text's SHA-256, and the PDF rendered
from it. Pure. The hash names the text, not the PDF's bytes, so a signature stays tied to
what was read whatever the PDF library does with fonts or metadata."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from wbl_registry.party_links import Party

TITLE = "Work-based learning training agreement"
WORKERS_COMP = (
    "The employer covers the student under its workers' compensation insurance for the "
    "whole placement, as for any employee, and reports any injury to the school the same day."
)


@dataclass(frozen=True)
class Signatory:
    party: Party
    name: str  # the person who signs
    acting_for: str  # the school's or employer's name; the student's name for a guardian


@dataclass(frozen=True)
class AgreementTerms:
    match_id: str
    opening_title: str
    employer_name: str
    school_name: str
    student_name: str
    place: str  # the town, or "remote"
    starts_on: date
    ends_on: date
    hours_per_week: int
    hourly_wage: Decimal | None  # None: unpaid
    supervisor: str
    safety_training: str  # what the student is trained in before starting
    signatories: tuple[Signatory, ...]

    def __post_init__(self) -> None:
        if self.ends_on < self.starts_on:
            raise ValueError("the placement ends before it starts")
        parties = [s.party for s in self.signatories]
        if len(set(parties)) != len(parties):
            raise ValueError("each party signs once")


def agreement_text(terms: AgreementTerms) -> str:
    """The canonical text: the same terms always give the same text, line for line."""
    pay = (
        f"${terms.hourly_wage:.2f} an hour, paid by the employer"
        if terms.hourly_wage is not None
        else "Unpaid"
    )
    lines = [
        TITLE,
        "",
        f"Placement: {terms.opening_title} at {terms.employer_name} ({terms.place})",
        f"Student: {terms.student_name}, {terms.school_name}",
        f"Dates: {terms.starts_on:%d %B %Y} to {terms.ends_on:%d %B %Y}",
        f"Hours: {terms.hours_per_week} a week, within the working-hours limits for minors",
        f"Pay: {pay}",
        f"Supervisor at the workplace: {terms.supervisor}",
        f"Safety training before starting: {terms.safety_training}",
        f"Workers' compensation: {WORKERS_COMP}",
        "",
        "The parties below agree to these terms. The school's coordinator visits or calls the "
        "workplace during the placement; any party may end it early by telling the coordinator.",
        "",
        *(f"Signed for the {s.party}: {s.name} ({s.acting_for})" for s in terms.signatories),
        "",
        f"Reference: {terms.match_id}",
    ]
    return "\n".join(lines) + "\n"


def agreement_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Signature:
    party: Party
    name: str
    signed_at: datetime
    text_hash: str  # the agreement text this party read


def agreement_pdf(text: str, issued_at: datetime, signatures: tuple[Signature, ...] = ()) -> bytes:
    """The agreement as a PDF: its text, then who signed which version and when. Dated when
    the agreement was issued (not now), so the same agreement always gives the same bytes."""
    pdf = FPDF(format="Letter")
    pdf.set_creation_date(issued_at)
    pdf.set_title(TITLE)
    pdf.add_page()
    heading, *body = text.splitlines()
    pdf.set_font("Helvetica", style="B", size=15)
    pdf.multi_cell(0, 9, heading, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=11)
    for line in body:
        pdf.multi_cell(0, 6, _latin1(line) or " ", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if signatures:
        pdf.ln(4)
        pdf.set_font("Helvetica", style="B", size=11)
        pdf.multi_cell(0, 6, "Signatures", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font("Helvetica", size=10)
        for s in signatures:
            line = (
                f"{s.party}: {s.name}, {s.signed_at:%d %B %Y %H:%M} UTC, text SHA-256 {s.text_hash}"
            )
            pdf.multi_cell(0, 5, _latin1(line), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())


def _latin1(line: str) -> str:
    # The core PDF fonts cover Latin-1: names like "Zoë" or "Núñez" print as they are;
    # anything else becomes "?" rather than failing the whole document.
    return line.encode("latin-1", "replace").decode("latin-1")
