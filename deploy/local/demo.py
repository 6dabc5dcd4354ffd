"""Play a short scenario through the running system (`make up` first; `make demo` does both).

An employer posts an opening, a coordinator registers two students, and the match
notifications arrive in the coordinator's inbox — through the real Kafka broker and the
real MongoDB-protocol server. Each step is printed, and at the end how to sign in to the
inbox page.

It can be played any number of times on one system. It works in a school and with an
employer of its own (`sch_demo`, "Demo Robotics (wbl-placements demo)"), created on the
first run; the employer's key and the coordinator's token, which the API shows only once,
are kept in `<run dir>/demo.json` (readable by you alone) and reissued through the admin
API when they no longer work. Each run retires the previous run's opening and students and
plays with fresh ones.

``demo.py reset`` (``make demo-reset``) retires everything the demo made, through the same
public API — closes its openings, withdraws its students, removes its coordinator, revokes
its employer's key — and forgets the state file.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import infra
import run_services

SCHOOL = "sch_demo"
EMPLOYER = "Demo Robotics (wbl-placements demo)"
COORDINATOR = "Demo Coordinator (wbl-placements demo)"
FIELD = "robotics-and-automation-technology"
STUDENTS = (("Ana", "Souza", date(2008, 3, 14)), ("Ben", "Okafor", date(2008, 9, 2)))
WAIT_S = 60


class DemoError(Exception):
    """What went wrong, in one line."""


@dataclass
class State:
    """What the demo made, so the next run can find it and `reset` can retire it."""

    employer_id: str
    api_key: str
    coordinator_id: str
    token: str
    runs: int = 0
    openings: list[str] = field(default_factory=list)  # the newest last
    students: list[str] = field(default_factory=list)
    current: dict[str, Any] = field(default_factory=dict)  # this run's opening and students

    @classmethod
    def load(cls, path: Path) -> State | None:
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as error:
            print(f"   (ignoring {path}: {error}; starting over)")
            return None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.chmod(0o600)  # it holds the employer's key and the coordinator's token
        tmp.replace(path)


def step(text: str) -> None:
    print(f"\n== {text}")


def show(label: str, value: Any) -> None:
    print(f"   {label}: {value}")


def expect(response: httpx.Response, *statuses: int) -> Any:
    """The response's JSON body (None when empty) if its status is one of `statuses`."""
    if response.status_code not in statuses:
        raise DemoError(
            f"{response.request.method} {response.request.url} answered "
            f"{response.status_code}: {response.text[:500]}"
        )
    return response.json() if response.content else None


def student(
    first: str,
    last: str,
    born: date,
    fields: list[str],
    school: str = SCHOOL,
    email: str | None = None,
) -> dict[str, Any]:
    start = date.today() + timedelta(days=30)
    return {
        "school_id": school,
        "first_name": first,
        "last_name": last,
        "email": email or f"{first.lower()}.{last.lower()}@students.example.org",
        "date_of_birth": born.isoformat(),
        "grade": 12,
        "program": "stem-tech-academy",
        "career_fields": fields,
        "credentials": ["osha-10-general"],
        "home": {"town": "Worcester", "lat": 42.2626, "lon": -71.8023},
        "max_commute_km": 25,
        "available_from": start.isoformat(),
        "available_to": (start + timedelta(days=120)).isoformat(),
        "hours_per_week": 20,
    }


def opening_body(seats: int) -> dict[str, Any]:
    starts = date.today() + timedelta(days=30)
    return {
        "title": "Robotics technician intern (demo)",
        "career_field": FIELD,
        "seats": seats,
        "location": {"town": "Worcester", "lat": 42.2745, "lon": -71.8063},
        "starts_on": starts.isoformat(),
        "ends_on": (starts + timedelta(days=90)).isoformat(),
        "hours_per_week": 15,
        "paid": True,
        "required_credentials": ["osha-10-general"],
        "hiring_preferences": {"partner_programs": ["stem-tech-academy"]},
    }


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@dataclass(frozen=True)
class Demo:
    http: httpx.Client
    registry: str
    notifier: str
    admin: dict[str, str]
    state_path: Path

    # -- finding or creating the demo's employer and coordinator --------------------------

    def ready_state(self) -> State:
        state = State.load(self.state_path)
        if state is None:
            step("Admin registers the demo's employer and its school's coordinator")
            state = State(*self.new_employer(), *self.new_coordinator())
        else:
            step(f"Finding the demo's employer and coordinator (run {state.runs + 1})")
            state.api_key = self.working_key(state)
            state.coordinator_id, state.token = self.working_token(state)
        state.save(self.state_path)
        show("employer", f"{EMPLOYER} ({state.employer_id})")
        show("coordinator", f"{COORDINATOR} ({state.coordinator_id}) for school {SCHOOL}")
        return state

    def new_employer(self) -> tuple[str, str]:
        made = expect(
            self.http.post(
                f"{self.registry}/v1/employers", json={"name": EMPLOYER}, headers=self.admin
            ),
            201,
        )
        return made["id"], made["api_key"]

    def new_coordinator(self) -> tuple[str, str]:
        made = expect(
            self.http.post(
                f"{self.registry}/v1/coordinators",
                json={"name": COORDINATOR, "school_ids": [SCHOOL]},
                headers=self.admin,
            ),
            201,
        )
        return made["id"], made["token"]

    def working_key(self, state: State) -> str:
        """The saved key if it still works, else a new one for the same employer."""
        probe = self.http.get(f"{self.registry}/v1/openings?size=1", headers=bearer(state.api_key))
        if probe.status_code == 200:
            return state.api_key
        expect(probe, 401)
        rotated = self.http.post(
            f"{self.registry}/v1/employers/{state.employer_id}/api-key", headers=self.admin
        )
        if rotated.status_code == 404:  # the system was wiped: the employer is gone
            state.employer_id, key = self.new_employer()
            state.openings.clear()
            return key
        show("employer key", "the saved one no longer worked: reissued by the admin")
        return str(expect(rotated, 200)["api_key"])

    def working_token(self, state: State) -> tuple[str, str]:
        """The saved token if it still works, else a new one (or a new coordinator)."""
        probe = self.http.get(f"{self.registry}/v1/coordinators/me", headers=bearer(state.token))
        if probe.status_code == 200:
            return state.coordinator_id, state.token
        expect(probe, 401)
        reissued = self.http.post(
            f"{self.registry}/v1/coordinators/{state.coordinator_id}/token", headers=self.admin
        )
        if reissued.status_code == 404:  # removed, or the system was wiped
            state.students.clear()
            return self.new_coordinator()
        show("coordinator token", "the saved one no longer worked: reissued by the admin")
        return state.coordinator_id, str(expect(reissued, 200)["token"])

    # -- the scenario ---------------------------------------------------------------------

    def play(self) -> State:
        state = self.ready_state()
        if state.current:
            step("Retiring the previous run's opening and students")
            self.retire(state, [state.current["opening"]], state.current["students"])
        run = state.runs + 1
        tag = secrets.token_hex(3)  # emails are unique per school, and records are kept

        step("The employer posts an opening")
        opening = expect(
            self.http.post(
                f"{self.registry}/v1/openings",
                headers=bearer(state.api_key),
                json=opening_body(seats=len(STUDENTS)),
            ),
            201,
        )
        state.openings.append(opening["id"])
        state.current = {"opening": opening["id"], "students": []}
        state.save(self.state_path)
        show("opening", f"{opening['title']} ({opening['id']}), {opening['seats']} seats")

        step(f"The coordinator registers {len(STUDENTS)} students")
        for first, last, born in STUDENTS:
            email = f"{first.lower()}.{last.lower()}.{run}-{tag}@demo.example.org"
            made = expect(
                self.http.post(
                    f"{self.registry}/v1/students",
                    headers=bearer(state.token),
                    json=student(first, last, born, [FIELD], email=email),
                ),
                201,
            )
            state.students.append(made["id"])
            state.current["students"].append(made["id"])
            state.save(self.state_path)
            show("student", f"{first} {last} → pseudonymous id {made['id']}")

        step("Waiting for the matcher's proposals to reach the coordinator's inbox")
        for item in self.notifications(state, opening["id"], state.current["students"]):
            show(
                "notification",
                f"match {item['match_id']}: student {item['student_id']} → "
                f"{item.get('opening_text') or item['opening_id']} [{item['status']}]",
            )
            for line in item["explanation"]:
                print(f"      · {line}")
        state.runs = run
        state.save(self.state_path)
        return state

    def notifications(
        self, state: State, opening: str, students: Sequence[str]
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + WAIT_S
        found: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            inbox = expect(
                self.http.get(f"{self.notifier}/v1/inbox?size=200", headers=bearer(state.token)),
                200,
            )
            found = [n for n in inbox if n["opening_id"] == opening and n["student_id"] in students]
            if len(found) >= len(students):
                return found
            time.sleep(0.5)
        raise DemoError(
            f"only {len(found)} of {len(students)} notifications arrived within {WAIT_S} s; "
            "see `make logs`"
        )

    def sign_in(self, state: State) -> None:
        print(
            f"\nDone (run {state.runs}). Sign in to the coordinator's inbox:\n"
            f"   {self.notifier}/inbox#token={state.token}\n"
            f"   (or open {self.notifier}/inbox and paste the token {state.token})\n"
            "The system is still running: `make demo` plays again, `make demo-reset` retires "
            "what the demo made, `make down` stops everything."
        )

    # -- retiring ------------------------------------------------------------------------

    def retire(self, state: State, openings: Iterable[str], students: Iterable[str]) -> None:
        """Close `openings` and withdraw `students`; what is already gone is fine."""
        for opening in openings:
            closed = self.http.delete(
                f"{self.registry}/v1/openings/{opening}", headers=bearer(state.api_key)
            )
            expect(closed, 204, 404, 409)
            show("opening", f"{opening} {'closed' if closed.is_success else 'was gone'}")
        for student_id in students:
            withdrawn = self.http.post(
                f"{self.registry}/v1/students/{student_id}/withdraw", headers=bearer(state.token)
            )
            expect(withdrawn, 200, 404, 409)
            show("student", f"{student_id} {'withdrawn' if withdrawn.is_success else 'was gone'}")

    def reset(self) -> None:
        state = State.load(self.state_path)
        if state is None:
            print(f"Nothing to reset: no demo state in {self.state_path}.")
            return
        step("Retiring everything the demo made")
        state.api_key = self.working_key(state)
        state.coordinator_id, state.token = self.working_token(state)
        self.retire(state, state.openings, state.students)
        removed = self.http.delete(
            f"{self.registry}/v1/coordinators/{state.coordinator_id}", headers=self.admin
        )
        expect(removed, 204, 404)
        show("coordinator", f"{state.coordinator_id} removed")
        revoked = self.http.delete(
            f"{self.registry}/v1/employers/{state.employer_id}/api-key", headers=self.admin
        )
        expect(revoked, 204, 404)
        show("employer", f"{state.employer_id}: API key revoked")
        self.state_path.unlink()
        print(f"\nDone: the demo is reset ({self.state_path} removed).")


def demo_for(env: Mapping[str, str], http: httpx.Client) -> Demo:
    config = infra.Config.from_env(env)
    return Demo(
        http=http,
        registry=run_services.SERVICES[0].url(env),
        notifier=run_services.SERVICES[2].url(env),
        admin=bearer(run_services.admin_token(env)),
        state_path=config.run_dir / "demo.json",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("command", nargs="?", choices=["play", "reset"], default="play")
    args = parser.parse_args(argv)
    try:
        with httpx.Client(timeout=10) as http:
            demo = demo_for(dict(os.environ), http)
            if args.command == "reset":
                demo.reset()
            else:
                demo.sign_in(demo.play())
    except httpx.TransportError as error:
        where = error.request.url.copy_with(path="/", query=None)
        print(
            f"error: cannot reach {where} ({error}); is the system running? "
            "`make up` starts it (`make demo` does too)",
            file=sys.stderr,
        )
        return 1
    except (DemoError, infra.InfraError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
