"""The pages a party without an account acts from: the supervisor, the guardian and the
student open `/agreement#<link>`, `/hours#<link>`, `/verify#<link>` or `/evaluate#<link>`
from their email. Plain HTML and small scripts with no sign-in (`party.html`, `party.js`):
the link is the credential, read from the URL fragment (never sent to a server or a log)
and posted to this origin's `/v1/party/...` (party_api.py), which forwards it to registry."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from wbl_notifier.messages import TEMPLATES
from wbl_notifier.page import html

router = APIRouter(tags=["party pages"], include_in_schema=False)


@dataclass(frozen=True)
class PartyPage:
    path: str
    title: str  # the page's heading
    template: str
    script: str  # its own script, loaded after party.js


AGREEMENT = PartyPage("/agreement", "Training agreement", "agreement.html", "agreement.js")
HOURS = PartyPage("/hours", "Hours worked", "hours.html", "hours.js")
VERIFY = PartyPage("/verify", "Verify a week's hours", "verify.html", "verify.js")
EVALUATE = PartyPage("/evaluate", "Evaluate the student", "evaluate.html", "evaluate.js")


def party_page(page: PartyPage) -> HTMLResponse:
    return html(TEMPLATES.get_template(page.template).render(page=page))


@router.get("/agreement", response_class=HTMLResponse)
async def agreement() -> Response:
    return party_page(AGREEMENT)


@router.get("/hours", response_class=HTMLResponse)
async def hours() -> Response:
    return party_page(HOURS)


@router.get("/verify", response_class=HTMLResponse)
async def verify() -> Response:
    return party_page(VERIFY)


@router.get("/evaluate", response_class=HTMLResponse)
async def evaluate() -> Response:
    return party_page(EVALUATE)
