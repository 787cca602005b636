-- Recipes and schedules (issue 5). The same tables and columns as the SQLite schema.

-- recipe types: the current definition, and every revision ever stored (as job types)
CREATE TABLE recipe_type (
    name        text COLLATE "C" PRIMARY KEY,
    revision    integer NOT NULL,
    definition  jsonb NOT NULL,
    created_at  double precision NOT NULL
);

CREATE TABLE recipe_type_rev (
    name        text COLLATE "C" NOT NULL,
    revision    integer NOT NULL,
    definition  jsonb NOT NULL,
    created_at  double precision NOT NULL,
    PRIMARY KEY (name, revision)
);

-- a recipe: a graph of jobs made together from one revision of a recipe type. Its status is
-- read from its jobs' states; canceled_at says a person canceled it as a whole.
CREATE TABLE recipe (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type           text COLLATE "C" NOT NULL,
    type_revision  integer NOT NULL,
    inputs         jsonb NOT NULL,
    created_at     double precision NOT NULL,
    created_by     text,
    canceled_at    double precision,
    canceled_by    text
);
CREATE INDEX recipe_by_type ON recipe (type, id);

-- each job of a recipe: its name in the definition, and its arguments before any parent's
-- outputs are mapped in (so a release after a requeue builds them again the same way)
CREATE TABLE recipe_job (
    job_id     bigint PRIMARY KEY,
    recipe_id  bigint NOT NULL,
    name       text COLLATE "C" NOT NULL,
    args       jsonb NOT NULL
);
CREATE UNIQUE INDEX recipe_job_name ON recipe_job (recipe_id, name);

-- parent -> child edges of recipe jobs, with the parent's outputs each child takes. Finishing a
-- job probes the primary key by parent_id: a job with no children pays one index lookup.
CREATE TABLE job_dependency (
    parent_id    bigint NOT NULL,
    child_id     bigint NOT NULL,
    connections  jsonb NOT NULL,
    PRIMARY KEY (parent_id, child_id)
);
CREATE INDEX job_dependency_child ON job_dependency (child_id, parent_id);

-- schedules: cron in a time zone -> a job type with fixed args. revision counts edits; the
-- engine's plans name the revision they were made on, so an edit voids a plan in flight.
CREATE TABLE schedule (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text COLLATE "C" NOT NULL UNIQUE,
    cron          text NOT NULL,
    timezone      text NOT NULL,
    type          text COLLATE "C" NOT NULL,
    args          jsonb NOT NULL,
    queue         text COLLATE "C",
    priority      integer,
    enabled       boolean NOT NULL,
    catch_up      text NOT NULL CHECK (catch_up IN ('skip', 'once')),
    description   text NOT NULL,
    revision      integer NOT NULL,
    next_fire_at  double precision,
    last_fire_at  double precision,
    created_at    double precision NOT NULL,
    updated_at    double precision NOT NULL,
    created_by    text
);
CREATE INDEX schedule_due ON schedule (next_fire_at) WHERE enabled;

-- every tick a schedule acted on. The primary key is what makes "one job per tick" true with
-- any number of engines: the run row and its job are inserted in one transaction, and a second
-- engine's insert of the same tick does nothing (ON CONFLICT DO NOTHING), so it makes no job;
-- one that is not committed yet makes the second wait, then do nothing.
CREATE TABLE schedule_run (
    schedule_id  bigint NOT NULL,
    fire_at      double precision NOT NULL,
    recorded_at  double precision NOT NULL,
    job_id       bigint,
    missed       integer NOT NULL DEFAULT 0,
    error        text,
    PRIMARY KEY (schedule_id, fire_at)
);
CREATE INDEX schedule_run_recorded ON schedule_run (recorded_at);
