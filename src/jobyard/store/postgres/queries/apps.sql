-- Applications and the process table (store/apps.py). sqlite/queries/apps.sql: same names.

-- name: app_insert
-- the first registration makes the app. No conflict target: the guid is unique too, and two
-- workers of a new app starting at once would otherwise collide on it rather than on the name
INSERT INTO app (name, guid, created_at, updated_at) VALUES (:name, :guid, :now, :now)
ON CONFLICT DO NOTHING;

-- name: app_touch
-- later registrations only touch it (its id and guid stay)
UPDATE app SET updated_at = :now WHERE name = :name
RETURNING id, name, guid, created_at, updated_at;

-- name: app_type_set
INSERT INTO app_type (type, app, service) VALUES (:type, :app, :service)
ON CONFLICT (type) DO UPDATE SET app = excluded.app, service = excluded.service;

-- name: app_list
SELECT id, name, guid, created_at, updated_at FROM app ORDER BY name;

-- name: app_by_name
SELECT id, name, guid, created_at, updated_at FROM app WHERE name = :name OR guid = :name;

-- name: app_types_all
SELECT type, app, service FROM app_type ORDER BY app, type;

-- name: app_types_of
SELECT type, app, service FROM app_type WHERE app = :app ORDER BY type;

-- name: worker_advertise
UPDATE worker SET cluster = :cluster, image = :image WHERE id = :id;

-- name: execution_job
SELECT id, job_id FROM execution WHERE id = :id;

-- name: execution_log_tail
-- the newest lines first (the caller reverses them); the job's index narrows the scan
SELECT id, job_id, at, kind, data FROM event
 WHERE job_id = :job_id AND kind = 'log'
   AND data->>'execution_id' = CAST(CAST(:execution_id AS bigint) AS text)
 ORDER BY id DESC LIMIT :limit;
