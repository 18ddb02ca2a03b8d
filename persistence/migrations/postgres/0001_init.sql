-- Users known to the server: a role once they connected, a last seen once
-- they went offline.
CREATE TABLE users (
    id            text PRIMARY KEY,
    role          text NOT NULL DEFAULT '',
    last_seen_ms  bigint NOT NULL DEFAULT 0,
    created_at_ms bigint NOT NULL
);

-- direct_key is set for two-member conversations only: its uniqueness makes
-- a pair always get the same conversation. last_seq is the seq of the newest
-- message; incrementing it (under the row lock) is how a message gets its seq.
CREATE TABLE conversations (
    id                 text PRIMARY KEY,
    direct_key         text UNIQUE,
    created_at_ms      bigint NOT NULL,
    last_seq           bigint NOT NULL DEFAULT 0,
    last_message_at_ms bigint
);

CREATE TABLE conversation_members (
    conversation_id text NOT NULL REFERENCES conversations (id),
    user_id         text NOT NULL,
    last_read_seq   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, user_id)
);

CREATE INDEX conversation_members_user_id ON conversation_members (user_id);

-- client_msg_id is NULL when the client gave none.
CREATE TABLE messages (
    conversation_id text NOT NULL REFERENCES conversations (id),
    seq             bigint NOT NULL,
    id              text NOT NULL UNIQUE,
    sender_id       text NOT NULL,
    client_msg_id   text,
    content         text NOT NULL,
    created_at_ms   bigint NOT NULL,
    PRIMARY KEY (conversation_id, seq),
    UNIQUE (sender_id, client_msg_id)
);
