-- Applications, services and where workers run (the process table's cluster and image).

-- an App that registered job types; guid is uuid5 of the name, stable across databases
CREATE TABLE app (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    guid        TEXT NOT NULL UNIQUE,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);

-- which app registered each job type (the latest one to register it); service: 1 for the type
-- of a service's instances
CREATE TABLE app_type (
    type     TEXT PRIMARY KEY,
    app      TEXT NOT NULL,
    service  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX app_type_app ON app_type (app, type);

-- where a worker runs, as it advertised it (jobyard worker --cluster --image)
ALTER TABLE worker ADD COLUMN cluster TEXT;
ALTER TABLE worker ADD COLUMN image TEXT;

-- A service: its definition (JSON), what people asked for (desired, action) and what the
-- engine's service duty reports (the rest). People write desired/action_seq; only the duty
-- writes the reported columns, so neither overwrites the other.
CREATE TABLE service (
    name            TEXT PRIMARY KEY,
    app             TEXT,
    definition      TEXT NOT NULL,
    desired         TEXT NOT NULL,               -- start | stop
    desired_at      REAL NOT NULL,
    desired_by      TEXT,
    action          TEXT,                        -- restart | reload, the latest one asked for
    action_seq      INTEGER NOT NULL DEFAULT 0,  -- +1 per request
    done_seq        INTEGER NOT NULL DEFAULT 0,  -- the last request the duty carried out
    status          TEXT NOT NULL DEFAULT 'stop',
    sub             TEXT NOT NULL DEFAULT 'ok',
    schedule        TEXT NOT NULL DEFAULT 'waiting',
    running_action  TEXT,
    t0              REAL,                        -- start of the last action
    t1              REAL,                        -- end of the last action
    failures        INTEGER NOT NULL DEFAULT 0,
    restarts        INTEGER NOT NULL DEFAULT 0,
    next_start_at   REAL,
    waiting_for     TEXT NOT NULL DEFAULT '[]',
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL
);

-- One row per instance slot: the job that fills it now or filled it last. handled: the end of
-- that job was accounted for (restart policy, counters), so it is never counted twice.
CREATE TABLE service_slot (
    service  TEXT NOT NULL,
    slot     INTEGER NOT NULL,
    job_id   INTEGER,
    handled  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (service, slot)
);

-- executions of service instances whose readiness check passed (written by their worker)
CREATE TABLE service_ready (
    execution_id  INTEGER PRIMARY KEY,
    at            REAL NOT NULL
);

-- signals the duty asks a worker to send to an instance (reload), until delivered
CREATE TABLE service_signal (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id  INTEGER NOT NULL,
    signal        TEXT NOT NULL,
    requested_at  REAL NOT NULL,
    delivered_at  REAL
);
CREATE INDEX service_signal_pending ON service_signal (execution_id) WHERE delivered_at IS NULL;

-- the engine's messages (kind 'message': an action ended) and updates feed (kind 'update': a
-- service changed schedule or status), each with the counters as they were then
CREATE TABLE service_message (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    at                  REAL NOT NULL,
    kind                TEXT NOT NULL,
    service             TEXT NOT NULL,
    action              TEXT NOT NULL,
    sub                 TEXT NOT NULL,
    msg                 TEXT NOT NULL,
    ok_counter          INTEGER NOT NULL,
    err_counter         INTEGER NOT NULL,
    forked_counter      INTEGER NOT NULL,
    startup_percentage  INTEGER NOT NULL
);
CREATE INDEX service_message_kind ON service_message (kind, id);
CREATE INDEX service_message_at ON service_message (at);
