"""Conversion attribution settings of the ads analytics: windows and report time, validated against the API's enums."""

from __future__ import annotations

import dataclasses

from pipelines import api_enums


@dataclasses.dataclass(frozen=True)
class Attribution:
    """Conversion attribution settings; they change the numbers, so they are part of every row's key."""

    click_window_days: int = 30
    engagement_window_days: int = 30
    view_window_days: int = 1
    conversion_report_time: str = "TIME_OF_AD_ACTION"

    def __post_init__(self) -> None:
        for name in ("click_window_days", "engagement_window_days", "view_window_days"):
            if getattr(self, name) not in api_enums.ATTRIBUTION_WINDOW_DAYS:
                raise ValueError(f"{name} must be one of {', '.join(map(str, api_enums.ATTRIBUTION_WINDOW_DAYS))} "
                                 f"(got {getattr(self, name)!r})")
        if self.conversion_report_time not in api_enums.CONVERSION_REPORT_TIMES:
            raise ValueError(f"conversion_report_time must be one of {', '.join(api_enums.CONVERSION_REPORT_TIMES)}")

    @property
    def label(self) -> str:
        """The split_value of ads rows: e.g. CLICK_30D|ENGAGEMENT_30D|VIEW_1D|TIME_OF_AD_ACTION."""
        return (f"CLICK_{self.click_window_days}D|ENGAGEMENT_{self.engagement_window_days}D|"
                f"VIEW_{self.view_window_days}D|{self.conversion_report_time}")

    @property
    def settle_days(self) -> int:
        """Days after which a date's conversions can no longer change."""
        return max(self.click_window_days, self.engagement_window_days, self.view_window_days)

    def params(self) -> dict:
        return {"click_window_days": self.click_window_days, "engagement_window_days": self.engagement_window_days,
                "view_window_days": self.view_window_days, "conversion_report_time": self.conversion_report_time}
