"""Who is calling: the admin, an employer or a coordinator, from the bearer secret.

401 when there is no secret or nobody holds it; 403 when it belongs to someone whose
role may not make this call. Scope (whose opening, which school) is the use cases' concern.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials

from wbl_common.bearer import StrictBearer
from wbl_common.secrets import same_secret
from wbl_registry.domain import Coordinator, Employer
from wbl_registry.handlers import Registry

bearer = StrictBearer("Admin token, employer API key or coordinator token")


@dataclass(frozen=True)
class AdminRole:
    pass


Principal = AdminRole | Employer | Coordinator


def get_registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


RegistryDep = Annotated[Registry, Depends(get_registry)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def unauthenticated() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "missing or unknown bearer secret",
        headers={"WWW-Authenticate": "Bearer"},
    )


def wrong_role(*roles: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, f"this call is for {' or '.join(roles)}s")


async def principal(request: Request, registry: RegistryDep, credentials: Credentials) -> Principal:
    if credentials is None or not credentials.credentials:
        raise unauthenticated()
    secret = credentials.credentials
    if same_secret(secret, request.app.state.admin_token):
        return AdminRole()
    found = await registry.employer_for(secret) or await registry.coordinator_for(secret)
    if found is None:
        raise unauthenticated()
    return found


Caller = Annotated[Principal, Depends(principal)]


async def require_admin(caller: Caller) -> AdminRole:
    if not isinstance(caller, AdminRole):
        raise wrong_role("admin")
    return caller


async def current_employer(caller: Caller) -> Employer:
    if not isinstance(caller, Employer):
        raise wrong_role("employer")
    return caller


async def current_coordinator(caller: Caller) -> Coordinator:
    if not isinstance(caller, Coordinator):
        raise wrong_role("coordinator")
    return caller


async def employer_or_coordinator(caller: Caller) -> Employer | Coordinator:
    if isinstance(caller, AdminRole):
        raise wrong_role("employer", "coordinator")
    return caller


async def admin_or_coordinator(caller: Caller) -> AdminRole | Coordinator:
    if isinstance(caller, Employer):
        raise wrong_role("admin", "coordinator")
    return caller


Admin = Annotated[AdminRole, Depends(require_admin)]
CurrentEmployer = Annotated[Employer, Depends(current_employer)]
CurrentCoordinator = Annotated[Coordinator, Depends(current_coordinator)]
EmployerOrCoordinator = Annotated[Employer | Coordinator, Depends(employer_or_coordinator)]
AdminOrCoordinator = Annotated[AdminRole | Coordinator, Depends(admin_or_coordinator)]


@dataclass(frozen=True)
class ServiceRole:
    """The notifier, calling with its service credential: for the outreach calls only, so
    the credential is unknown (401) everywhere else."""


async def current_service(
    request: Request, registry: RegistryDep, credentials: Credentials
) -> ServiceRole:
    if credentials is not None and same_secret(
        credentials.credentials, request.app.state.notifier_token
    ):
        return ServiceRole()
    await principal(request, registry, credentials)  # 401 for a secret nobody holds
    raise HTTPException(status.HTTP_403_FORBIDDEN, "this call is for the notifier service")


Service = Annotated[ServiceRole, Depends(current_service)]
