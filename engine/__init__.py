"""DutyFlow's workflow engine: a thin, safe adapter around SpiffWorkflow.

The engine parses and validates BPMN, runs instances, serializes their state and
evaluates expressions in a sandbox. It knows nothing of Flask or the database:
services hand it bytes and dictionaries and persist what it returns.
"""
