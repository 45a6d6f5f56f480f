"""DutyFlow's Flask service and command line: thin adapters over services/."""
