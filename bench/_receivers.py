"""Local receivers for bench/notifications.py, in a process of their own so that their
work never runs in the measuring process: a webhook and a DingTalk robot endpoint that
check every signature, and an SMTP server. Prints their URLs as one JSON line, then, when
a line arrives on stdin, what they received as one JSON line, and exits."""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.notify.receivers import HttpReceiver, SmtpReceiver  # noqa: E402
from tests.notify.support import ROBOT_SECRET, WEBHOOK_SECRET  # noqa: E402


def main() -> None:
    webhook, robot = HttpReceiver(WEBHOOK_SECRET), HttpReceiver(ROBOT_SECRET, robot=True)
    smtp = SmtpReceiver()
    print(json.dumps({"webhook": webhook.url, "robot": robot.url, "smtp": smtp.url}), flush=True)
    sys.stdin.readline()
    received = webhook.received + robot.received
    print(json.dumps({"webhook": len(webhook.received), "robot": len(robot.received),
                      "emails": len(smtp.messages),
                      "signatures_ok": all(item.signature_ok for item in received),
                      "duplicates": len(webhook.deliveries()) - len(set(webhook.deliveries()))}),
          flush=True)
    webhook.close(), robot.close(), smtp.close()


if __name__ == "__main__":
    main()
