"""Authorization headers read strictly (issue 12, finding 3)."""

from __future__ import annotations

import pytest

from wbl_common.bearer import MAX_SECRET_LENGTH, bearer_secret

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwdw==",
        "Bearer \u00e9t\u00e9",  # how Starlette decodes UTF-8 bytes (as latin-1)
        "Bearer a b",
        "Bearer  leading-space",
        "Bearer tab\there",
        "Bearer " + "t" * (MAX_SECRET_LENGTH + 1),
    ],
)
def test_a_malformed_header_reads_as_no_secret(header: str | None) -> None:
    assert bearer_secret(header) is None


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_a_well_formed_secret_is_read_whatever_the_case_of_the_scheme(scheme: str) -> None:
    assert bearer_secret(f"{scheme} abc-DEF_123.~+/=") == "abc-DEF_123.~+/="
