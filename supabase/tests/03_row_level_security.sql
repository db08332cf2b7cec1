-- Row-level security on public.user_profiles (docs/database.md, "What you get"), tried as PostgREST's roles with request.jwt.claims set.
begin;
select plan(9);
set constraints all immediate; -- the fallback converges at commit, and this transaction never commits

insert into auth.users (id, email, raw_user_meta_data, created_at, updated_at) values
  ('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 'me@example.com', '{"name":"Me"}', now(), now()),
  ('bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', 'other@example.com', '{"name":"Other"}', now(), now());

select policies_are('public', 'user_profiles',
  array['user_profiles_select_own', 'user_profiles_update_own_display_name'], 'only the two policies apply');

set local role authenticated;
set local request.jwt.claims = '{"sub":"aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa","role":"authenticated"}';

select results_eq($$select user_id from public.user_profiles$$,
  $$values ('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'::uuid)$$, 'a user reads only their own profile');
select is_empty($$update public.user_profiles set display_name = 'Mine' where user_id = 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb' returning 1$$,
  'a user cannot rename another');
select results_eq($$update public.user_profiles set display_name = 'Renamed' returning display_name$$,
  $$values ('Renamed'::text)$$, 'a user renames themselves');
select throws_ok($$update public.user_profiles set attributes = '{"role":"admin"}'$$, '42501', null,
  'a user cannot change their attributes');
select throws_ok($$update public.user_profiles set is_active = false$$, '42501', null,
  'a user cannot change their active flag');

reset role;
set local role anon;
set local request.jwt.claims = '{"role":"anon"}';
select throws_ok($$select * from public.user_profiles$$, '42501', null, 'anon reads nothing');
select throws_ok($$select * from profile_sync.settings$$, '42501', null, 'anon cannot see the settings');

reset role;
select ok(
  not has_table_privilege('service_role', 'public.user_profiles', 'TRUNCATE')
  and not has_table_privilege('service_role', 'public.user_profiles', 'REFERENCES')
  and not has_table_privilege('service_role', 'public.user_profiles', 'TRIGGER')
  and has_table_privilege('service_role', 'public.user_profiles', 'SELECT') and has_table_privilege('service_role', 'public.user_profiles', 'INSERT')
  and has_table_privilege('service_role', 'public.user_profiles', 'UPDATE') and has_table_privilege('service_role', 'public.user_profiles', 'DELETE'),
  'the service role reads and writes rows, and nothing more (no TRUNCATE, REFERENCES or TRIGGER)');
select * from finish();
rollback;
