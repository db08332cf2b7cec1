-- ProfileFunctions: checks the rows that exist against the foreign key that …_auth_users.sql added NOT VALID.
-- In a transaction of its own: it reads every profile, and holds only a ROW SHARE lock on auth.users, which no write
-- of the auth server waits for. Profiles of users that are gone (from before the key) are kept, not deleted:
-- `profilesync status` lists them and a replay removes them; the key stays NOT VALID until then (it still holds for
-- new rows, and deleting a user still removes their profile).
do $$
declare
  orphans bigint;
begin
  if exists (select 1 from pg_catalog.pg_constraint c
             where c.conrelid = 'public.user_profiles'::regclass and c.conname = 'user_profiles_user_id_fkey'
               and not c.convalidated) then
    select count(*) into orphans from profile_sync.orphaned_profiles;
    if orphans = 0 then
      alter table public.user_profiles validate constraint user_profiles_user_id_fkey;
    else
      raise warning '% profiles belong to no auth user; the foreign key stays NOT VALID until they are removed (profilesync replay)', orphans;
    end if;
  end if;
end $$;
