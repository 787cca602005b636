-- users and API tokens

CREATE TABLE app_user (
    name           TEXT PRIMARY KEY,
    role           TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    password_hash  TEXT NOT NULL,
    created_at     REAL NOT NULL
);

-- only a SHA-256 of each token is kept; the token itself is shown once, when created
CREATE TABLE api_token (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash  TEXT NOT NULL UNIQUE,
    user_name   TEXT NOT NULL REFERENCES app_user (name) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    created_at  REAL NOT NULL,
    revoked_at  REAL
);
CREATE INDEX api_token_user ON api_token (user_name);
