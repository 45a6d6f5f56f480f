"""DutyFlow's use cases: persistence, transactions and authorization around the engine."""
