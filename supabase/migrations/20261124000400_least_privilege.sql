-- ProfileFunctions: least privilege on the profile table. Supabase's default privileges give the API roles ALL on
-- new tables in public, TRUNCATE, REFERENCES and TRIGGER included; the service role needs to read and write rows,
-- nothing more (TRUNCATE would bypass row-level security and every trigger that keeps ownership).
revoke all on public.user_profiles from service_role;
grant select, insert, update, delete on public.user_profiles to service_role;
