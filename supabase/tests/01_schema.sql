-- The data contract of public.user_profiles and profile_sync (docs/database.md, "What you get", and docs/configuration.md, "Settings in the database"), as `supabase test db` would check it (pgTAP in schema extensions).
begin;
select plan(15);

select has_table('public', 'user_profiles', 'user_profiles exists');
select columns_are('public', 'user_profiles',
  array['user_id', 'email', 'display_name', 'is_active', 'attributes', 'created_via',
        'created_at', 'updated_at', 'source_updated_at', 'source_fingerprint', 'owned_fields'], 'user_profiles has exactly the contract''s columns');
select col_is_pk('public', 'user_profiles', 'user_id', 'user_id is the primary key');
select fk_ok('public', 'user_profiles', 'user_id', 'auth', 'users', 'id', 'user_id references auth.users(id)');
select is((select confdeltype from pg_constraint where conname = 'user_profiles_user_id_fkey'), 'c'::"char",
  'deleting an auth user cascades to the profile');
select col_type_is('public', 'user_profiles', 'attributes', 'jsonb', 'attributes is jsonb');
select col_not_null('public', 'user_profiles', 'is_active', 'is_active is not null');
select col_is_null('public', 'user_profiles', 'email', 'email may be null (phone-only and anonymous users)');
select is(profile_sync.default_attributes(),
  '{"role":"user","department":"General","is_admin":false,"is_super_admin":false,"permissions":{},"access_level":"basic"}'::jsonb,
  'initial default attributes');
select is((select fallback_trigger_enabled from profile_sync.settings), true, 'the fallback trigger ships on');
select throws_ok($$insert into profile_sync.settings (singleton) values (false)$$, '23514', null,
  'settings hold one row only');

select trigger_is('auth', 'users', 'profile_sync_user_created', 'profile_sync', 'on_auth_user_change',
  'the fallback trigger is on auth.users');
select is_definer('profile_sync', 'on_auth_user_change', 'the trigger function is security definer');
select function_owner_is('profile_sync', 'on_auth_user_change', '{}'::name[], 'postgres',
  'the trigger function is owned by postgres');

insert into auth.users (id, email, phone, raw_user_meta_data, banned_until, deleted_at) values
  ('a1111111-1111-1111-1111-111111111111', 'e@x.io', '1', '{"display_name":"A","full_name":"B","name":"C"}', null, null),
  ('a2222222-2222-2222-2222-222222222222', 'f@x.io', '2', '{"full_name":" ","name":"C"}', now() + interval '1 day', null),
  ('a3333333-3333-3333-3333-333333333333', 'g@x.io', '3', '{}', now() - interval '1 day', now());
select results_eq(
  $$select display_name, is_active from profile_sync.derived_profiles order by user_id$$,
  $$values ('A'::text, true), ('C', false), ('g@x.io', false)$$,
  'the mapping: display_name first, blanks skipped, then email; banned until later or soft-deleted is inactive');
select * from finish();
rollback;
