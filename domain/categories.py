"""Kinds of requests seen in the seeds and the tier each starts on by default."""

from __future__ import annotations

from domain.ladder import Tier

#: category -> (default tier, Chinese label, English label)
CATEGORIES: dict[str, tuple[Tier, str, str]] = {
    "water_leak": (Tier.D1, "漏水", "Water leak"),
    "utility_fault": (Tier.D1, "水电气暖故障", "Water, power, gas or heating fault"),
    "noise": (Tier.D1, "噪音扰民", "Noise"),
    "safety_hazard": (Tier.D1, "安全隐患", "Safety hazard"),
    "errand": (Tier.D1, "红色代办", "Done-for-you errand"),
    "elderly_care": (Tier.D3, "独居老人关爱", "Care for an elderly person"),
    "neighbour_dispute": (Tier.D3, "邻里纠纷", "Neighbour dispute"),
    "parking_charging": (Tier.D3, "停车与充电", "Parking and EV charging"),
    "pothole": (Tier.D3, "道路坑洼", "Pothole"),
    "water_main": (Tier.D5, "供水主管破裂", "Broken water main"),
    "wage_dispute": (Tier.D5, "欠薪纠纷", "Wage dispute"),
    "other": (Tier.D3, "其他", "Other"),
}


def default_tier(category: str) -> Tier:
    """The tier a category starts on; KeyError for an unknown category."""
    return CATEGORIES[category][0]
