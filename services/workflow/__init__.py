"""Workflow: deployed processes, running instances and the duties they create.

Owns deployment and the model cache (`definitions`), the steps that move instances in
sandbox workers (`instances`, `engine_steps`, `projection`), task handling (`tasks`),
corrections of recorded events, who may start a process (`participation`), the JSON
views of instances and tasks, and the timer worker. May import `persistence`,
`identity`, `org` and `notify` (a step writes its notifications in its own transaction).
"""
