-- ProfileFunctions: what this product puts on auth.users and auth.identities, in one short transaction.
-- The foreign keys of the profiles and of the proofs of addresses, the triggers that converge a user's profile in the
-- auth server's own transaction when the user or one of its identities changes (the fallback path), post the change
-- to the function (the signed wiring), note it for the token hook and record and settle proofs of addresses, and the
-- retirement of the original setup's trigger.
-- Nothing here reads or writes rows: every statement changes the catalog only, so the locks it takes on auth.users
-- (which every signup and sign-in waits for) last milliseconds.
--
-- Triggers on auth.users and auth.identities are made once and never replaced. Plain PostgreSQL lets only the owner
-- of those tables (supabase_auth_admin) drop or alter them; hosted Supabase lets postgres drop them (supautils'
-- drop_trigger_grants), but its check locks auth.users and other auth tables (ACCESS EXCLUSIVE) until the migration
-- commits. So their names, events and WHEN clauses are chosen to last, and what they do lives in a function that a
-- later version can replace.
--
-- Every lock it needs is taken first, briefly (profile_sync.lock_briefly): auth.users, the tables supautils' check
-- locks when the original trigger is dropped (supautils.drop_trigger_grants), then the profiles and the proofs. After
-- that nothing here waits.
set local lock_timeout = '100ms';
select profile_sync.lock_briefly(array['auth.users', 'auth.identities']
  || array(select pg_catalog.jsonb_array_elements_text(
             coalesce(nullif(pg_catalog.current_setting('supautils.drop_trigger_grants', true), '')::jsonb
                        -> current_user, '[]')))
  || array['public.user_profiles', 'profile_sync.email_proofs', 'profile_sync.tokens_of_previous_addresses']);

-- A profile goes with its user: a cascading foreign key (an older one without cascade is replaced). Added NOT VALID:
-- checking the rows that exist reads the whole profile table, which …_validate_user_key.sql does in a transaction of
-- its own.
do $$
declare
  fk record;
begin
  for fk in
    select c.conname from pg_catalog.pg_constraint c
    where c.conrelid = 'public.user_profiles'::regclass and c.contype = 'f'
      and c.confrelid = 'auth.users'::regclass and c.confdeltype <> 'c'
  loop
    execute pg_catalog.format('alter table public.user_profiles drop constraint %I', fk.conname);
  end loop;
  if not exists (select 1 from pg_catalog.pg_constraint c
                 where c.conrelid = 'public.user_profiles'::regclass and c.contype = 'f'
                   and c.confrelid = 'auth.users'::regclass) then
    alter table public.user_profiles add constraint user_profiles_user_id_fkey
      foreign key (user_id) references auth.users (id) on delete cascade not valid;
  end if;
  -- The proofs of a user's addresses go with the user too, and so do the notes of tokens of previous addresses (new
  -- tables: nothing to check).
  if not exists (select 1 from pg_catalog.pg_constraint c
                 where c.conrelid = 'profile_sync.email_proofs'::regclass and c.contype = 'f') then
    alter table profile_sync.email_proofs add constraint email_proofs_user_id_fkey
      foreign key (user_id) references auth.users (id) on delete cascade;
  end if;
  if not exists (select 1 from pg_catalog.pg_constraint c
                 where c.conrelid = 'profile_sync.tokens_of_previous_addresses'::regclass and c.contype = 'f') then
    alter table profile_sync.tokens_of_previous_addresses add constraint tokens_of_previous_addresses_user_id_fkey
      foreign key (user_id) references auth.users (id) on delete cascade;
  end if;
end $$;

-- What the triggers do, at the commit of the auth server's transaction: converge the profiles of the users it changed
-- (unless the fallback is switched off) and post the change (once the wiring is configured). Supabase Auth writes a
-- user in several statements of one transaction (a signup: INSERT, then role, app and user metadata, the confirmation
-- token); deferred to the commit, the user's first event sees every write, so the later writes queue none
-- (profile_sync.note_write_needs_event, in the triggers' WHEN). The profile commits with the signup, atomically. Later
-- statements of the signup's own transaction do not see it; one that needs to can `set constraints all immediate`. A
-- transaction that changes several users (an admin's bulk statement) queues one event too, for its first user; the
-- others wait in a buffer (pg_temp.profile_sync_changed_users, see note_write_needs_event), and that one event
-- converges them all in one set-based statement (profile_sync.converge_changed) and posts only what the fallback did
-- not converge, up to 1,000 users per request. So a statement over a million users costs one pass, not a million
-- convergences and posts. Switch the fallback at runtime (no migration):
--   update profile_sync.settings set fallback_trigger_enabled = false;   -- off
--   update profile_sync.settings set fallback_trigger_enabled = true;    -- on (as shipped)
create or replace function profile_sync.converge_at_commit(user_id uuid, event_type text)
returns void
language plpgsql security definer
set search_path = ''
as $$
declare
  user_ids uuid[];
  unconverged uuid[];
  failed_constraint text;
  failure text;
begin
  -- The event the users' writes were waiting for has come: a write after it (`set constraints all immediate`) needs
  -- an event of its own.
  if pg_catalog.current_setting('profile_sync.waiting_event', true) = user_id::text then
    perform pg_catalog.set_config('profile_sync.waiting_event', '', true);
  end if;

  if pg_catalog.current_setting('profile_sync.changed_users_buffered', true) = 'on' then
    -- Other users of this transaction wait in the buffer: all of them at once, and the buffer emptied for what a later
    -- statement of the transaction may add.
    unconverged := array[user_id];
    perform 'PRAGMA:TABLE: profile_sync_changed_users (user_id uuid)'; -- for plpgsql_check, as in note_write_needs_event
    begin
      user_ids := array(select user_id union select b.user_id from pg_temp.profile_sync_changed_users b);
      delete from pg_temp.profile_sync_changed_users;
      unconverged := user_ids;
      if (select s.fallback_trigger_enabled from profile_sync.settings s where s.singleton) is not false then
        unconverged := profile_sync.converge_changed(user_ids, 'auth_trigger');
      end if;
    exception when others then
      -- The database failed (a row that cannot be written is set aside inside): the statement goes on, and the
      -- function (posted below) or the reconcile converges them later.
      raise warning 'profile_sync: no profile converged for % auth users changed together (SQLSTATE %)',
        pg_catalog.cardinality(unconverged), sqlstate;
    end;
    -- Nothing to post for a user whose profile converged here; the rest, 1,000 users per request.
    for chunk in 0 .. (coalesce(pg_catalog.cardinality(unconverged), 0) + 999) / 1000 - 1 loop
      perform profile_sync.post_auth_event('BULK', unconverged[chunk * 1000 + 1 : chunk * 1000 + 1000]);
    end loop;
    return;
  end if;

  -- The foreign key's cascade has removed a deleted user's profile already.
  begin
    if event_type <> 'DELETE' and (select s.fallback_trigger_enabled from profile_sync.settings s where s.singleton) is not false then
      perform profile_sync.converge_user(user_id, 'auth_trigger');
    end if;
  exception when others then
    -- The block's subtransaction is rolled back: no half-written profile, and the signup goes on. The reconcile or a
    -- replay converges the profile later. What refused it is said without the row (personal data): its SQLSTATE and
    -- constraint, and the user is set aside for status and explain unless the database itself failed.
    get stacked diagnostics failed_constraint = constraint_name, failure = message_text;
    raise warning 'profile_sync: no profile converged for auth user % (SQLSTATE %, constraint %)', user_id, sqlstate,
      coalesce(nullif(failed_constraint, ''), 'none');
    if not profile_sync.is_database_failure(sqlstate) then
      begin
        perform profile_sync.set_aside(user_id, 'auth_trigger', sqlstate, failed_constraint, failure);
      exception when others then
        null; -- never the signup's failure
      end;
    end if;
  end;
  perform profile_sync.post_auth_event(event_type, array[user_id]);
end
$$;
revoke all on function profile_sync.converge_at_commit(uuid, text) from public, anon, authenticated, service_role;

create or replace function profile_sync.on_auth_user_change()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform profile_sync.converge_at_commit(case when tg_op = 'DELETE' then old.id else new.id end, tg_op);
  return null;
end
$$;
revoke all on function profile_sync.on_auth_user_change() from public, anon, authenticated, service_role;

-- A write to one of a user's identities (a sign-in rewriting what the identity provider asserts, a link, an unlink)
-- changes what the user's attribute rules and proofs of an address see: the user's profile converges at the commit, as
-- for a write to auth.users, and the event says the user changed.
create or replace function profile_sync.on_auth_identity_change()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform profile_sync.converge_at_commit(case when tg_op = 'DELETE' then old.user_id else new.user_id end, 'UPDATE');
  return null;
end
$$;
revoke all on function profile_sync.on_auth_identity_change() from public, anon, authenticated, service_role;

-- Notes a write to a user and answers whether it needs an event queued. Evaluated in the WHEN of the triggers below
-- as each write happens (only the trigger's function waits for the commit). What it keeps lives in the
-- transaction (the transaction-local settings described in …_user_profiles.sql, and a temporary table), so it rolls
-- back with a savepoint as the queued events do:
-- * Which users the transaction changed (profile_sync.changed_users), for the token hook (…_token_hook.sql), which
--   reads a user's committed profile unless this transaction changed who the user is.
-- * Whether an event already waits for the commit (profile_sync.waiting_event): then this write queues none. The
--   user's own later writes need nothing (that event sees them: a signup queues one event instead of three); another
--   user's id goes into the buffer that event converges, a temporary table made at the transaction's second user
--   (dropped at commit; open to the session's roles, the only ones that can see it, as the trigger's function reads it
--   as its owner). Where it cannot be made, that user gets an event of its own, as a single write.
-- In the WHEN rather than a trigger of its own, which would cost every signup's writes a trigger call. Executable by
-- every role that may write auth.users (it keeps state of the caller's own transaction, nothing else): a WHEN
-- clause's function needs EXECUTE like any other.
create or replace function profile_sync.note_write_needs_event(user_id uuid)
returns boolean
language plpgsql
set search_path = ''
as $$
declare
  changed text := pg_catalog.current_setting('profile_sync.changed_users', true);
  waiting text := pg_catalog.current_setting('profile_sync.waiting_event', true);
begin
  if changed is distinct from '*' and changed is distinct from user_id::text then
    perform pg_catalog.set_config('profile_sync.changed_users',
      case when coalesce(changed, '') = '' then user_id::text else '*' end, true);
  end if;
  if coalesce(waiting, '') = '' then
    perform pg_catalog.set_config('profile_sync.waiting_event', user_id::text, true);
    return true;
  elsif waiting = user_id::text then
    return false;
  end if;
  if pg_catalog.current_setting('profile_sync.changed_users_buffered', true) is distinct from 'on' then
    begin
      create temporary table if not exists profile_sync_changed_users (user_id uuid not null) on commit drop;
      grant select, delete on pg_temp.profile_sync_changed_users to public;
    exception when others then
      return true;
    end;
    perform pg_catalog.set_config('profile_sync.changed_users_buffered', 'on', true);
  end if;
  perform 'PRAGMA:TABLE: profile_sync_changed_users (user_id uuid)'; -- what plpgsql_check (`supabase db lint`) checks it against
  insert into pg_temp.profile_sync_changed_users (user_id) values (note_write_needs_event.user_id);
  return false;
end
$$;

do $$
begin
  if not exists (select 1 from pg_catalog.pg_trigger t
                 where t.tgrelid = 'auth.users'::regclass and t.tgname = 'profile_sync_user_created') then
    create constraint trigger profile_sync_user_created
      after insert on auth.users
      deferrable initially deferred
      for each row when (profile_sync.note_write_needs_event(new.id))
      execute function profile_sync.on_auth_user_change();
  end if;
  if not exists (select 1 from pg_catalog.pg_trigger t
                 where t.tgrelid = 'auth.users'::regclass and t.tgname = 'profile_sync_user_changed') then
    create constraint trigger profile_sync_user_changed
      -- Every fact about who the user is or what they proved, which a profile, an attribute rule or a later version
      -- may follow; never what only records activity (sign-ins, timestamps, the password), so a sign-in fires nothing.
      -- The recovery token is here because a magic link's consumption proves an address and changes nothing else.
      -- UPDATE OF the same columns: an UPDATE that sets none of them (Supabase Auth sets only the columns it changes)
      -- skips the WHEN, whose expression PostgreSQL reads and prepares again for every statement.
      -- (A column changed only by a BEFORE trigger of someone else's is not seen: the reconcile catches it.)
      after update of email, phone, raw_user_meta_data, raw_app_meta_data, email_confirmed_at, phone_confirmed_at,
                      banned_until, deleted_at, is_anonymous, is_sso_user, recovery_token on auth.users
      deferrable initially deferred
      for each row
      -- Columns, not a function of old and new, so that the trigger itself says what it follows (a PL/pgSQL function
      -- would be a little cheaper). Evaluated at once (only the trigger's function waits for the commit), so
      -- the token hook learns of the change in time.
      when ((old.email, old.phone, old.raw_user_meta_data, old.raw_app_meta_data, old.email_confirmed_at,
             old.phone_confirmed_at, old.banned_until, old.deleted_at, old.is_anonymous, old.is_sso_user, old.recovery_token)
            is distinct from
            (new.email, new.phone, new.raw_user_meta_data, new.raw_app_meta_data, new.email_confirmed_at,
             new.phone_confirmed_at, new.banned_until, new.deleted_at, new.is_anonymous, new.is_sso_user, new.recovery_token)
            and profile_sync.note_write_needs_event(new.id))
      execute function profile_sync.on_auth_user_change();
  end if;
  if not exists (select 1 from pg_catalog.pg_trigger t
                 where t.tgrelid = 'auth.users'::regclass and t.tgname = 'profile_sync_email_proved') then
    -- Not deferred: it must see the one-time token a verification consumes, which Auth deletes in the same
    -- transaction. Fires only when a mailed token is emptied (a verification, a password change, …), or the address
    -- changes while a confirmation or magic link is pending (which was mailed to the previous address). Its name
    -- sorts before profile_sync_user_changed's, so the proof is there before a convergence even where a transaction
    -- runs the deferred triggers at once (`set constraints all immediate`).
    create trigger profile_sync_email_proved
      after update of confirmation_token, recovery_token, email_change_token_new, email on auth.users
      for each row
      when ((coalesce(old.confirmation_token, '') <> '' and coalesce(new.confirmation_token, '') = '')
            or (coalesce(old.recovery_token, '') <> '' and coalesce(new.recovery_token, '') = '')
            or (coalesce(old.email_change_token_new, '') <> '' and coalesce(new.email_change_token_new, '') = '')
            or (old.email is distinct from new.email
                and (coalesce(new.confirmation_token, '') <> '' or coalesce(new.recovery_token, '') <> '')))
      execute function profile_sync.record_email_proof();
  end if;
  if not exists (select 1 from pg_catalog.pg_trigger t
                 where t.tgrelid = 'auth.users'::regclass and t.tgname = 'profile_sync_email_proof_settled') then
    -- The same writes as profile_sync_email_proved, at the commit: by then the auth server has signed the user in by
    -- the token presented, or has not (profile_sync.settle_email_proofs). Before or after the convergence at the same
    -- commit, both give one answer: profile_sync.email_proof counts a pending proof on the same evidence.
    create constraint trigger profile_sync_email_proof_settled
      after update of confirmation_token, recovery_token, email_change_token_new on auth.users
      deferrable initially deferred
      for each row
      when ((coalesce(old.confirmation_token, '') <> '' and coalesce(new.confirmation_token, '') = '')
            or (coalesce(old.recovery_token, '') <> '' and coalesce(new.recovery_token, '') = '')
            or (coalesce(old.email_change_token_new, '') <> '' and coalesce(new.email_change_token_new, '') = ''))
      execute function profile_sync.settle_email_proofs();
  end if;
  if not exists (select 1 from pg_catalog.pg_trigger t
                 where t.tgrelid = 'auth.users'::regclass and t.tgname = 'profile_sync_user_deleted') then
    create constraint trigger profile_sync_user_deleted
      after delete on auth.users
      deferrable initially deferred
      for each row when (profile_sync.note_write_needs_event(old.id))
      execute function profile_sync.on_auth_user_change();
  end if;
  -- The identities: what an identity provider asserted at the last sign-in (identity rules, verified addresses).
  if not exists (select 1 from pg_catalog.pg_trigger t
                 where t.tgrelid = 'auth.identities'::regclass and t.tgname = 'profile_sync_identity_added') then
    create constraint trigger profile_sync_identity_added
      after insert on auth.identities
      deferrable initially deferred
      for each row when (profile_sync.note_write_needs_event(new.user_id))
      execute function profile_sync.on_auth_identity_change();
  end if;
  if not exists (select 1 from pg_catalog.pg_trigger t
                 where t.tgrelid = 'auth.identities'::regclass and t.tgname = 'profile_sync_identity_changed') then
    create constraint trigger profile_sync_identity_changed
      after update of identity_data, provider, user_id on auth.identities
      deferrable initially deferred
      for each row
      when ((old.identity_data, old.provider, old.user_id) is distinct from (new.identity_data, new.provider, new.user_id)
            and profile_sync.note_write_needs_event(new.user_id))
      execute function profile_sync.on_auth_identity_change();
  end if;
  if not exists (select 1 from pg_catalog.pg_trigger t
                 where t.tgrelid = 'auth.identities'::regclass and t.tgname = 'profile_sync_identity_removed') then
    create constraint trigger profile_sync_identity_removed
      after delete on auth.identities
      deferrable initially deferred
      for each row when (profile_sync.note_write_needs_event(old.user_id))
      execute function profile_sync.on_auth_identity_change();
  end if;
end $$;

-- Retire the trigger of the setup this product replaces (create_user_profile_trigger), so profiles are not made
-- twice; it goes in the same commit as the triggers above arrive. Dropping it needs auth.users' owner, or postgres
-- under supautils' drop_trigger_grants; where neither is the case, the function it calls becomes a no-op that returns
-- what its trigger's kind needs (NEW for BEFORE INSERT/UPDATE, OLD for BEFORE DELETE, NULL for AFTER): a BEFORE
-- trigger that returned NULL would silently cancel every signup.
do $$
declare
  original record;
begin
  for original in
    select t.tgname, n.nspname as fn_schema, p.proname as fn_name
    from pg_catalog.pg_trigger t
    join pg_catalog.pg_proc p on p.oid = t.tgfoid
    join pg_catalog.pg_namespace n on n.oid = p.pronamespace
    where t.tgrelid = 'auth.users'::regclass and not t.tgisinternal
      and t.tgname = 'create_user_profile_trigger'
      and p.prosrc not like '%retired by ProfileFunctions%'
  loop
    begin
      execute pg_catalog.format('drop trigger %I on auth.users', original.tgname);
      raise notice 'dropped the original trigger % on auth.users', original.tgname;
      begin
        execute pg_catalog.format('drop function %I.%I()', original.fn_schema, original.fn_name);
      exception when dependent_objects_still_exist or insufficient_privilege then
        null; -- still used elsewhere, or not ours: leave it
      end;
    exception when insufficient_privilege then
      begin
        execute pg_catalog.format(
          'create or replace function %I.%I() returns trigger language plpgsql set search_path = '''' as %L',
          original.fn_schema, original.fn_name,
          'begin -- retired by ProfileFunctions: profile_sync.on_auth_user_change does this now
             if tg_level = ''ROW'' and tg_when = ''BEFORE'' then
               if tg_op = ''DELETE'' then return old; end if;
               return new;
             end if;
             return null;
           end');
        raise notice 'the original trigger % on auth.users now calls a no-op (drop it as the table owner when convenient)', original.tgname;
      exception when insufficient_privilege then
        raise warning 'the original trigger % on auth.users still runs %.%(): neither it nor its function is ours to change; '
          'drop it as the owner of auth.users', original.tgname, original.fn_schema, original.fn_name;
      end;
    end;
  end loop;
end $$;
