-- Run once by the postgis/postgis image when its volume is new (compose.yaml).
-- The image's POSTGRES_USER (relay_owner) owns the database and runs migrations; the API and
-- worker connect as relay_app, which owns nothing and gets only what migrations grant it.
CREATE ROLE relay_app LOGIN PASSWORD 'relay_app' NOSUPERUSER NOCREATEDB NOCREATEROLE;
GRANT CONNECT, TEMPORARY ON DATABASE relay TO relay_app;
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS intarray;
