"""Identity: who is asking and what they may do.

Owns `Actor` (a plain value, in `actor`), sign-in and tokens (`auth`), password hashing
and credential versions, the access rules on tasks and reports (`access`) and the audit
trail (`audit`). May import `persistence`.
"""
