"""Bodies of the request endpoints: intake, handler actions, the review, and their replies."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.categories import CATEGORIES
from domain.ladder import Tier
from domain.review import Answer, Review

Channel = Literal["app", "hotline", "visit", "walk_in"]

NonBlank = Field(min_length=1, max_length=4000)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Resident(_Body):
    name: str = Field(min_length=1, max_length=100)
    phone: str = Field(min_length=3, max_length=32, pattern=r"^[0-9+\-() ]+$")


class RequestIn(_Body):
    """A resident's request (诉求) as filed."""

    grid_id: str = Field(min_length=1)
    category: str
    description: str = NonBlank
    channel: Channel
    resident: Resident
    tier: Tier | None = None

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str) -> str:
        if value not in CATEGORIES:
            raise ValueError("unknown category; one of: " + ", ".join(CATEGORIES))
        return value


class ProgressIn(_Body):
    note: str = NonBlank


class EscalateIn(_Body):
    reason: str = NonBlank


class ResolveIn(_Body):
    resolution: str = NonBlank


class ReviewIn(_Body):
    """The four-dimension review (四个维度跟踪回访); the dimensions are needed when reached."""

    reached: bool
    completion: Answer | None = None
    progress: Answer | None = None
    effect: Answer | None = None
    satisfaction: Answer | None = None
    comment: str = Field(default="", max_length=4000)

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
