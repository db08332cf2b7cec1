-- Convergence and ownership (supabase/migrations/20261201000100_user_profiles.sql): derived until owned; null hands a field back; sync never touches what is owned.
begin;
select plan(9);
set constraints all immediate; -- the fallback converges at commit, and this transaction never commits

insert into auth.users (id, email, raw_user_meta_data, created_at, updated_at) values
  ('c1111111-1111-1111-1111-111111111111', 'me@example.com', '{"name":"From Auth"}', now(), now());

set local role authenticated;
set local request.jwt.claims = '{"sub":"c1111111-1111-1111-1111-111111111111","role":"authenticated"}';
update public.user_profiles set display_name = 'Mine';
reset role;
select is((select owned_fields from public.user_profiles where user_id = 'c1111111-1111-1111-1111-111111111111'),
  '{display_name}'::text[], 'a user''s rename is theirs');

update auth.users set raw_user_meta_data = '{"name":"Changed"}', email = 'me2@example.com'
where id = 'c1111111-1111-1111-1111-111111111111';
select results_eq(
  $$select display_name, email from public.user_profiles where user_id = 'c1111111-1111-1111-1111-111111111111'$$,
  $$values ('Mine'::text, 'me2@example.com'::text)$$, 'sync follows the e-mail and keeps the owned name');

select results_eq(
  $$select outcome from profile_sync.converge(array['c1111111-1111-1111-1111-111111111111'::uuid], 'webhook')$$,
  $$values ('unchanged'::text)$$, 'an owned field is never stale');

-- Even a sync write that asks for it cannot change an owned field.
do $$ begin perform set_config('profile_sync.writer', 'sync', true); end $$;
update public.user_profiles set display_name = 'Overwritten' where user_id = 'c1111111-1111-1111-1111-111111111111';
do $$ begin perform set_config('profile_sync.writer', '', true); end $$;
select is((select display_name from public.user_profiles where user_id = 'c1111111-1111-1111-1111-111111111111'),
  'Mine', 'the guard keeps owned fields from sync writes');

update public.user_profiles set display_name = null where user_id = 'c1111111-1111-1111-1111-111111111111';
select results_eq(
  $$select display_name, owned_fields from public.user_profiles where user_id = 'c1111111-1111-1111-1111-111111111111'$$,
  $$values ('Changed'::text, '{}'::text[])$$, 'null hands the name back at once');

update public.user_profiles set is_active = false where user_id = 'c1111111-1111-1111-1111-111111111111';
update auth.users set banned_until = now() + interval '1 day' where id = 'c1111111-1111-1111-1111-111111111111';
update auth.users set banned_until = null where id = 'c1111111-1111-1111-1111-111111111111';
select is((select is_active from public.user_profiles where user_id = 'c1111111-1111-1111-1111-111111111111'),
  false, 'an admin''s deactivation outlives a lifted ban');

update public.user_profiles set attributes = '{"role":"admin"}' where user_id = 'c1111111-1111-1111-1111-111111111111';
update profile_sync.settings set default_attributes = '{"role":"member"}';
select results_eq($$select stale, refreshed from profile_sync.reconcile()$$, $$values (0::bigint, 0::bigint)$$,
  'owned attributes are not stale when the defaults change');
update public.user_profiles set attributes = null where user_id = 'c1111111-1111-1111-1111-111111111111';
select is((select attributes from public.user_profiles where user_id = 'c1111111-1111-1111-1111-111111111111'),
  '{"role":"member"}'::jsonb, 'handed back, attributes take the defaults');

select throws_ok(
  $$update public.user_profiles set owned_fields = '{email}' where user_id = 'c1111111-1111-1111-1111-111111111111'$$,
  '23514', null, 'e-mail can never be owned');

select * from finish();
rollback;
