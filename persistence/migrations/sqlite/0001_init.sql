-- Users known to the server: a role once they connected, a last seen once
-- they went offline.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    role          TEXT NOT NULL DEFAULT '',
    last_seen_ms  INTEGER NOT NULL DEFAULT 0,
    created_at_ms INTEGER NOT NULL
);

-- direct_key is set for two-member conversations only: its uniqueness makes
-- a pair always get the same conversation. last_seq is the seq of the newest
-- message; incrementing it is how a message gets its seq.
CREATE TABLE conversations (
    id                 TEXT PRIMARY KEY,
    direct_key         TEXT UNIQUE,
    created_at_ms      INTEGER NOT NULL,
    last_seq           INTEGER NOT NULL DEFAULT 0,
    last_message_at_ms INTEGER
);

CREATE TABLE conversation_members (
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    user_id         TEXT NOT NULL,
    last_read_seq   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, user_id)
) WITHOUT ROWID;

CREATE INDEX conversation_members_user_id ON conversation_members (user_id);

-- Clustered by (conversation_id, seq): history pages are range scans.
-- client_msg_id is NULL when the client gave none.
CREATE TABLE messages (
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    seq             INTEGER NOT NULL,
    id              TEXT NOT NULL UNIQUE,
    sender_id       TEXT NOT NULL,
    client_msg_id   TEXT,
    content         TEXT NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, seq),
    UNIQUE (sender_id, client_msg_id)
) WITHOUT ROWID;
