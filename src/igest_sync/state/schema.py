"""The ledger's schema: one script per version, applied in order under the write lock
(``state/database.py``'s ``migrate``).

A state file records its version in ``PRAGMA user_version``. A newer igest-sync migrates an older
file forward; an older one refuses a newer file (``Ledger`` says so) and leaves it untouched.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 6

_MIGRATIONS: dict[int, str] = {
    # version -> script that brings version-1 to version
    1: """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE orders (
        order_id INTEGER PRIMARY KEY,
        status TEXT NOT NULL,            -- Jumpseller status_enum when last seen
        created_at TEXT,
        paid_at TEXT,
        total TEXT,
        customer TEXT,
        email TEXT,
        note TEXT,                       -- why an order is skipped, when it is
        updated_at TEXT NOT NULL
    );
    CREATE INDEX orders_status ON orders(status);
    CREATE TABLE work (
        order_id INTEGER NOT NULL,
        kind TEXT NOT NULL,              -- invoice | credit
        state TEXT NOT NULL,             -- pending requested draft finalizing final failed
        phase TEXT,                      -- furthest step that may have reached iGEST
        external_reference TEXT NOT NULL,
        document_id TEXT,
        error TEXT,
        transient INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (order_id, kind)
    );
    CREATE INDEX work_state ON work(state);
    CREATE TABLE documents (
        document_id TEXT PRIMARY KEY,
        order_id INTEGER NOT NULL,
        kind TEXT NOT NULL,              -- invoice | credit
        type TEXT NOT NULL,
        number TEXT,
        atcud TEXT,
        date TEXT,
        customer TEXT,
        gross_total TEXT NOT NULL,
        status TEXT NOT NULL,
        pdf_url TEXT,
        issued_at TEXT NOT NULL,
        adopted INTEGER NOT NULL DEFAULT 0,  -- found in iGEST, not issued by this ledger
        linked INTEGER NOT NULL DEFAULT 0,   -- attached to the Jumpseller order
        link_error TEXT,
        link_attempts INTEGER NOT NULL DEFAULT 0,
        emailed INTEGER NOT NULL DEFAULT 0,  -- 0 not yet, 1 sent, -1 not to be sent
        email_error TEXT
    );
    CREATE INDEX documents_order ON documents(order_id);
    CREATE INDEX documents_issued ON documents(issued_at);
    """,
    # 2: several credit notes per order (partial credits: `seq` 1 is the first, whose external
    # reference keeps the old form `...:credit`, then `...:credit:2` ...), the request a partial
    # credit was made for, and when a person was last told that a piece of work failed (cron
    # prints a failure once, then as a reminder at most every `remind_failed_hours`).
    2: """
    ALTER TABLE work RENAME TO work_v1;
    CREATE TABLE work (
        order_id INTEGER NOT NULL,
        kind TEXT NOT NULL,              -- invoice | credit
        seq INTEGER NOT NULL DEFAULT 1,  -- the n-th credit note of the order (1 for invoices)
        state TEXT NOT NULL,             -- pending requested draft finalizing final failed
        phase TEXT,                      -- furthest step that may have reached iGEST
        external_reference TEXT NOT NULL,
        document_id TEXT,
        error TEXT,
        transient INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL,
        request TEXT,                    -- a partial credit's request (JSON), else NULL
        reported_at TEXT,                -- when this failure was last printed for a person
        PRIMARY KEY (order_id, kind, seq)
    );
    INSERT INTO work(order_id, kind, seq, state, phase, external_reference, document_id, error,
                     transient, attempts, updated_at)
        SELECT order_id, kind, 1, state, phase, external_reference, document_id, error,
               transient, attempts, updated_at FROM work_v1;
    DROP TABLE work_v1;
    CREATE INDEX work_state ON work(state);
    CREATE UNIQUE INDEX work_reference ON work(external_reference);
    """,
    # 3: VIES checks of customers' EU VAT numbers: one number is asked at most once a day
    # (a clear answer is kept for the day), and the consultation number VIES gave is the
    # evidence of an exempt intra-EU supply.
    3: """
    CREATE TABLE vies_checks (
        country TEXT NOT NULL,           -- as VIES spells it (EL for Greece)
        number TEXT NOT NULL,            -- without the country prefix
        checked_on TEXT NOT NULL,        -- the Lisbon day of the check
        status TEXT NOT NULL,            -- valid | invalid | unavailable
        consultation TEXT,               -- VIES requestIdentifier
        detail TEXT,                     -- error code when unavailable
        checked_at TEXT NOT NULL,
        PRIMARY KEY (country, number, checked_on)
    );
    """,
    # 4: credit notes exactly once per request. A credit's reference now carries its request's
    # key (``...:credit:r<key>``); ``answered_at`` is when the person who asked for it was told
    # its outcome (a repeated ``credit --again`` finishes an unanswered one instead of issuing
    # another). Older rows keep their numbered references and are read as such.
    4: """
    ALTER TABLE work ADD COLUMN answered_at TEXT;
    """,
    # 5: the webhook inbox of `serve` (state/inbox.py): verified deliveries not yet worked on.
    # Only what a delivery is about is kept, never its body; a row is deleted once the order's
    # outcome is recorded, or postponed (not_before) when working on it failed first.
    5: """
    CREATE TABLE inbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        subject TEXT NOT NULL,           -- order | product
        subject_id INTEGER NOT NULL,     -- the Jumpseller order (or product) id
        event TEXT NOT NULL,             -- Jumpseller-Event, e.g. order_paid
        triggered_at TEXT,               -- Jumpseller-Triggered-At, as sent
        received_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        not_before TEXT                  -- postponed until then (NULL: due now)
    );
    CREATE INDEX inbox_subject ON inbox(subject, subject_id);
    """,
    # 6: alerts: one row per event and channel, recorded before it is sent and marked sent
    # after, so that a channel that failed is retried by a later run and nothing goes twice.
    # ``base_key`` is what the event is about (order + kind + reason); ``event_key`` adds the
    # occurrence (a reminder is a new event of the same base key).
    6: """
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        event_key TEXT NOT NULL,
        base_key TEXT NOT NULL,
        channel TEXT NOT NULL,           -- email | webhook
        kind TEXT NOT NULL,              -- failed | notice | late | run | unreachable | digest
        payload TEXT NOT NULL,           -- the event (JSON), as it will be written
        created_at TEXT NOT NULL,
        sent_at TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        UNIQUE (event_key, channel)
    );
    CREATE INDEX alerts_unsent ON alerts(channel, sent_at);
    CREATE INDEX alerts_base ON alerts(base_key, created_at);
    """,
}


def statements(version: int) -> list[str]:
    """The statements that bring a file at ``version - 1`` to ``version`` (sqlite3 runs one per
    execute)."""
    statements, current = [], ""
    for line in _MIGRATIONS[version].splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return [s for s in statements if s.strip(" ;\n")]
