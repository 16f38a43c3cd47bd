"""The daily digest: schedule, exactly-once claim, figures, text and chart."""

from __future__ import annotations

from bot.digest.chart import PNG_SIGNATURE, TOTAL_GID, render_spend_chart, spend_figure
from bot.digest.claim import skip_ended_days
from bot.digest.report import DigestReport, build_report
from bot.digest.schedule import JOB_ID, post_digest, run_due_digests, schedule_digests
from bot.digest.text import change, render_text

__all__ = [
    "JOB_ID",
    "PNG_SIGNATURE",
    "TOTAL_GID",
    "DigestReport",
    "build_report",
    "change",
    "post_digest",
    "render_spend_chart",
    "render_text",
    "run_due_digests",
    "schedule_digests",
    "skip_ended_days",
    "spend_figure",
]
