"""Notifications: who is told what, through which channel, delivered at least once.

Owns the outbox (`outbox`: rows written in the transaction of the step that causes
them), the rule of who hears of what (`recipients`), people's channel choices
(`preferences`), the message texts in English and Chinese (`messages`), the channels
(`channels`: SMTP, signed webhooks, DingTalk robots), the delivery worker (`delivery`)
and the in-app list with its admin views (`inbox`). May import `persistence`,
`identity` and `org`; `workflow` and `pay` call it from their use cases.
"""
