"""Request and response bodies for sign-in and the roster (units, users, assignments).

These check types only; the roster rules (parents, levels, the password policy) live in
:mod:`api.roster` and :mod:`api.passwords`, once. Text that cannot be stored (control
characters) is refused here, by :mod:`api.text`; a password is never stored, only its hash,
so it may hold any character.
"""

from __future__ import annotations

from typing import Annotated, Protocol

from pydantic import BaseModel, ConfigDict, Field

from api.roster import Role, Unit
from api.text import NO_CONTROL, Text
from domain.ladder import Level, UnitKind
from domain.state import Assignment


class StaffMember(Protocol):
    """What a roster user and a signed-in principal both have."""

    @property
    def id(self) -> str: ...
    @property
    def username(self) -> str: ...
    @property
    def display_name(self) -> str: ...
    @property
    def role(self) -> Role: ...
    @property
    def assignments(self) -> tuple[Assignment, ...]: ...


class Token(BaseModel):
    """An OAuth2 bearer token."""

    access_token: str
    token_type: str = "bearer"


class AssignmentBody(BaseModel):
    """A post: a level held on a unit."""

    model_config = ConfigDict(extra="forbid")

    unit_id: Text
    level: Annotated[Level, NO_CONTROL]

    @classmethod
    def of(cls, post: Assignment) -> AssignmentBody:
        return cls(unit_id=post.unit_id, level=post.level)

    def post(self) -> Assignment:
        return Assignment(unit_id=self.unit_id, level=self.level)


class UnitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text
    kind: Annotated[UnitKind, NO_CONTROL]
    parent_id: Text | None = None


class UnitOut(BaseModel):
    id: str
    name: str
    kind: UnitKind
    parent_id: str | None

    @classmethod
    def of(cls, unit: Unit) -> UnitOut:
        return cls(id=unit.id, name=unit.name, kind=unit.kind, parent_id=unit.parent_id)


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Text
    password: str
    display_name: Text
    role: Annotated[Role, NO_CONTROL]
    assignments: list[AssignmentBody] = Field(default_factory=list)


class UserOut(BaseModel):
    """A user as the API shows them: never the password or its hash."""

    id: str
    username: str
    display_name: str
    role: Role
    assignments: list[AssignmentBody]
    disabled: bool = False

    @classmethod
    def of(cls, user: StaffMember) -> UserOut:
        return cls(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            role=user.role,
            assignments=[AssignmentBody.of(post) for post in user.assignments],
            # a signed-in principal is never disabled (its tokens are refused)
            disabled=bool(getattr(user, "disabled", False)),
        )


class PasswordChange(BaseModel):
    """One's own new password, proven by the old one."""

    model_config = ConfigDict(extra="forbid")

    old_password: str
    new_password: str


class UserPatch(BaseModel):
    """An admin's change to a user: a new password, and/or disabled or enabled again."""

    model_config = ConfigDict(extra="forbid")

    password: str | None = None
    disabled: bool | None = None
