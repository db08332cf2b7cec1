-- Supabase stand-in, database level: the extensions schema, the `auth` schema as Supabase Auth's
-- migrations leave it today, and the default privileges Supabase gives `public`.
-- Run as `supabase_admin` in each new database, before the project's migrations.
\set ON_ERROR_STOP on

create schema if not exists extensions;
create extension if not exists pgcrypto with schema extensions;
create extension if not exists "uuid-ossp" with schema extensions;
grant usage on schema extensions to postgres, anon, authenticated, service_role;

-- public: Supabase grants the API roles everything by default; RLS is what protects rows.
grant usage, create on schema public to postgres;
grant usage on schema public to anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on sequences to anon, authenticated, service_role;
do $$ begin execute format('grant create, temporary on database %I to postgres', current_database()); end $$;

\ir auth.sql
\ir pg_net.sql
\ir vault.sql
