"""The organisation: departments own duties, employees belong to departments.

Owns the directory that routes lane and group names to departments (`directory`), the
org file's format (`org_document`), its import (`org_file`) and the roster of a past month
(`roster`). May import `persistence` and `identity`.
"""
