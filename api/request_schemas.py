"""Bodies of the request endpoints: intake, handler actions, the review, and their replies.

Every text field is :data:`api.text.Text` (or carries :data:`api.text.NO_CONTROL`): text
with control characters is refused before anything is sent to a workflow.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from api.text import NO_CONTROL, Text
from domain.ladder import Tier
from domain.place import MAX_ADDRESS, MAX_BUILDING
from domain.review import DIMENSIONS, Answer

Channel = Annotated[Literal["app", "hotline", "visit", "walk_in"], NO_CONTROL]

NonBlank = Field(min_length=1, max_length=4000)
#: Degrees (WGS-84); the ranges are checked by domain.place (reason codes of their own).
Degrees = Annotated[float | None, NO_CONTROL]
#: Photos by the id ``POST /photos`` answered with (their content hash); how many is
#: checked by the route (``too_many_photos``).
PhotoIds = Annotated[list[Annotated[str, Field(max_length=64)]], NO_CONTROL]
MaybeAnswer = Annotated[Answer | None, NO_CONTROL]

#: The error type of an unanswered dimension in a reached review (the pages translate it).
MISSING_ANSWER = "review_answer_missing"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Resident(_Body):
    name: Text = Field(min_length=1, max_length=100)
    phone: Text = Field(min_length=3, max_length=32, pattern=r"^[0-9+\-() ]+$")


class RequestIn(_Body):
    """A resident's request (诉求) as filed."""

    grid_id: Text = Field(min_length=1)
    category: Text = Field(min_length=1)  # a category of the catalogue, checked at intake
    description: Text = NonBlank
    channel: Channel
    resident: Resident
    tier: Annotated[Tier | None, NO_CONTROL] = None  # staff only (a resident: 422)
    urgent: Annotated[bool, NO_CONTROL] = False  # the resident's own mark, seen on the board
    # where it is (domain.place): lat and long together or neither
    lat: Degrees = None
    long: Degrees = None
    address: Text | None = Field(default=None, max_length=MAX_ADDRESS)
    building: Text | None = Field(default=None, max_length=MAX_BUILDING)
    photos: PhotoIds = Field(default_factory=list)


class ProgressIn(_Body):
    note: Text = NonBlank
    photos: PhotoIds = Field(default_factory=list)  # "before" photos


class EscalateIn(_Body):
    reason: Text = NonBlank


class ResolveIn(_Body):
    resolution: Text = NonBlank
    photos: PhotoIds = Field(default_factory=list)  # "after" photos


class LocationIn(_Body):
    """Staff correct where a request is: a new point; the address and building replace
    the old ones when given."""

    lat: float
    long: float
    address: Text | None = Field(default=None, max_length=MAX_ADDRESS)
    building: Text | None = Field(default=None, max_length=MAX_BUILDING)
    reason: Text = NonBlank


class RevealIn(_Body):
    """Why a supervisor or admin needs a masked contact (kept in the audit)."""

    reason: Text = Field(min_length=4, max_length=500)


class ReviewIn(_Body):
    """The four-dimension review (四个维度跟踪回访); the dimensions are needed when reached.

    Each unanswered dimension of a reached review is refused on its own field (error type
    ``review_answer_missing``), so a page shows the refusal next to the question.
    """

    reached: bool
    completion: MaybeAnswer = Field(default=None, validate_default=True)
    progress: MaybeAnswer = Field(default=None, validate_default=True)
    effect: MaybeAnswer = Field(default=None, validate_default=True)
    satisfaction: MaybeAnswer = Field(default=None, validate_default=True)
    comment: Text = Field(default="", max_length=4000)

    @field_validator(*DIMENSIONS)
    @classmethod
    def _answered_when_reached(cls, value: Answer | None, info: ValidationInfo) -> Answer | None:
        if value is None and info.data.get("reached") is True:
            raise PydanticCustomError(
                MISSING_ANSWER, "a reached review answers all four dimensions; this one is missing"
            )
        return value


class SelfReviewIn(_Body):
    """The resident's own review from the tracking link (限时反馈): the four dimensions, each
    answered (an unanswered one is refused on its own field, as in :class:`ReviewIn`)."""

    completion: MaybeAnswer = Field(default=None, validate_default=True)
    progress: MaybeAnswer = Field(default=None, validate_default=True)
    effect: MaybeAnswer = Field(default=None, validate_default=True)
    satisfaction: MaybeAnswer = Field(default=None, validate_default=True)
    comment: Text = Field(default="", max_length=4000)

    @field_validator(*DIMENSIONS)
    @classmethod
    def _answered(cls, value: Answer | None) -> Answer:
        if value is None:
            raise PydanticCustomError(
                MISSING_ANSWER, "a review answers all four dimensions; this one is missing"
            )
        return value


# ---- street-office operations ----------------------------------------------------------

TierField = Annotated[Tier, NO_CONTROL]


class DispatchIn(_Body):
    """分解交办: hand a waiting request to a grid of its community, on a tier."""

    grid_id: Text = Field(min_length=1)
    tier: TierField
    category: Text | None = None
    note: Text = Field(default="", max_length=4000)


class ReasonIn(_Body):
    """A move that says why: return (退单), out-of-scope closure, an appeal."""

    reason: Text = NonBlank


class MergeIn(_Body):
    """合并: the request this one duplicates, and why."""

    into: Text = Field(min_length=1, max_length=64)
    reason: Text = NonBlank


class RedirectIn(_Body):
    """改派: another grid of the community, at the same level."""

    grid_id: Text = Field(min_length=1)
    reason: Text = NonBlank


class RetierIn(_Body):
    tier: TierField
    reason: Text = NonBlank


class UrgeIn(_Body):
    note: Text = NonBlank


class ExtensionIn(_Body):
    """延期: ask the level above for a later deadline (an ISO date-time with its zone)."""

    until: AwareDatetime
    reason: Text = NonBlank


class ExtensionDecisionIn(_Body):
    approve: bool
    note: Text = Field(default="", max_length=4000)


class CohandlerIn(_Body):
    """吹哨报到: call in a partner organisation's user or a staff member by username."""

    username: Text = Field(min_length=1, max_length=64)
    task: Text = NonBlank
    due: AwareDatetime | None = None


class CohandlerDoneIn(_Body):
    note: Text = Field(default="", max_length=4000)
