"""The coordinator's workspace pages (the inbox first): plain HTML and small scripts, served
by notifier. Every page extends `workspace.html` (sign-in, who is signed in, the navigation)
and loads `workspace.js` (the token, calls to this origin) before its own script.

The page keeps the coordinator's token in sessionStorage (gone when the tab closes; never a
cookie, so no request carries it implicitly and cross-site request forgery has nothing to
ride on) and talks only to this origin: notifier forwards decisions and student look-ups to
registry with that token, so registry needs no CORS and the content security policy can
allow `connect-src 'self'` only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from wbl_notifier.handlers import Decisions, LinkSpent
from wbl_notifier.links import ActionLink, LinkRefused
from wbl_notifier.messages import TEMPLATES

router = APIRouter(tags=["inbox page"], include_in_schema=False)
static = StaticFiles(packages=[("wbl_notifier", "static")])

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    # The action link's token is in the URL: it must not leak through a Referer header.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class WorkspacePage:
    path: str
    label: str  # in the navigation
    title: str  # the page's heading
    template: str


INBOX = WorkspacePage("/inbox", "Inbox", "Match inbox", "inbox.html")
STUDENTS = WorkspacePage("/students", "Students", "Your students", "students.html")
PLACEMENTS = WorkspacePage("/placements", "Placements", "Placements", "placements.html")
CLASS_LISTS = WorkspacePage("/class-lists", "Class lists", "Class lists", "class_lists.html")
OUTCOMES = WorkspacePage("/outcomes", "Outcomes", "Outcomes", "outcomes.html")
SETTINGS = WorkspacePage("/settings", "Settings", "Notification settings", "settings.html")
# The navigation, in its order: each page of the workspace adds itself here.
PAGES = (INBOX, STUDENTS, PLACEMENTS, CLASS_LISTS, OUTCOMES, SETTINGS)


def html(body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status_code, headers=SECURITY_HEADERS)


def workspace_page(page: WorkspacePage, **context: object) -> HTMLResponse:
    template = TEMPLATES.get_template(page.template)
    return html(template.render(page=page, pages=PAGES, **context))


def inbox_page(action: ActionLink | None = None, link: str | None = None) -> HTMLResponse:
    return workspace_page(INBOX, action=action, link=link)


@router.get("/inbox", response_class=HTMLResponse)
async def inbox() -> Response:
    return inbox_page()


@router.get("/students", response_class=HTMLResponse)
async def students() -> Response:
    return workspace_page(STUDENTS)


@router.get("/placements", response_class=HTMLResponse)
async def placements() -> Response:
    return workspace_page(PLACEMENTS)


@router.get("/class-lists", response_class=HTMLResponse)
async def class_lists(request: Request) -> Response:
    limit: int = request.app.state.class_list_max_bytes
    return workspace_page(CLASS_LISTS, max_bytes=limit, max_size=size_in_words(limit))


@router.get("/settings", response_class=HTMLResponse)
async def settings() -> Response:
    return workspace_page(SETTINGS)


def size_in_words(size: int) -> str:
    """4194304 -> '4 MB': binary megabytes, as file managers show sizes."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.3g} MB"
    return f"{size / 1024:.3g} KB"


@router.get("/outcomes", response_class=HTMLResponse)
async def outcomes() -> Response:
    return workspace_page(OUTCOMES)


@router.get("/inbox/act", response_class=HTMLResponse)
async def act(request: Request, t: Annotated[str, Query(max_length=400)] = "") -> Response:
    """Where an email's confirm/decline link lands: checked here, spent only when the
    coordinator, signed in, presses the button (mail scanners open links too)."""
    decisions: Decisions = request.app.state.decisions
    try:
        action = await decisions.check_link(t)
    except LinkRefused as error:
        return refused(
            "This link has expired" if error.expired else "This link is not valid",
            str(error),
            410 if error.expired else 400,
        )
    except LinkSpent:
        return refused(
            "This link was already used",
            "A decision was already taken from this email. Open your inbox to see where the "
            "match stands.",
            410,
        )
    return inbox_page(action, t)


def refused(title: str, detail: str, status_code: int) -> HTMLResponse:
    body = TEMPLATES.get_template("refused.html").render(title=title, detail=detail)
    return html(body, status_code)
