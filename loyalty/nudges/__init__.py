"""Nudges: timed, personalised messages the scheduler owes members (points about to expire,
a coupon's last days, birthdays and anniversaries, a tier at risk, a lapsed member asked back).

How one travels:
1. A sweep (sweeps.py), run by the scheduler, finds who is due with set-based SQL and writes one
   `notifications` row per nudge. Its `dedupe_key` is the nudge's natural key
   `<kind>:<member>:<subject>:<period>`, unique in the table, so a second sweep, a restart or two
   schedulers at once never owe the same nudge twice; `stale_after` says when it is no longer
   worth sending.
2. The bot process's sender (bot/notifier.py) claims the row, and delivery.py decides at that
   moment: send, hold back until later (`deliver_after`: quiet hours, the weekly cap), or drop
   (stale, the topic muted, the member unreachable). A crash between 1 and 2 loses nothing: the
   row waits in the outbox.
"""
