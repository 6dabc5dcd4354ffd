"""`make demo` replays on one running system, ends with a sign-in link that works in a real
browser, and `make demo-reset` retires what it made (deploy/local/demo.py, run as a process
against registry, matcher and notifier as processes)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.e2e import test_inbox_page
from tests.e2e.conftest import System

pytestmark = pytest.mark.e2e
browser = test_inbox_page.browser  # the same fixture: Debian's chromium through Playwright

DEMO = Path(__file__).resolve().parents[2] / "deploy" / "local" / "demo.py"
SIGN_IN = re.compile(r"(http://\S+/inbox)#token=(\S+)")


async def run_demo(system: System, run_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(
        {
            "WBL_RUN_DIR": str(run_dir),
            "WBL_ADMIN_TOKEN": system.admin_token,
            "WBL_REGISTRY_HTTP__PORT": str(urlsplit(system.registry).port),
            "WBL_NOTIFIER_HTTP__PORT": str(urlsplit(system.notifier).port),
        }
    )
    # The demo waits up to 60 s for its notifications; the subprocess must not outlast it.
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(DEMO), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )


async def test_the_demo_replays_signs_in_by_link_and_resets(
    system: System, browser: Browser, tmp_path: Path
) -> None:
    first = await run_demo(system, tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    second = await run_demo(system, tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Done (run 2)" in second.stdout
    assert "Retiring the previous run's opening and students" in second.stdout
    assert second.stdout.count("notification: match") == 2

    link = SIGN_IN.search(second.stdout)
    assert link is not None, second.stdout
    inbox_url, token = link.groups()
    assert inbox_url == f"{system.notifier}/inbox"
    state = json.loads((tmp_path / "demo.json").read_text())
    assert (tmp_path / "demo.json").stat().st_mode & 0o077 == 0  # it holds secrets
    assert state["runs"] == 2 and state["token"] == token
    current = state["current"]

    async with httpx.AsyncClient(timeout=10) as http:
        me = await http.get(
            f"{system.registry}/v1/coordinators/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert me.status_code == 200, me.text
        assert me.json()["school_ids"] == ["sch_demo"]

        # The link signs in: this run's proposals are listed, and the token leaves the URL.
        page = await browser.new_page()
        await page.goto(f"{inbox_url}#token={token}")
        await expect(page.locator("#connection")).to_contain_text("Live", timeout=20_000)
        assert "token" not in page.url
        for student_id in current["students"]:
            item = page.locator("li.item", has_text=student_id)
            await expect(item).to_have_attribute("data-status", "proposed", timeout=20_000)
            await expect(item).to_contain_text(current["opening"])

        reset = await run_demo(system, tmp_path, "reset")
        assert reset.returncode == 0, reset.stdout + reset.stderr
        assert not (tmp_path / "demo.json").exists()
        for opening in state["openings"]:
            assert f"opening: {opening} closed" in reset.stdout
        for student_id in state["students"]:
            assert f"student: {student_id} withdrawn" in reset.stdout
        gone = await http.get(
            f"{system.registry}/v1/coordinators/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert gone.status_code == 401
        key = {"Authorization": f"Bearer {state['api_key']}"}
        revoked = await http.get(f"{system.registry}/v1/openings", headers=key)
        assert revoked.status_code == 401

    again = await run_demo(system, tmp_path, "reset")
    assert again.returncode == 0 and "Nothing to reset" in again.stdout
