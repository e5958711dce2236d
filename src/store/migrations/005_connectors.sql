-- Placeholder on the ledger branch: version 5 belongs to the connectors work (the migration
-- list must run 1..N without gaps). When the branches merge, the connectors' file replaces
-- this one.
SELECT 1;
