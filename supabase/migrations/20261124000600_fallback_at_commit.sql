-- ProfileFunctions: the fallback trigger converges at commit, once per user and transaction.
--
-- Supabase Auth's signup writes a user in several statements of one transaction (INSERT, then role, app and user
-- metadata, the confirmation token). Converging after each statement cost three convergences per signup. Deferred
-- to the commit, the first convergence of a user sees every write, and the user's other events have nothing left
-- to do. The profile still commits with the signup, atomically. Later statements of the signup's own transaction
-- no longer see it; a transaction that needs that can run `set constraints all immediate`.

-- What a profile follows of one auth.users row, as one value: equal values, equal profile inputs.
create or replace function profile_sync.profile_inputs(u auth.users)
returns text
language sql immutable
begin atomic
  select pg_catalog.md5(row(u.email, u.phone, u.raw_user_meta_data, u.raw_app_meta_data, u.email_confirmed_at,
                                       u.banned_until, u.deleted_at)::text);
end;
revoke all on function profile_sync.profile_inputs(auth.users) from public, anon, authenticated, service_role;

create or replace function profile_sync.converge_at_commit()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  now_inputs text;
begin
  -- The user as it is now, against what the last convergence of this transaction saw: the signup's later events,
  -- fired at its commit after every write, find nothing newer and have nothing left to do.
  select u.id::text || profile_sync.profile_inputs(u) into now_inputs from auth.users u where u.id = new.id;
  now_inputs := coalesce(now_inputs, new.id::text || ' gone');
  if pg_catalog.current_setting('profile_sync.converged', true) = now_inputs then
    return null;
  end if;

  begin
    if (select s.fallback_trigger_enabled from profile_sync.settings s where s.singleton) is not false then
      perform profile_sync.converge_now(array[new.id], 'auth_trigger');
      perform pg_catalog.set_config('profile_sync.converged', now_inputs, true);
    end if;
  exception when others then
    -- The block's subtransaction is rolled back: no half-written profile, and the signup goes on.
    -- Replay converges the profile later.
    raise warning 'profile_sync: no profile created for auth user % (SQLSTATE %: %)', new.id, sqlstate, sqlerrm;
  end;
  return null;
end
$$;
revoke all on function profile_sync.converge_at_commit() from public, anon, authenticated, service_role;

-- The immediate triggers of the earlier migrations stand aside. Dropping a trigger on auth.users needs its owner,
-- which postgres is not on hosted Supabase: there they stay and call this no-op.
create or replace function profile_sync.create_profile_on_signup()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  return null; -- replaced by profile_sync.converge_at_commit()
end
$$;

do $$
begin
  begin
    drop trigger if exists profile_sync_on_signup on auth.users;
    drop trigger if exists profile_sync_on_auth_change on auth.users;
  exception when insufficient_privilege then
    null; -- not the owner of auth.users: see above
  end;

  if not exists (select 1 from pg_catalog.pg_trigger t
                 where t.tgrelid = 'auth.users'::regclass and t.tgname = 'profile_sync_converge_on_signup') then
    create constraint trigger profile_sync_converge_on_signup
      after insert on auth.users
      deferrable initially deferred
      for each row execute function profile_sync.converge_at_commit();
  end if;
  if not exists (select 1 from pg_catalog.pg_trigger t
                 where t.tgrelid = 'auth.users'::regclass and t.tgname = 'profile_sync_converge_on_auth_change') then
    create constraint trigger profile_sync_converge_on_auth_change
      after update on auth.users
      deferrable initially deferred
      for each row when (profile_sync.profile_inputs_differ(old, new))
      execute function profile_sync.converge_at_commit();
  end if;
end $$;
