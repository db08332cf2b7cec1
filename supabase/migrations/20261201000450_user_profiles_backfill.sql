-- ProfileFunctions: the rows of public.user_profiles from before, decided and filled in, in bounded batches; then
-- the checks and NOT NULL that every row satisfies from then on. On a new table every step is instant.
-- Runs after …_auth_users.sql, once the original trigger (create_user_profile_trigger) has gone, so no row it makes is
-- missed; meanwhile a write that meets a row not decided yet decides it first (profile_sync.owned_before).
--
-- Commits after each step and each batch, so no lock a signup or a convergence waits for is held longer than one
-- batch: supabase db push runs this DO block as it is (top level, outside any transaction block); with psql, run this
-- file without --single-transaction. Stopped or failed midway (a lock timeout on a catalog step, a row an admin made
-- that breaks a check): run it again; it goes on where the rows still need it.
do $$
declare
  batch_size constant int := 5000;
  -- The catalog steps take ACCESS EXCLUSIVE on the table for a moment; signups queue behind them at most this long.
  catalog_lock_timeout constant text := '1s';
  low uuid := '00000000-0000-0000-0000-000000000000';
  high uuid;
  filled text;
begin
  -- From here on a new row owns nothing until someone sets a field (take_ownership).
  perform pg_catalog.set_config('lock_timeout', catalog_lock_timeout, true);
  alter table public.user_profiles alter column owned_fields set default '{}';
  commit;

  -- Each row from before, once: what was somebody's choice (profile_sync.chosen_before, decided from the row as it
  -- was), a plain display name (today's rule, profile_sync.plain_display_name), and the defaults where it has none.
  -- Key ranges in key order; a batch writes only the rows that need it. The profile of a user that is gone owns
  -- nothing (the reconcile removes it).
  loop
    select k.user_id into high
    from (select p.user_id from public.user_profiles p where p.user_id > low order by p.user_id limit batch_size) k
    order by k.user_id desc limit 1;
    exit when high is null;
    perform pg_catalog.set_config('profile_sync.writer', 'upgrade', true);
    update public.user_profiles p
    set owned_fields = coalesce(p.owned_fields, case when u.id is null then '{}'::text[] else profile_sync.chosen_before(
                         p, d, coalesce(u.raw_user_meta_data ->> 'display_name', u.email::text),
                         u.banned_until is not null or u.deleted_at is not null) end),
        display_name = profile_sync.plain_display_name(p.display_name),
        attributes = coalesce(p.attributes, profile_sync.default_attributes()),
        is_active = coalesce(p.is_active, true),
        created_at = coalesce(p.created_at, pg_catalog.now()),
        updated_at = coalesce(p.updated_at, p.created_at, pg_catalog.now())
    from public.user_profiles k
    left join auth.users u on u.id = k.user_id and u.id > low and u.id <= high
    left join profile_sync.derived_profiles d on d.user_id = k.user_id and d.user_id > low and d.user_id <= high
    where k.user_id > low and k.user_id <= high and p.user_id = k.user_id
      and (p.owned_fields is null or p.attributes is null or p.is_active is null or p.created_at is null
           or p.updated_at is null or p.display_name is distinct from profile_sync.plain_display_name(p.display_name));
    commit;
    low := high;
  end loop;

  -- The checks, NOT VALID first (a catalog change: from now on every write is checked), then validated apart: that
  -- reads the table under a lock writers do not wait for. NOT NULL comes from one check that every column is filled,
  -- so setting it reads nothing.
  perform pg_catalog.set_config('lock_timeout', catalog_lock_timeout, true);
  if not exists (select 1 from pg_catalog.pg_constraint c
                 where c.conrelid = 'public.user_profiles'::regclass and c.conname = 'user_profiles_created_via_check') then
    alter table public.user_profiles add constraint user_profiles_created_via_check
      check (created_via in ('auth_trigger', 'webhook', 'replay')) not valid;
  end if;
  if not exists (select 1 from pg_catalog.pg_constraint c
                 where c.conrelid = 'public.user_profiles'::regclass and c.conname = 'user_profiles_display_name_check') then
    -- The guarantee, whoever writes and however (the ownership trigger first says the rule in words).
    alter table public.user_profiles add constraint user_profiles_display_name_check
      check (display_name is not distinct from profile_sync.plain_display_name(display_name)) not valid;
  end if;
  if not exists (select 1 from pg_catalog.pg_constraint c
                 where c.conrelid = 'public.user_profiles'::regclass and c.conname = 'user_profiles_attributes_check') then
    alter table public.user_profiles add constraint user_profiles_attributes_check
      check (jsonb_typeof(attributes) = 'object') not valid;
  end if;
  if not exists (select 1 from pg_catalog.pg_constraint c
                 where c.conrelid = 'public.user_profiles'::regclass and c.conname = 'user_profiles_owned_fields_check') then
    alter table public.user_profiles add constraint user_profiles_owned_fields_check
      check (owned_fields operator(pg_catalog.<@) array['display_name', 'is_active', 'attributes']) not valid;
  end if;
  select pg_catalog.string_agg(pg_catalog.format('%I is not null', a.attname), ' and ' order by a.attnum) into filled
  from pg_catalog.pg_attribute a
  where a.attrelid = 'public.user_profiles'::regclass and not a.attnotnull and not a.attisdropped
    and a.attname in ('user_id', 'is_active', 'attributes', 'created_at', 'updated_at', 'owned_fields');
  if filled is not null then
    execute 'alter table public.user_profiles drop constraint if exists user_profiles_filled, '
            'add constraint user_profiles_filled check (' || filled || ') not valid';
  end if;
  commit;

  perform pg_catalog.set_config('lock_timeout', '0', true);
  alter table public.user_profiles validate constraint user_profiles_created_via_check;
  commit;
  alter table public.user_profiles validate constraint user_profiles_display_name_check;
  commit;
  alter table public.user_profiles validate constraint user_profiles_attributes_check;
  commit;
  alter table public.user_profiles validate constraint user_profiles_owned_fields_check;
  commit;
  if filled is not null then
    alter table public.user_profiles validate constraint user_profiles_filled;
    commit;
  end if;

  -- NOT NULL, proved by the check (so nothing is read), and the key built by …_user_profiles_key.sql as the primary key.
  perform pg_catalog.set_config('lock_timeout', catalog_lock_timeout, true);
  alter table public.user_profiles
    alter column user_id set not null,
    alter column is_active set not null,
    alter column attributes set not null,
    alter column created_at set not null,
    alter column updated_at set not null,
    alter column owned_fields set not null;
  alter table public.user_profiles drop constraint if exists user_profiles_filled;
  if not exists (select 1 from pg_catalog.pg_constraint c
                 where c.conrelid = 'public.user_profiles'::regclass and c.contype in ('p', 'u')
                   and c.conkey = array[(select a.attnum from pg_catalog.pg_attribute a
                                         where a.attrelid = 'public.user_profiles'::regclass and a.attname = 'user_id')]) then
    if exists (select 1 from pg_catalog.pg_constraint c
               where c.conrelid = 'public.user_profiles'::regclass and c.contype = 'p') then
      raise exception 'public.user_profiles has a primary key on another column and no unique key on user_id'
        using hint = 'Add a unique key on public.user_profiles (user_id), then run the migrations again.';
    end if;
    alter table public.user_profiles add constraint user_profiles_pkey primary key using index user_profiles_pkey;
  end if;
end $$;
