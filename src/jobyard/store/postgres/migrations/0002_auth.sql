-- users and API tokens

CREATE TABLE app_user (
    name           text COLLATE "C" PRIMARY KEY,
    role           text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    password_hash  text NOT NULL,
    created_at     double precision NOT NULL
);

-- only a SHA-256 of each token is kept; the token itself is shown once, when created
CREATE TABLE api_token (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash  text NOT NULL UNIQUE,
    user_name   text COLLATE "C" NOT NULL REFERENCES app_user (name) ON DELETE CASCADE,
    name        text NOT NULL,
    created_at  double precision NOT NULL,
    revoked_at  double precision
);
CREATE INDEX api_token_user ON api_token (user_name);
