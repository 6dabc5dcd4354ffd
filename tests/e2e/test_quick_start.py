"""The README's quick starts, run as written: each role's `sh` block, extracted from the
README and run by bash against registry, matcher and notifier as processes."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import System
from tests.support import eventually

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"<!-- quick-start: (\w+) -->\n```sh\n(.*?)```", re.DOTALL)


def quick_starts() -> dict[str, str]:
    return dict(BLOCK.findall(README.read_text()))


def test_the_readme_has_a_quick_start_for_each_role() -> None:
    blocks = quick_starts()
    assert set(blocks) == {"employer", "coordinator"}
    assert all("curl" in block for block in blocks.values())


async def run_block(system: System, block: str, cwd: Path, keep: str) -> tuple[str, str]:
    """Run one README block in bash, as pasted (stop at the first failing command); its
    output and the secret named `keep` it made, for the test to look further."""
    script = f'set -euo pipefail\n{block}\nprintf "\\n{keep}=%s\\n" "${keep}"\n'
    env = {**os.environ, "REGISTRY": system.registry, "WBL_ADMIN_TOKEN": system.admin_token}
    done = await asyncio.to_thread(
        subprocess.run,
        ["bash", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    secret = done.stdout.rsplit(f"{keep}=", 1)[1].strip()
    assert secret and secret != "null", done.stdout
    return done.stdout, secret


@pytest.mark.timeout(240)
async def test_the_quick_starts_run_as_written_and_both_roles_see_the_match(
    system: System, tmp_path: Path
) -> None:
    blocks = quick_starts()
    employer_out, employer_key = await run_block(
        system, blocks["employer"], tmp_path, "EMPLOYER_KEY"
    )
    assert '"id":"opn_' in employer_out.replace(" ", "")
    assert "x-total-count:" in employer_out.lower()
    coordinator_out, token = await run_block(
        system, blocks["coordinator"], tmp_path, "COORDINATOR_TOKEN"
    )
    answer = coordinator_out[coordinator_out.index('{"registered"') :]
    upload, _ = json.JSONDecoder().raw_decode(answer)
    assert upload["counts"] == {"registered": 1, "already_registered": 0, "rows_with_errors": 0}
    errors_csv = (tmp_path / "class-list-errors.csv").read_text()
    assert errors_csv.splitlines() == ["line,column,student,message"]

    # Both read the match the matcher proposes, as the blocks' last command does.
    async with httpx.AsyncClient(base_url=system.registry, timeout=10) as http:

        async def matches(secret: str) -> list[object]:
            found = await http.get("/v1/matches", headers={"Authorization": f"Bearer {secret}"})
            assert found.status_code == 200, found.text
            listed: list[object] = found.json()
            return listed

        await eventually(lambda: matches(employer_key), within=120, what="the employer's match")
        await eventually(lambda: matches(token), within=30, what="the coordinator's match")
