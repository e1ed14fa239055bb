"""Signed webhooks (protocol section 5) through a transactional outbox.

* :mod:`quizd.webhooks.payloads`: the ``{type, timestamp, data}`` body of each event;
* :mod:`quizd.webhooks.outbox`: the ``webhook_outbox`` rows: written by the batch writer
  in the transaction of the event, claimed and settled by the sender;
* :mod:`quizd.webhooks.signing`: Standard Webhooks signatures;
* :mod:`quizd.webhooks.schedule`: when a failed delivery is tried again;
* :mod:`quizd.webhooks.sender`: the task that POSTs due rows with httpx on Trio.

A pending delivery lives only in the database, so a restart or a crash loses none, and
a claim with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) makes one node of a
cluster send each event.
"""
