-- Schedules and the ticks they acted on (store/schedules.py). PostgreSQL's queries/schedules.sql
-- has the same names.

-- name: schedule_by_name
SELECT * FROM schedule WHERE name = :name;

-- name: schedule_by_name_lock
-- BEGIN IMMEDIATE already holds the write lock
SELECT * FROM schedule WHERE name = :name;

-- name: schedule_by_id
SELECT * FROM schedule WHERE id = :id;

-- name: schedule_list
SELECT * FROM schedule ORDER BY name;

-- name: schedule_insert
INSERT INTO schedule (name, cron, timezone, type, args, queue, priority, enabled, catch_up,
                      description, revision, next_fire_at, created_at, updated_at, created_by)
VALUES (:name, :cron, :timezone, :type, :args, :queue, :priority, :enabled, :catch_up,
        :description, 1, :next_fire_at, :now, :now, :created_by)
RETURNING id;

-- name: schedule_update
UPDATE schedule
   SET cron = :cron, timezone = :timezone, type = :type, args = :args, queue = :queue,
       priority = :priority, enabled = :enabled, catch_up = :catch_up,
       description = :description, revision = revision + 1, next_fire_at = :next_fire_at,
       updated_at = :now
 WHERE id = :id;

-- name: schedule_delete
DELETE FROM schedule WHERE id = :id;

-- name: schedule_runs_delete
DELETE FROM schedule_run WHERE schedule_id = :id;

-- name: schedule_next_fire
-- when the scheduler next has work (schedule_due index)
SELECT MIN(next_fire_at) AS at FROM schedule WHERE enabled = 1;

-- name: schedule_due
SELECT * FROM schedule
 WHERE enabled = 1 AND next_fire_at <= :now
 ORDER BY next_fire_at
 LIMIT :limit;

-- name: schedule_run_insert
-- the tick's row, only for the revision the engine planned on and only while enabled; a tick
-- already recorded inserts nothing (and returns no row), so its caller makes no job
INSERT INTO schedule_run (schedule_id, fire_at, recorded_at, missed)
SELECT id, :fire_at, :now, :missed FROM schedule
 WHERE id = :id AND revision = :revision AND enabled = 1
ON CONFLICT (schedule_id, fire_at) DO NOTHING
RETURNING schedule_id;

-- name: schedule_advance
-- the next tick moves forward only: an engine that planned on an older state changes nothing
UPDATE schedule SET next_fire_at = :next_fire_at, last_fire_at = :fire_at
 WHERE id = :id AND revision = :revision AND enabled = 1 AND next_fire_at <= :fire_at;

-- name: schedule_run_set_job
UPDATE schedule_run SET job_id = :job_id, error = :error
 WHERE schedule_id = :id AND fire_at = :fire_at;

-- name: schedule_runs
SELECT r.schedule_id, r.fire_at, r.recorded_at, r.job_id, r.missed, r.error,
       COALESCE(l.status, h.status) AS job_status
  FROM schedule_run r
  LEFT JOIN live_job l ON l.id = r.job_id
  LEFT JOIN job_history h ON h.id = r.job_id
 WHERE r.schedule_id = :id
 ORDER BY r.fire_at DESC
 LIMIT :limit;

-- name: schedule_run_prune
DELETE FROM schedule_run WHERE recorded_at < :before;
