"""Campaigns: a message to a segment of members at a moment, delivered at Telegram's limit, with
its effect measured against a hold-out group.

- audience.py: who a campaign is for (tier, city, near a store, RFM segment, tags, last
  purchase, birthday month, an unused coupon), as SQL over members;
- rfm.py: recency / frequency / monetary scores from purchases and the segments named by them;
- messages.py: the merchant's text rendered for one member;
- service.py: creating, previewing, pausing, resuming and cancelling campaigns, and starting the
  ones whose time came (choosing recipients, the hold-out, each member's local send time);
- when.py: a send time as a staff member types it (an instant, or a local time in each member's
  zone), and the day of the month it falls on;
- launch.py: a campaign confirmed in a staff chat, created, started and followed one transaction
  at a time;
- report.py: what a campaign reached and what it changed (targeted vs hold-out).

The sender that drains the outbox lives with the bot (bot/broadcast/), because it speaks
Telegram; what it claims and records is db/repositories/campaign_outbox.py.
"""
