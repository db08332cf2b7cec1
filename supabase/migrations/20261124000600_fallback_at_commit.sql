-- ProfileFunctions: the fallback trigger converges at commit, once per user and transaction.
--
-- Supabase Auth's signup writes a user in several statements of one transaction (INSERT, then role, app and user
-- metadata, the confirmation token). Converging after each statement cost three convergences per signup. Deferred
-- to the commit, the first convergence of a user sees every write, and the user's other events have nothing left
-- to do. The profile still commits with the signup, atomically. Later statements of the signup's own transaction
-- no longer see it; a transaction that needs that can run `set constraints all immediate`.

-- One user's convergence, for the fallback trigger: the same mapping (profile_state), the same writes and the same
-- ownership rules as profile_sync.converge_now, as single-row statements by primary key. A signup pays for index
-- lookups and one insert, not for the set-based statement's planning and hash tables; and the plans stay index
-- lookups however small auth.users was when a session first used them (a bulk import into a new project).
create or replace function profile_sync.converge_user(uid uuid, via text)
returns void
language plpgsql security definer
set search_path = ''
as $$
declare
  state profile_sync.profile_state;
begin
  perform pg_catalog.set_config('profile_sync.writer', 'sync', true); -- see converge_now
  select s.* into state from profile_sync.profile_state s where s.user_id = uid;
  if not found then
    delete from public.user_profiles p where p.user_id = uid; -- the user is gone
  elsif not state.has_profile then
    insert into public.user_profiles (user_id, email, display_name, is_active, attributes, source_updated_at, created_via)
    values (state.user_id, state.email, state.display_name, state.is_active, state.attributes, state.source_updated_at, via)
    on conflict (user_id) do nothing;
  elsif state.stale_fields <> '{}' then
    update public.user_profiles p
    set email = state.email, display_name = state.display_name, is_active = state.is_active,
        attributes = state.attributes, source_updated_at = state.source_updated_at
    where p.user_id = uid;
  end if;
  perform pg_catalog.set_config('profile_sync.writer', '', true);
end
$$;
revoke all on function profile_sync.converge_user(uuid, text) from public, anon, authenticated, service_role;

create or replace function profile_sync.converge_at_commit()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  row_version text;
begin
  -- The user's row version now, against the one the last convergence of this transaction saw: the signup's other
  -- events, fired at its commit after every write, find the same version and have nothing left to do. A version
  -- this transaction wrote keeps its ctid until the transaction ends (nothing can prune it meanwhile), so equal
  -- ctids mean an unchanged row.
  select new.id::text || u.ctid::text into row_version from auth.users u where u.id = new.id;
  row_version := coalesce(row_version, new.id::text || ' gone');
  if pg_catalog.current_setting('profile_sync.converged', true) = row_version then
    return null;
  end if;

  begin
    if (select s.fallback_trigger_enabled from profile_sync.settings s where s.singleton) is not false then
      perform profile_sync.converge_user(new.id, 'auth_trigger');
      perform pg_catalog.set_config('profile_sync.converged', row_version, true);
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
-- No security definer and no search_path: it reads nothing, and every signup calls it.
create or replace function profile_sync.create_profile_on_signup()
returns trigger
language plpgsql
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
      for each row
      -- The facts a profile or an attribute rule may follow; profile_sync.post_auth_event() names the same.
      -- Columns, not a function of old and new: that would copy both whole rows for every sign-in.
      when ((old.email, old.phone, old.raw_user_meta_data, old.raw_app_meta_data, old.email_confirmed_at,
             old.banned_until, old.deleted_at)
            is distinct from
            (new.email, new.phone, new.raw_user_meta_data, new.raw_app_meta_data, new.email_confirmed_at,
             new.banned_until, new.deleted_at))
      execute function profile_sync.converge_at_commit();
  end if;
end $$;
