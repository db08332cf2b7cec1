-- ProfileFunctions: row-level security of public.user_profiles. A signed-in user reads their own profile and may
-- change their own display_name (column privileges, in …_user_profiles.sql, do the rest); only these policies apply:
-- older ones could grant more, so they go.
--
-- Policy statements only, in a transaction of their own. On hosted Supabase, supautils (supautils.policy_grants)
-- makes every CREATE, ALTER or DROP POLICY that postgres runs lock each auth table the setting lists (auth.users,
-- auth.sessions, … ACCESS EXCLUSIVE) until the transaction ends, whichever table the policy is on: signups and
-- sign-ins wait for it. So each lock is waited for briefly (lock_timeout), shorter than PostgreSQL's deadlock check:
-- a signup that holds auth.users while waiting for this table is never the one cancelled; this transaction lets go
-- of everything and tries again a little later. After its last try it fails: run it again.
set local lock_timeout = '100ms';

do $$
declare
  older record;
begin
  for attempt in 1 .. 100 loop
    begin
      for older in select pol.policyname from pg_catalog.pg_policies pol
                   where pol.schemaname = 'public' and pol.tablename = 'user_profiles'
                     and pol.policyname not in ('user_profiles_select_own', 'user_profiles_update_own_display_name')
      loop
        raise notice 'dropping policy % on public.user_profiles', older.policyname;
        execute pg_catalog.format('drop policy %I on public.user_profiles', older.policyname);
      end loop;

      drop policy if exists user_profiles_select_own on public.user_profiles;
      create policy user_profiles_select_own on public.user_profiles
        for select to authenticated
        using (user_id = (select auth.uid()));

      drop policy if exists user_profiles_update_own_display_name on public.user_profiles;
      create policy user_profiles_update_own_display_name on public.user_profiles
        for update to authenticated
        using (user_id = (select auth.uid()))
        with check (user_id = (select auth.uid()));
      return;
    exception when lock_not_available then
      -- The block's subtransaction is rolled back: every lock it took is released before the next try.
      perform pg_catalog.pg_sleep(0.05 + pg_catalog.random() * 0.1);
    end;
  end loop;
  raise exception 'the policies of public.user_profiles could not take their locks in time'
    using errcode = 'lock_not_available', hint = 'Run …_user_profiles_policies.sql again (supabase db push again).';
end $$;
