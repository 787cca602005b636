-- Job types as managed objects: integer ids, revisions, archive (store/catalog.py).

-- name: ident_ensure
INSERT INTO ident (kind, key) VALUES (:kind, :key) ON CONFLICT (kind, key) DO NOTHING;

-- name: ident_of
SELECT id, key FROM ident WHERE kind = :kind AND key IN (SELECT value FROM json_each(:keys));

-- name: ident_key
SELECT key FROM ident WHERE kind = :kind AND id = :id;

-- name: type_rev_list
SELECT r.name, r.revision, r.definition, r.created_at, i.id
  FROM job_type_rev r
  LEFT JOIN ident i ON i.kind = 'job_type_rev' AND i.key = r.name || '#' || r.revision
 WHERE r.name = :name
 ORDER BY r.revision;

-- name: type_set_archived
-- archive (:archived = 1) or bring back; says nothing when it already was so
UPDATE job_type
   SET archived_at = CASE WHEN :archived THEN :now END,
       archived_by = CASE WHEN :archived THEN :by END
 WHERE name = :name AND (archived_at IS NULL) = (:archived = 1);
