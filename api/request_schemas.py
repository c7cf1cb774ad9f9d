"""Bodies of the request endpoints: intake, handler actions, the review, and their replies.

Every text field is :data:`api.text.Text` (or carries :data:`api.text.NO_CONTROL`): text
with control characters is refused before anything is sent to a workflow.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.text import NO_CONTROL, Text
from domain.categories import CATEGORIES
from domain.ladder import Tier
from domain.review import Answer, Review

Channel = Annotated[Literal["app", "hotline", "visit", "walk_in"], NO_CONTROL]

NonBlank = Field(min_length=1, max_length=4000)
MaybeAnswer = Annotated[Answer | None, NO_CONTROL]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Resident(_Body):
    name: Text = Field(min_length=1, max_length=100)
    phone: Text = Field(min_length=3, max_length=32, pattern=r"^[0-9+\-() ]+$")


class RequestIn(_Body):
    """A resident's request (诉求) as filed."""

    grid_id: Text = Field(min_length=1)
    category: Text
    description: Text = NonBlank
    channel: Channel
    resident: Resident
    tier: Annotated[Tier | None, NO_CONTROL] = None

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str) -> str:
        if value not in CATEGORIES:
            raise ValueError("unknown category; one of: " + ", ".join(CATEGORIES))
        return value


class ProgressIn(_Body):
    note: Text = NonBlank


class EscalateIn(_Body):
    reason: Text = NonBlank


class ResolveIn(_Body):
    resolution: Text = NonBlank


class ReviewIn(_Body):
    """The four-dimension review (四个维度跟踪回访); the dimensions are needed when reached."""

    reached: bool
    completion: MaybeAnswer = None
    progress: MaybeAnswer = None
    effect: MaybeAnswer = None
    satisfaction: MaybeAnswer = None
    comment: Text = Field(default="", max_length=4000)

    @model_validator(mode="after")
    def _answers_when_reached(self) -> ReviewIn:
        # The domain's Review says what a complete review is; its ValueError becomes a 422.
        Review(
            reached=self.reached,
            completion=self.completion,
            progress=self.progress,
            effect=self.effect,
            satisfaction=self.satisfaction,
        )
        return self
