-- Runs once, when the data volume is initialised: the extension behind the
-- slow-query view in docs/troubleshooting.md (the library is preloaded by the
-- compose command's shared_preload_libraries).
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
