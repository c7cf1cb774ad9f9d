"""The four-dimension review (四个维度跟踪回访) and what it decides."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

#: dimension -> (Chinese name, English question)
DIMENSIONS: dict[str, tuple[str, str]] = {
    "completion": ("完成是否到位", "Was the work done fully and properly?"),
    "progress": ("推进是否有力", "Was it pushed forward firmly, without dragging?"),
    "effect": ("成效是否明显", "Is the result visible?"),
    "satisfaction": ("群众是否满意", "Is the resident satisfied?"),
}

#: Unreached follow-up calls after which a request closes as unreachable.
MAX_UNREACHED_ATTEMPTS = 3


class Answer(StrEnum):
    YES = "yes"
    PARTLY = "partly"
    NO = "no"


class Outcome(StrEnum):
    """What a review does to the request."""

    CLOSED = "closed"  # every dimension yes or partly: the loop closes (闭环)
    REOPENED = "reopened"  # any dimension no: back to work at the resolving level
    ATTEMPT = "attempt"  # resident not reached; try again later
    UNREACHABLE = "unreachable"  # third unreached attempt: closed as unreachable


class IncompleteReview(ValueError):
    """A reached review that leaves dimensions unanswered; ``missing`` names them."""

    code = "review_incomplete"

    def __init__(self, missing: list[str]) -> None:
        super().__init__(
            "a reached review answers all four dimensions; missing: " + ", ".join(missing)
        )
        self.missing = missing


@dataclass(frozen=True)
class Review:
    reached: bool
    completion: Answer | None = None
    progress: Answer | None = None
    effect: Answer | None = None
    satisfaction: Answer | None = None
    comment: str = ""

    def __post_init__(self) -> None:
        if self.reached:
            missing = [d for d in DIMENSIONS if getattr(self, d) is None]
            if missing:
                raise IncompleteReview(missing)

    def answers(self) -> dict[str, Answer | None]:
        return {d: getattr(self, d) for d in DIMENSIONS}

    def outcome(self, unreached_before: int) -> Outcome:
        """Close, reopen, or count an unreached attempt."""
        if not self.reached:
            if unreached_before + 1 >= MAX_UNREACHED_ATTEMPTS:
                return Outcome.UNREACHABLE
            return Outcome.ATTEMPT
        if any(a is Answer.NO for a in self.answers().values()):
            return Outcome.REOPENED
        return Outcome.CLOSED


def is_satisfied(satisfaction: str | None) -> bool:
    """满意率 counts a reached review as satisfied when satisfaction is yes or partly."""
    return satisfaction in (Answer.YES, Answer.PARTLY)
