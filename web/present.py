"""From read-model dicts to what the pages show: names, times, urgency, timeline lines.

Times are shown in China Standard Time (UTC+8, no daylight saving), where the grids are;
the board's dates (its period) are CST dates too. Countdowns and urgency colours are
computed here for the first paint and again every second by the page script from the
same ``data-`` attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import Engine

from api import roster
from api.roster import Unit
from domain.ladder import Level, UnitKind
from domain.lifecycle import Status
from web.i18n import Translator

#: Where the grids are: China Standard Time.
CST = timezone(timedelta(hours=8), "CST")

#: Past this share of its tier's time a request turns yellow.
WARN_SHARE = 0.75

OPEN = (Status.ASSIGNED.value, Status.IN_PROGRESS.value)


def parse(at: str | datetime) -> datetime:
    value = at if isinstance(at, datetime) else datetime.fromisoformat(at)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def local(at: str | datetime | None) -> str:
    """``2025-11-22 14:05`` in CST."""
    if at is None:
        return ""
    return parse(at).astimezone(CST).strftime("%Y-%m-%d %H:%M")


def local_seconds(at: str | datetime | None) -> str:
    if at is None:
        return ""
    return parse(at).astimezone(CST).strftime("%Y-%m-%d %H:%M:%S")


def today() -> date:
    return datetime.now(CST).date()


def day_start(day: date) -> datetime:
    """Midnight of ``day`` in CST."""
    return datetime.combine(day, time.min, CST)


def urgency(
    start: str | datetime, deadline: str | datetime, overdue: bool, now: datetime | None = None
) -> str:
    """``ok`` (green), ``warn`` (yellow: past 75% of the tier's time) or ``late`` (red:
    overdue) for an open request whose current deadline window is ``[start, deadline]``."""
    now = now or datetime.now(UTC)
    begin, end = parse(start), parse(deadline)
    if overdue or now >= end:
        return "late"
    total = (end - begin).total_seconds()
    if total <= 0:
        return "late"
    return "warn" if (now - begin).total_seconds() >= WARN_SHARE * total else "ok"


def duration_text(seconds: float, t: Translator) -> str:
    """A short duration: ``2天3小时`` / ``2d 3h``, ``5分12秒`` / ``5m 12s``."""
    s = max(0, int(seconds))
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        parts = [(days, "d"), (hours, "h")]
    elif hours:
        parts = [(hours, "h"), (minutes, "m")]
    elif minutes:
        parts = [(minutes, "m"), (secs, "s")]
    else:
        parts = [(secs, "s")]
    sep = "" if t.lang == "zh-CN" else " "
    return sep.join(f"{n}{t('time.' + unit)}" for n, unit in parts)


def time_left_text(deadline: str | datetime, t: Translator, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    left = (parse(deadline) - now).total_seconds()
    if left >= 0:
        return t("time.left", t=duration_text(left, t))
    return t("time.overdue", t=duration_text(-left, t))


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


@dataclass
class Directory:
    """The roster's units and users, read once per page."""

    engine: Engine
    units: dict[str, Unit] = field(default_factory=dict)
    _assigned: dict[tuple[str, str], list[dict[str, str]]] = field(default_factory=dict)
    _names: dict[str, str] | None = None

    @classmethod
    def load(cls, engine: Engine) -> Directory:
        return cls(engine, {u.id: u for u in roster.list_units(db=engine)})

    def name(self, unit_id: str | None) -> str:
        if unit_id is None:
            return ""
        unit = self.units.get(unit_id)
        return unit.name if unit else unit_id

    def of_kind(self, kind: UnitKind) -> list[Unit]:
        return [u for u in self.units.values() if u.kind is kind]

    def tree(self) -> list[tuple[Unit, int]]:
        """Every unit with its depth, towns first and each followed by what lies under it."""
        children: dict[str | None, list[Unit]] = {}
        for unit in self.units.values():
            children.setdefault(unit.parent_id, []).append(unit)
        ordered: list[tuple[Unit, int]] = []

        def walk(parent: str | None, depth: int) -> None:
            for unit in children.get(parent, []):
                ordered.append((unit, depth))
                walk(unit.id, depth + 1)

        walk(None, 0)
        return ordered

    def grids_by_community(self) -> list[tuple[Unit, list[Unit]]]:
        """Communities with their grids, for the grid pickers."""
        result = []
        for community in self.of_kind(UnitKind.COMMUNITY):
            grids = [u for u in self.of_kind(UnitKind.GRID) if u.parent_id == community.id]
            if grids:
                result.append((community, grids))
        return result

    def assignees(self, unit_id: str, level: str) -> list[dict[str, str]]:
        key = (unit_id, level)
        if key not in self._assigned:
            self._assigned[key] = [
                {"username": u.username, "display_name": u.display_name}
                for u in roster.users_assigned(unit_id, Level(level), db=self.engine)
            ]
        return self._assigned[key]

    def display_name(self, username: str) -> str:
        if self._names is None:
            self._names = {u.username: u.display_name for u in roster.list_users(db=self.engine)}
        return self._names.get(username, username)


def row(
    item: dict[str, Any],
    directory: Directory,
    t: Translator,
    window_start: datetime | None,
    now: datetime,
) -> dict[str, Any]:
    """A request as a board row or a task card shows it."""
    # no deadline while it waits for dispatch: no countdown either
    is_open = item["status"] in OPEN and item["deadline"] is not None
    start = window_start or parse(item["created_at"])
    return {
        **item,
        "category_label": t.category(item["category"]),
        "grid_name": directory.name(item["grid_id"]),
        "community_name": directory.name(item["community_id"]),
        "level_label": t("level." + item["level"]),
        "tier_label": t("tier." + item["tier"]),
        "status_label": t("status." + item["status"]),
        "assignees": directory.assignees(item["level_unit_id"], item["level"]),
        "is_open": is_open,
        "window_start": start.isoformat(),
        "urgency": urgency(start, item["deadline"], item["overdue"], now) if is_open else "none",
        "time_left": time_left_text(item["deadline"], t, now) if is_open else "",
        "seconds_left": int((parse(item["deadline"]) - now).total_seconds()) if is_open else 0,
        "deadline_local": local(item["deadline"]),
        "created_local": local(item["created_at"]),
    }


def _tier_level(t: Translator, entry: dict[str, Any]) -> dict[str, str]:
    return {
        "tier": t("tier." + str(entry.get("tier"))),
        "level": t("level." + str(entry.get("level"))),
    }


def _operations_line(
    kind: str,
    entry: dict[str, Any],
    t: Translator,
    who: dict[str, str],
    places: dict[str, str],
) -> tuple[str, list[tuple[str, str]]] | None:
    """The title and details of a street-office operation's entry (dispatch, return,
    redirect, re-tier, warning, urging, extension, co-handlers, out of scope, appeal);
    None for the other entries. The resident's entries carry fewer fields (api.routes.
    track.PUBLIC_FIELDS): what is missing is left out."""
    details: list[tuple[str, str]] = []

    def say(label_key: str, field: str) -> None:
        if entry.get(field):
            details.append((t(label_key), str(entry[field])))

    if kind == "Dispatched":
        title = (
            t("event.dispatched", **_tier_level(t, entry))
            if entry.get("tier")
            else t("event.Dispatched")
        )
        if entry.get("grid_id") in places:
            details.append((t("event.grid"), places[entry["grid_id"]]))
        if entry.get("category"):
            details.append((t("event.category"), t.category(str(entry["category"]))))
        say("event.note", "note")
    elif kind == "Returned":
        title = t("event.Returned")
        say("event.reason", "reason")
    elif kind == "Redirected":
        title = t("event.Redirected")
        if entry.get("from_grid_id") in places and entry.get("grid_id") in places:
            moved = t("event.from_to", a=places[entry["from_grid_id"]], b=places[entry["grid_id"]])
            details.append((t("event.grid"), moved))
        say("event.reason", "reason")
    elif kind == "Retiered":
        if entry.get("from_tier"):
            title = t(
                "event.retiered_from",
                from_tier=t("tier." + str(entry["from_tier"])),
                **_tier_level(t, entry),
            )
        elif entry.get("tier"):
            title = t("event.retiered", **_tier_level(t, entry))
        else:
            title = t("event.Retiered")
        say("event.reason", "reason")
    elif kind == "Warned":
        share = entry.get("share")
        title = (
            t("event.warned", share=f"{float(share) * 100:.0f}%")
            if isinstance(share, int | float)
            else t("event.Warned")
        )
    elif kind == "Urged":
        title = t("event.Urged")
        say("event.note", "note")
    elif kind == "ExtensionAsked":
        title = t("event.extension_asked", until=local(entry.get("until")))
        say("event.reason", "reason")
    elif kind == "DeadlineExtended":
        title = t("event.deadline_extended", until=local(entry.get("until")))
        if entry.get("previous_deadline"):
            details.append((t("event.previous_deadline"), local(entry["previous_deadline"])))
        say("event.note", "note")
    elif kind == "ExtensionRefused":
        title = t("event.extension_refused", until=local(entry.get("until")))
        say("event.note", "note")
    elif kind == "CohandlerAdded":
        organisation = entry.get("organisation")
        username = entry.get("username")
        if organisation:
            title = t("event.cohandler_added_org", org=organisation)
        elif username:
            title = t("event.cohandler_added_who", who=who.get(str(username), str(username)))
        else:
            title = t("event.CohandlerAdded")
        if organisation and username:
            details.append((t("event.cohandler"), who.get(str(username), str(username))))
        say("event.task", "task")
        if entry.get("due"):
            details.append((t("event.due"), local(entry["due"])))
    elif kind == "CohandlerDone":
        title = t("event.CohandlerDone")
        say("event.note", "note")
    elif kind == "ClosedOutOfScope":
        title = t("event.ClosedOutOfScope")
        say("event.reason", "reason")
    elif kind == "Merged":
        # on the resident's page (no ``into``): joined with other reports
        title = t("event.Merged") if entry.get("into") else t("event.merged_public")
        if entry.get("into"):
            details.append((t("event.merged_into"), str(entry["into"])[:8]))
        say("event.reason", "reason")
    elif kind == "Unmerged":
        title = t("event.unmerged_auto") if entry.get("automatic") else t("event.Unmerged")
        say("event.reason", "reason")
    elif kind in ("DuplicateAttached", "DuplicateDetached"):
        title = t("event." + kind)
        if entry.get("request_id"):
            details.append((t("event.duplicate"), str(entry["request_id"])[:8]))
        say("event.reason", "reason")
    elif kind == "Appealed":
        title = (
            t("event.appealed", **_tier_level(t, entry))
            if entry.get("tier")
            else t("event.Appealed")
        )
        say("event.appeal_reason", "reason")
    else:
        return None
    if entry.get("extension_lapsed"):
        details.append(("", t("event.extension_lapsed")))
    return title, details


def timeline_lines(
    entries: list[dict[str, Any]],
    t: Translator,
    who: dict[str, str] | None = None,
    places: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Timeline entries as lines: a title, the time, who acted and the details.

    ``who`` names each actor (username -> display name) for staff pages; on the resident's
    page entries carry ``by`` (resident, staff, system) instead of an actor. ``places``
    names units (id -> name) for the entries that move a request between grids.
    """
    lines = []
    for entry in entries:
        kind = entry["type"]
        details: list[tuple[str, str]] = []
        title = t("event." + kind)
        operation = _operations_line(kind, entry, t, who or {}, places or {})
        if operation is not None:
            title, details = operation
        elif kind == "Escalated":
            key = "event.escalated_auto" if entry.get("automatic") else "event.escalated_manual"
            title = t(
                key,
                from_tier=t("tier." + str(entry.get("from_tier"))),
                tier=t("tier." + str(entry.get("tier"))),
                level=t("level." + str(entry.get("level"))),
            )
            if entry.get("reason") and not entry.get("automatic"):
                details.append((t("event.reason"), str(entry["reason"])))
        elif kind == "ProgressNoted" and entry.get("note"):
            if entry.get("assisting"):
                title = t("event.progress_assisting")
            details.append((t("event.note"), str(entry["note"])))
        elif kind == "Resolved":
            if entry.get("resolution"):
                details.append((t("event.resolution"), str(entry["resolution"])))
            if entry.get("on_time") is False:
                details.append(("", t("event.late")))
            if entry.get("primary") or entry.get("followed"):
                details.append(("", t("event.followed")))
        elif kind == "LocationCorrected":
            if entry.get("lat") is not None:
                details.append(
                    (t("place.title"), t("place.point", lat=entry["lat"], long=entry["long"]))
                )
            for part in ("address", "building"):
                if entry.get(f"{part}_changed"):
                    details.append(("", t(f"place.{part}_changed")))
            if entry.get("reason"):
                details.append((t("event.reason"), str(entry["reason"])))
        elif kind == "Reviewed":
            outcome = str(entry.get("outcome", ""))
            # the resident's own review (source "resident") is named as such
            label = t(
                "event.self_reviewed" if entry.get("source") == "resident" else "event.Reviewed"
            )
            title = f"{label}：{t('outcome.' + outcome)}"
            if t.lang != "zh-CN":
                title = f"{label}: {t('outcome.' + outcome)}"
            if entry.get("reached"):
                for dimension in ("completion", "progress", "effect", "satisfaction"):
                    answer = entry.get(dimension)
                    if answer:
                        details.append((t.question(dimension), t("answer." + str(answer))))
            if entry.get("comment"):
                details.append((t("event.comment"), str(entry["comment"])))
        if operation is None and entry.get("extension_lapsed"):
            details.append(("", t("event.extension_lapsed")))
        if "by" in entry:
            actor = t("by." + str(entry["by"]))
        elif entry.get("actor") == "system":
            actor = t("by.system")
        elif entry.get("actor") == "resident":
            actor = t("by.resident")
        else:
            actor = (who or {}).get(str(entry.get("actor")), str(entry.get("actor", "")))
        lines.append(
            {
                "type": kind,
                "title": title,
                "at": local_seconds(entry["at"]),
                "actor": actor,
                "details": details,
                "outcome": entry.get("outcome"),
            }
        )
    return lines
