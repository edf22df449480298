"""The message's path, from a platform's callback to the reply it gets; nothing else lives here.

Stages, in order:
1. receive (receive.py): make a callback durable under its dedupe key and queue it (replay store, bound chats);
   one of three strategies per app, picked by bootstrap (the intake, RQ, in-process).
2. intake (intake.py): PostgreSQL + RQ: the callbacks a web process has in hand share one INSERT and one Redis trip.
3. dispatch (dispatch.py): the ids the intake pushed become processing jobs; the recovery sweep requeues lost ones.
4. process (process.py): one message, once (its pictures fetched first, media.py): speaker, router, replies
   written to the outbox in the same transaction; an unexpected error is logged with an id and the person told it.
5. delivery (delivery.py): each outbox row sent exactly once: claim, send, retry with backoff, sweep the stuck.

store.py holds the inbound row and its one INSERT, shared by every way of storing.
journal.py keeps a signed callback the database cannot take (down or stalled) in an fsync'd local file, so the
webhook still answers 200, and stores it with that INSERT once the database is back.
Writing replies to the outbox (services/outbox.py) stays a service: domain services write notices there too.

Each route's adapter (payload -> the neutral Inbound, gridbot/adapters):
- /wecom/callback (self-built app, XML): gridbot/adapters/wecom_app.py
- /wecom/aibot (AI bot, JSON): gridbot/adapters/wecom_aibot.py
- 微信客服: the app callback's kf_msg_or_event queues kf_sync.py, which reads kf/sync_msg (cursor committed with the
  messages) and decodes each item with gridbot/adapters/wecom_kf.py
- the console, `gridbot say`, the simulator build an Inbound themselves and call process.handle_now.
The web views (gridbot/web/webhook.py) are "adapter -> app.receiver.receive" and nothing else.
"""
