"""What a placement's party reads in its email (ADR 6): who it is for, which student,
opening and employer, what to do, the link to the page that does it, when the link
expires and whom to ask. Pure: builds the message, sends nothing. The link goes in the
page URL's fragment (`/agreement#<link>`), which browsers never send to a server log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from wbl_notifier.domain import Delivery
from wbl_notifier.messages import TEMPLATES, when
from wbl_notifier.parties import (
    EVALUATE,
    LOG_HOURS,
    PAGES,
    SIGN_AGREEMENT,
    VERIFY_WEEK,
    OutreachItem,
    OutreachView,
)


@dataclass(frozen=True)
class PartyText:
    subject: str
    greeting: str
    about: str
    todo: str
    button: str
    url: str
    expires: str
    ask: str


def page_url(public_url: str, item: OutreachItem) -> str:
    return f"{public_url.rstrip('/')}/{PAGES[item.step.action]}#{item.link}"


def week_words(week_of: str | None) -> str:
    if week_of is None:
        return "the week"
    monday = date.fromisoformat(week_of)
    return f"the week of {monday:%A} {monday.day} {monday:%B %Y}"


def _signs_for(view: OutreachView, party: str) -> str:
    return {
        "school": f"for {view.school_name}",
        "employer": f"for {view.employer_name}, as {view.student_first_name}'s supervisor",
        "student": "for yourself, as the student",
        "guardian": f"as {view.student_first_name}'s parent or guardian",
    }.get(party, "")


def _what(view: OutreachView, item: OutreachItem) -> tuple[str, str, str]:
    """(subject, what to do, the button) for the item's action and party."""
    first, employer, party = view.student_first_name, view.employer_name, item.step.party
    action = item.step.action
    if action == SIGN_AGREEMENT:
        return (
            f"Please sign the training agreement for {first} at {employer}",
            "The training agreement for this placement is ready. Please read it and sign it "
            f"{_signs_for(view, party)}. Each party has a link of their own; "
            "the placement can start once everyone has signed.",
            "Read and sign the agreement",
        )
    if action == LOG_HOURS:
        if party == "student":
            return (
                f"Log your hours at {employer}",
                "Your placement may start. Log the hours you work each day on this page "
                "(keep the link: it works for every day of the placement).",
                "Log your hours",
            )
        return (
            f"Log or correct {first}'s hours at {employer}",
            f"{first}'s placement may start. {first} logs their hours each day; you can log "
            "or correct a day's hours on this page too. Each week you will be asked to "
            "verify them.",
            "Open the hours page",
        )
    if action == VERIFY_WEEK:
        week = week_words(item.week_of)
        return (
            f"Please verify {first}'s hours at {employer} for {week}",
            f"{week[0].upper()}{week[1:]} is over. Please check the hours {first} logged and "
            "verify them with one click, or correct a day first.",
            "Check and verify the hours",
        )
    if action == EVALUATE:
        return (
            f"Please evaluate {first}'s placement at {employer}",
            f"It is time for your evaluation of {first}: rate them on the program's "
            "competencies on this page.",
            "Write the evaluation",
        )
    return (f"A step for {first}'s placement at {employer}", "Please open this page.", "Open")


def party_text(
    view: OutreachView, item: OutreachItem, reminder: bool, public_url: str
) -> PartyText:
    subject, todo, button = _what(view, item)
    ask = view.ask
    who = (
        f"Questions? Ask {ask.name} at {view.school_name} ({ask.email})."
        if ask
        else f"Questions? Ask the work-based learning coordinator at {view.school_name}."
    )
    name = item.send_to.name if item.send_to else ""
    return PartyText(
        subject=(f"Reminder: {subject}" if reminder else subject)[:250],
        greeting=f"Dear {name}," if name else "Hello,",
        about=(
            f"This is about {view.student_first_name}'s work-based learning placement as "
            f"{view.opening_title} at {view.employer_name}, arranged by {view.school_name}."
        ),
        todo=todo,
        button=button,
        url=page_url(public_url, item),
        expires=f"The link is for you alone; please do not forward it. It works until "
        f"{when(item.expires_at)}.",
        ask=who,
    )


def party_email(
    view: OutreachView,
    item: OutreachItem,
    reminder: bool,
    delivery: Delivery,
    public_url: str,
    sender: str,
) -> EmailMessage:
    assert item.send_to is not None
    text = party_text(view, item, reminder, public_url)
    context = {"t": text, "reminder": reminder}
    message = EmailMessage()
    message["Subject"] = text.subject
    message["From"] = sender
    message["To"] = formataddr((item.send_to.name, item.send_to.email))
    message["Message-ID"] = make_msgid(idstring=delivery.delivery_id, domain="wbl-placements")
    message["X-WBL-Event-Id"] = delivery.delivery_id
    message.set_content(TEMPLATES.get_template("party_email.txt").render(context))
    message.add_alternative(
        TEMPLATES.get_template("party_email.html").render(context), subtype="html"
    )
    return message
