"""Request and response bodies for sign-in and the roster (units, users, their posts).

These check types only; the roster rules (parents, levels, the password policy) live in
:mod:`api.roster` and :mod:`api.passwords`, once. Text that cannot be stored (control
characters) is refused here, by :mod:`api.text`; a password is never stored, only its hash,
so it may hold any character.
"""

from __future__ import annotations

from typing import Annotated, Protocol

from pydantic import BaseModel, ConfigDict, Field

from api.roster import DispatchMode, Role, Unit
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
    @property
    def organisation(self) -> str | None: ...
    @property
    def dispatch_units(self) -> tuple[str, ...]: ...
    @property
    def work_phone(self) -> str | None: ...


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
    #: A community's dispatch mode; None for a town or a grid.
    dispatch: DispatchMode | None = None

    @classmethod
    def of(cls, unit: Unit) -> UnitOut:
        return cls(
            id=unit.id,
            name=unit.name,
            kind=unit.kind,
            parent_id=unit.parent_id,
            dispatch=unit.dispatch if unit.kind is UnitKind.COMMUNITY else None,
        )


class UnitPatch(BaseModel):
    """An admin's change to a unit: a community's dispatch mode.

    Typed as text so that another value is the roster's coded refusal
    (``bad_dispatch_mode``, field ``dispatch``); the schema still lists the two.
    """

    model_config = ConfigDict(extra="forbid")

    dispatch: Annotated[
        Text, Field(json_schema_extra={"enum": [mode.value for mode in DispatchMode]})
    ]


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Text
    password: str
    display_name: Text
    role: Annotated[Role, NO_CONTROL]
    assignments: list[AssignmentBody] = Field(default_factory=list)
    #: A partner's outside organisation (required for them; others may leave it out).
    organisation: Text | None = None
    #: A dispatcher's posts: ids of communities or towns (required for them, else none).
    dispatch_units: list[Text] = Field(default_factory=list)


class UserOut(BaseModel):
    """A user as the API shows them: never the password or its hash."""

    id: str
    username: str
    display_name: str
    role: Role
    assignments: list[AssignmentBody]
    disabled: bool = False
    organisation: str | None = None
    dispatch_units: list[str] = Field(default_factory=list)
    #: The work phone they gave for residents' contact cards; shown to themselves and to
    #: admins (left out of what a supervisor reads).
    work_phone: str | None = None

    @classmethod
    def of(cls, user: StaffMember, work_phone: bool = True) -> UserOut:
        """``user`` as the API shows them; without ``work_phone`` the field is left unset
        (a route answering with ``response_model_exclude_unset`` leaves it out)."""
        phone = {"work_phone": user.work_phone} if work_phone else {}
        return cls(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            role=user.role,
            assignments=[AssignmentBody.of(post) for post in user.assignments],
            # a signed-in principal is never disabled (its tokens are refused)
            disabled=bool(getattr(user, "disabled", False)),
            organisation=user.organisation,
            dispatch_units=list(user.dispatch_units),
            **phone,
        )


class PasswordChange(BaseModel):
    """One's own new password, proven by the old one."""

    model_config = ConfigDict(extra="forbid")

    old_password: str
    new_password: str


class ProfilePatch(BaseModel):
    """A staff member's change to their own profile: the work phone residents see on the
    tracking page (null or blank clears it; :func:`api.roster.work_phone` checks it)."""

    model_config = ConfigDict(extra="forbid")

    work_phone: Text | None = Field(
        default=None,
        json_schema_extra={"examples": ["13912345678", "0539-1234567", "0539-1234567-123"]},
    )


class UserPatch(BaseModel):
    """An admin's change to a user: a new password, disabled or enabled again, the
    organisation (null or blank clears it), a dispatcher's posts (the whole new list)."""

    model_config = ConfigDict(extra="forbid")

    password: str | None = None
    disabled: bool | None = None
    organisation: Text | None = None
    dispatch_units: list[Text] | None = None
