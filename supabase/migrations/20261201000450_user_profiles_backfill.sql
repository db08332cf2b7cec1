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
  batch_blocks constant int := 100; -- about 4,000 profiles of the original table
  blocks bigint;
  -- The catalog steps take ACCESS EXCLUSIVE on the table for a moment (profile_sync.lock_user_profiles); signups
  -- queue behind each try at most this long.
  catalog_lock_timeout constant text := '1s';
  filled text;
begin
  -- From here on a new row owns nothing until someone sets a field (take_ownership).
  perform pg_catalog.set_config('lock_timeout', catalog_lock_timeout, true);
  perform profile_sync.lock_user_profiles();
  alter table public.user_profiles alter column owned_fields set default '{}';
  commit;

  -- Each row from before, once: what was somebody's choice (profile_sync.chosen_before, decided from the row as it
  -- was), a plain display name (today's rule, profile_sync.plain_display_name), and the defaults where it has none.
  -- In the table's physical order, a range of pages per batch: a batch reads neighbouring pages, and so mostly do
  -- its users' lookups (profiles were made in the order of their users); a batch writes only the rows that need it.
  -- The profile of a user that is gone owns nothing (the reconcile removes it). A row another write moved to a page
  -- already passed is found by the next round.
  loop
    blocks := pg_catalog.pg_relation_size('public.user_profiles') / pg_catalog.current_setting('block_size')::bigint;
    for first_block in 0 .. blocks - 1 by batch_blocks loop
      perform pg_catalog.set_config('profile_sync.writer', 'upgrade', true);
      update public.user_profiles p
      set owned_fields = coalesce(p.owned_fields, (
            select profile_sync.chosen_before(p, d, coalesce(u.raw_user_meta_data ->> 'display_name', u.email::text),
                                              u.banned_until is not null or u.deleted_at is not null)
            from auth.users u join profile_sync.derived_profiles d on d.user_id = u.id
            where u.id = p.user_id), '{}'),
          display_name = profile_sync.plain_display_name(p.display_name),
          attributes = coalesce(p.attributes, profile_sync.default_attributes()),
          is_active = coalesce(p.is_active, true),
          created_at = coalesce(p.created_at, pg_catalog.now()),
          updated_at = coalesce(p.updated_at, p.created_at, pg_catalog.now())
      where p.ctid >= pg_catalog.format('(%s,0)', first_block)::tid
        and p.ctid < pg_catalog.format('(%s,0)', first_block + batch_blocks)::tid
        and (p.owned_fields is null or p.attributes is null or p.is_active is null or p.created_at is null
             or p.updated_at is null or p.display_name is distinct from profile_sync.plain_display_name(p.display_name));
      commit;
    end loop;
    exit when not exists (
      select 1 from public.user_profiles p
      where p.owned_fields is null or p.attributes is null or p.is_active is null or p.created_at is null
            or p.updated_at is null or p.display_name is distinct from profile_sync.plain_display_name(p.display_name));
  end loop;

  -- The checks, NOT VALID first (a catalog change: from now on every write is checked), then validated apart: that
  -- reads the table under a lock writers do not wait for. NOT NULL comes from one check that every column is filled,
  -- so setting it reads nothing.
  perform pg_catalog.set_config('lock_timeout', catalog_lock_timeout, true);
  perform profile_sync.lock_user_profiles();
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
  perform profile_sync.lock_user_profiles();
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
