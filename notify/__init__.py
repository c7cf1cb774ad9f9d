"""Notifications from the event log: who is told what, over the inbox, SMS and webhooks.

The notifier (:mod:`notify.notifier`) follows the event store's notification log with a
tracked position, as the projections do, and writes each event's messages in the same
transaction as its position: inbox messages are delivered there and then, SMS and webhook
messages wait in the outbox (:mod:`notify.tables`). The sender (:mod:`notify.sender`)
delivers the outbox with retries and back-off, records every attempt, and gives a message
up (``dead``) after ``CLOSELOOP_DELIVERY_GIVE_UP_HOURS``. Channels implement
:class:`notify.outbox.Channel`.
"""
