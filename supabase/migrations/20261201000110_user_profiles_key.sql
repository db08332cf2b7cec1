-- ProfileFunctions: the key of public.user_profiles, for a table from before that has none (the original setup's has
-- one, and so does a new table: then this does nothing). One row per user is what every path's ON CONFLICT relies
-- on. Built concurrently, so signups go on writing while it is built: supabase db push runs this statement outside a
-- transaction; with psql, run this file without --single-transaction. …_user_profiles.sql refuses duplicates
-- first; …_user_profiles_backfill.sql makes the index the primary key.
create unique index concurrently if not exists user_profiles_pkey on public.user_profiles (user_id);
