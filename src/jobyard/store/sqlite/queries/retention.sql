-- Retention of finished jobs (store/retention.py).

-- name: history_prune_pick
-- finished before the cutoff, oldest first (the finished_at index); a recipe's job only when
-- every job of its recipe is in history and finished before the cutoff
SELECT h.id, rj.recipe_id
  FROM job_history h
  LEFT JOIN recipe_job rj ON rj.job_id = h.id
 WHERE h.finished_at < :before
   AND NOT EXISTS (
       SELECT 1 FROM recipe_job sibling
         LEFT JOIN job_history sh ON sh.id = sibling.job_id
        WHERE sibling.recipe_id = rj.recipe_id
          AND (sh.id IS NULL OR sh.finished_at >= :before))
 ORDER BY h.finished_at
 LIMIT :limit;

-- name: history_prune_events
DELETE FROM event WHERE job_id IN (SELECT value FROM json_each(:ids));

-- name: history_prune_executions
DELETE FROM execution WHERE job_id IN (SELECT value FROM json_each(:ids));

-- name: history_prune_dependencies
DELETE FROM job_dependency
 WHERE child_id IN (SELECT value FROM json_each(:ids))
    OR parent_id IN (SELECT value FROM json_each(:ids));

-- name: history_prune_recipe_jobs
DELETE FROM recipe_job WHERE job_id IN (SELECT value FROM json_each(:ids));

-- name: history_prune_empty_recipes
-- after its jobs' rows went: a recipe left with none (a batch may end inside a recipe)
DELETE FROM recipe
 WHERE id IN (SELECT value FROM json_each(:recipes))
   AND NOT EXISTS (SELECT 1 FROM recipe_job rj WHERE rj.recipe_id = recipe.id);

-- name: history_prune_jobs
DELETE FROM job_history WHERE id IN (SELECT value FROM json_each(:ids));
