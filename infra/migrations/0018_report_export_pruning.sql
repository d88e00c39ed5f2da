-- Stored exports are a cache: the body of every kept or released report, and
-- every report asked by its position, can be rendered again. The worker prunes
-- them (infra/export_jobs.py, prune_exports): past an age, and past a number
-- per programme, so that no client can fill the database with distinct files.
GRANT DELETE ON report_exports TO peoplelinks_worker;
