"""Payroll: weighted KPI schemes per department, computed from completion events.

This package holds the rules (schemes, metrics, scores, money) and the SQL that
aggregates events; it knows the events' table shape, never the workflow engine.
"""
