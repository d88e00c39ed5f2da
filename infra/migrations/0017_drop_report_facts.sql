-- The report_facts read model is retired: every read now comes from the typed
-- rm_* tables of the read_models projection (migration 0013), and nothing reads
-- report_facts any more. The worker no longer keeps it, so its table, the
-- sequence numbering its changes (0003), its checkpoint and its holds go; a
-- holds row left behind would keep /health/ready degraded for a projection
-- that no longer exists. projection_skips names no projection (a skip holds
-- for every read model), so it stays as it is.

DELETE FROM projection_holds WHERE name IN ('report_facts', 'report_facts@rebuild');
DELETE FROM projection_checkpoints WHERE name = 'report_facts';

-- What a rebuild of report_facts killed mid-way may have left (projections/rebuild.py).
DROP SCHEMA IF EXISTS rebuild_report_facts CASCADE;
DROP SCHEMA IF EXISTS rebuild_report_facts_retired CASCADE;

-- The table first: its column default uses the sequence.
DROP TABLE report_facts;
DROP SEQUENCE report_facts_changes;
