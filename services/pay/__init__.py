"""Pay: KPI schemes and measures, payroll runs, payslips and exports.

The arithmetic lives in the top-level `payroll` package; this one runs it against the
database. May import `persistence`, `identity`, `org`, `notify` and `workflow`.
"""
