"""Reporting: read models for people.

Duty reports per person (`reports`), the managers' dashboard (`dashboard`) and the org
chart with each department's duties and overlaps (`org_queries`). Writes nothing. May
import every other area.
"""
