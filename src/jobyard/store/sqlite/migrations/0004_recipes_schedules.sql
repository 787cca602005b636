-- Recipes and schedules (issue 5). Times are float epoch seconds; JSON is text.

-- recipe types: the current definition, and every revision ever stored (as job types)
CREATE TABLE recipe_type (
    name        TEXT PRIMARY KEY,
    revision    INTEGER NOT NULL,
    definition  TEXT NOT NULL,
    created_at  REAL NOT NULL
);

CREATE TABLE recipe_type_rev (
    name        TEXT NOT NULL,
    revision    INTEGER NOT NULL,
    definition  TEXT NOT NULL,
    created_at  REAL NOT NULL,
    PRIMARY KEY (name, revision)
);

-- a recipe: a graph of jobs made together from one revision of a recipe type. Its status is
-- read from its jobs' states; canceled_at says a person canceled it as a whole.
CREATE TABLE recipe (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    type           TEXT NOT NULL,
    type_revision  INTEGER NOT NULL,
    inputs         TEXT NOT NULL,
    created_at     REAL NOT NULL,
    created_by     TEXT,
    canceled_at    REAL,
    canceled_by    TEXT
);
CREATE INDEX recipe_by_type ON recipe (type, id);

-- each job of a recipe: its name in the definition, and its arguments before any parent's
-- outputs are mapped in (so a release after a requeue builds them again the same way)
CREATE TABLE recipe_job (
    job_id     INTEGER PRIMARY KEY,
    recipe_id  INTEGER NOT NULL,
    name       TEXT NOT NULL,
    args       TEXT NOT NULL
);
CREATE UNIQUE INDEX recipe_job_name ON recipe_job (recipe_id, name);

-- parent -> child edges of recipe jobs, with the parent's outputs each child takes. Finishing a
-- job probes the primary key by parent_id: a job with no children pays one index lookup.
CREATE TABLE job_dependency (
    parent_id    INTEGER NOT NULL,
    child_id     INTEGER NOT NULL,
    connections  TEXT NOT NULL,
    PRIMARY KEY (parent_id, child_id)
);
CREATE INDEX job_dependency_child ON job_dependency (child_id, parent_id);

-- schedules: cron in a time zone -> a job type with fixed args. revision counts edits; the
-- engine's plans name the revision they were made on, so an edit voids a plan in flight.
CREATE TABLE schedule (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL UNIQUE,
    cron          TEXT NOT NULL,
    timezone      TEXT NOT NULL,
    type          TEXT NOT NULL,
    args          TEXT NOT NULL,
    queue         TEXT,
    priority      INTEGER,
    enabled       INTEGER NOT NULL,
    catch_up      TEXT NOT NULL CHECK (catch_up IN ('skip', 'once')),
    description   TEXT NOT NULL,
    revision      INTEGER NOT NULL,
    next_fire_at  REAL,
    last_fire_at  REAL,
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL,
    created_by    TEXT
);
CREATE INDEX schedule_due ON schedule (next_fire_at) WHERE enabled = 1;

-- every tick a schedule acted on. The primary key is what makes "one job per tick" true with
-- any number of engines: the run row and its job are inserted in one transaction, and a second
-- engine's insert of the same tick does nothing (ON CONFLICT DO NOTHING), so it makes no job.
CREATE TABLE schedule_run (
    schedule_id  INTEGER NOT NULL,
    fire_at      REAL NOT NULL,
    recorded_at  REAL NOT NULL,
    job_id       INTEGER,
    missed       INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    PRIMARY KEY (schedule_id, fire_at)
);
CREATE INDEX schedule_run_recorded ON schedule_run (recorded_at);
