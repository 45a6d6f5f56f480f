"""DutyFlow's use cases: persistence, transactions and authorization around the engine.

One subpackage per business area. Each may import only the areas listed before it
(and `engine`, `payroll`, `services.errors`, `services.settings`), never one after it:

- `persistence`: the schema (models, migrations), units of work, and the SQL statements
  that need more than the ORM (step statements, bulk writes, backups, idempotency keys).
- `identity`: who is asking (`Actor`), sign-in, passwords, credentials, the access rules
  on tasks and reports, and the audit trail of who changed what.
- `org`: departments and employees: the directory that routes lanes to departments, the
  org file import, the roster of a past month.
- `workflow`: deployed definitions, process instances and their steps (run in sandbox
  workers), task handling, corrections, who may start a process, the timer worker.
- `pay`: KPI schemes and measures, payroll runs, payslips, exports.
- `reporting`: read models for people: duty reports, the dashboard, the org chart's duties.

`services.demo` sits above them all: it loads the demo through their use cases.
"""
