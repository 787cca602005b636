-- Recipes: recipe types, recipes, their jobs and edges (store/recipes.py). PostgreSQL's
-- queries/recipes.sql has the same names. Lists are arrays there, with row locks (FOR UPDATE).

-- name: recipe_type_current
SELECT name, revision, definition, created_at FROM recipe_type WHERE name = :name;

-- name: recipe_type_list
SELECT name, revision, definition, created_at FROM recipe_type ORDER BY name;

-- name: recipe_type_store
INSERT INTO recipe_type (name, revision, definition, created_at)
VALUES (:name, :revision, CAST(:definition AS jsonb), :now)
ON CONFLICT (name) DO UPDATE
   SET revision = excluded.revision, definition = excluded.definition,
       created_at = excluded.created_at;

-- name: recipe_type_rev_insert
INSERT INTO recipe_type_rev (name, revision, definition, created_at)
VALUES (:name, :revision, CAST(:definition AS jsonb), :now);

-- name: recipe_type_rev_get
SELECT name, revision, definition, created_at FROM recipe_type_rev
 WHERE name = :name AND revision = :revision;

-- name: recipe_insert
INSERT INTO recipe (type, type_revision, inputs, created_at, created_by)
VALUES (:type, :type_revision, CAST(:inputs AS jsonb), :now, :created_by)
RETURNING id;

-- name: recipe_job_insert
INSERT INTO recipe_job (job_id, recipe_id, name, args)
VALUES (:job_id, :recipe_id, :name, CAST(:args AS jsonb));

-- name: recipe_dependency_insert
INSERT INTO job_dependency (parent_id, child_id, connections)
VALUES (:parent_id, :child_id, CAST(:connections AS jsonb));

-- name: recipe_get
SELECT id, type, type_revision, inputs, created_at, created_by, canceled_at, canceled_by
  FROM recipe WHERE id = :id;

-- name: recipe_jobs
-- the nodes of a recipe with their jobs' current states, parents first (ids increase along edges)
SELECT rj.job_id, rj.name, j.type, j.status, j.finished_at
  FROM recipe_job rj JOIN live_job j ON j.id = rj.job_id WHERE rj.recipe_id = :id
UNION ALL
SELECT rj.job_id, rj.name, h.type, h.status, h.finished_at
  FROM recipe_job rj JOIN job_history h ON h.id = rj.job_id WHERE rj.recipe_id = :id
ORDER BY job_id;

-- name: recipe_edges
SELECT d.parent_id, d.child_id, d.connections
  FROM recipe_job rj JOIN job_dependency d ON d.child_id = rj.job_id
 WHERE rj.recipe_id = :id
 ORDER BY d.child_id, d.parent_id;

-- name: recipe_of_job
SELECT rj.recipe_id, rj.name, r.type
  FROM recipe_job rj JOIN recipe r ON r.id = rj.recipe_id
 WHERE rj.job_id = :id;

-- name: recipe_job_parents
SELECT d.parent_id AS job_id, rj.name, COALESCE(l.status, h.status) AS status
  FROM job_dependency d
  JOIN recipe_job rj ON rj.job_id = d.parent_id
  LEFT JOIN live_job l ON l.id = d.parent_id
  LEFT JOIN job_history h ON h.id = d.parent_id
 WHERE d.child_id = :id
 ORDER BY d.parent_id;

-- name: recipe_job_children
SELECT d.child_id AS job_id, rj.name, COALESCE(l.status, h.status) AS status
  FROM job_dependency d
  JOIN recipe_job rj ON rj.job_id = d.child_id
  LEFT JOIN live_job l ON l.id = d.child_id
  LEFT JOIN job_history h ON h.id = d.child_id
 WHERE d.parent_id = :id
 ORDER BY d.child_id;

-- name: recipe_children
SELECT DISTINCT child_id FROM job_dependency
 WHERE parent_id = ANY(CAST(:ids AS bigint[]));

-- name: recipe_blocked_lock
-- locked in id order before their parents' states are read: a transaction completing another
-- parent of the same child waits here, and then reads this one's commit (see store/recipes.py)
SELECT id, queue FROM live_job
 WHERE id = ANY(CAST(:ids AS bigint[])) AND status = 'blocked'
 ORDER BY id
   FOR UPDATE;

-- name: recipe_parent_states
-- each parent of these children with its state; a parent still live has none here (NULL), and
-- only a completed one (in history) counts
SELECT d.child_id, d.parent_id, d.connections, h.status, h.result
  FROM job_dependency d LEFT JOIN job_history h ON h.id = d.parent_id
 WHERE d.child_id = ANY(CAST(:ids AS bigint[]))
 ORDER BY d.child_id, d.parent_id;

-- name: recipe_base_args
SELECT job_id, args FROM recipe_job WHERE job_id = ANY(CAST(:ids AS bigint[]));

-- name: recipe_release
-- blocked -> queued; run_at is when it became ready (an execution's queued_at)
UPDATE live_job SET status = 'queued', args = CAST(:args AS jsonb), run_at = :now,
       updated_at = :now
 WHERE id = :id AND status = 'blocked';

-- name: recipe_reblock
-- requeue of a job whose parents have not all completed: it waits for them again
UPDATE live_job SET status = 'blocked', updated_at = :now WHERE id = :id AND status = 'queued';

-- name: recipe_set_args
UPDATE live_job SET args = CAST(:args AS jsonb) WHERE id = :id;

-- name: recipe_live_lock
SELECT id, status, queue FROM live_job
 WHERE id IN (SELECT job_id FROM recipe_job WHERE recipe_id = :id)
 ORDER BY id
   FOR UPDATE;

-- name: recipe_failed_jobs
SELECT h.id FROM job_history h JOIN recipe_job rj ON rj.job_id = h.id
 WHERE rj.recipe_id = :id AND h.status IN ('failed', 'canceled')
 ORDER BY h.id;

-- name: recipe_set_canceled
UPDATE recipe SET canceled_at = :now, canceled_by = CAST(:by AS text) WHERE id = :id;

-- name: recipe_clear_canceled
UPDATE recipe SET canceled_at = NULL, canceled_by = NULL WHERE id = :id;
