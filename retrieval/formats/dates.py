"""Dates written in headings and front matter ("2024-03-03", "March 3, 2024", "3 Mar 2024"), as ISO."""

from __future__ import annotations

import datetime as dt
import re

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            "jan january",
            "feb february",
            "mar march",
            "apr april",
            "may",
            "jun june",
            "jul july",
            "aug august",
            "sep sept september",
            "oct october",
            "nov november",
            "dec december",
        ),
        start=1,
    )
    for name in names.split()
}
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_DATES = (
    re.compile(r"(?<!\d)(?P<year>\d{4})-(?P<mnum>\d{2})-(?P<day>\d{2})(?!\d)"),
    re.compile(rf"\b{_MONTH}\s+{_DAY},?\s+(?P<year>\d{{4}})\b", re.IGNORECASE),
    re.compile(rf"\b{_DAY}\s+{_MONTH},?\s+(?P<year>\d{{4}})\b", re.IGNORECASE),
)


def find_date(text: str) -> str | None:
    """The first real date written in `text` ("2024-03-03", "March 3, 2024", "3 Mar 2024") as ISO."""
    found: list[tuple[int, str]] = []
    for pattern in _DATES:
        for m in pattern.finditer(text):
            month = int(m["mnum"]) if "mnum" in m.groupdict() else _MONTHS[m["month"].lower()]
            try:
                found.append((m.start(), dt.date(int(m["year"]), month, int(m["day"])).isoformat()))
                break
            except ValueError:
                continue
    return min(found)[1] if found else None
