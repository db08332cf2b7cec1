-- The fallback trigger: a profile for every signup, never a failed signup.
begin;
select plan(10);
-- The fallback converges at commit; this file's transaction never commits, so it converges after each statement.
set constraints all immediate;

insert into auth.users (id, email, raw_user_meta_data, created_at, updated_at)
values ('11111111-1111-1111-1111-111111111111', 'ada@example.com', '{"full_name":"Ada"}', now(), now());
select results_eq(
  $$select display_name, created_via, attributes ->> 'role' from public.user_profiles
    where user_id = '11111111-1111-1111-1111-111111111111'$$,
  $$values ('Ada'::text, 'auth_trigger'::text, 'user'::text)$$,
  'a signup gets a profile with the defaults');

insert into auth.users (id, phone, created_at, updated_at)
values ('22222222-2222-2222-2222-222222222222', '15550001111', now(), now());
select is((select display_name from public.user_profiles where user_id = '22222222-2222-2222-2222-222222222222'),
  '15550001111', 'a phone-only user is named by the phone');

insert into auth.users (id, is_anonymous, created_at, updated_at)
values ('33333333-3333-3333-3333-333333333333', true, now(), now());
select is((select count(*)::int from public.user_profiles where user_id = '33333333-3333-3333-3333-333333333333'),
  1, 'an anonymous user gets a profile');

update profile_sync.settings set fallback_trigger_enabled = false;
insert into auth.users (id, email, created_at, updated_at)
values ('44444444-4444-4444-4444-444444444444', 'off@example.com', now(), now());
select is((select count(*)::int from public.user_profiles where user_id = '44444444-4444-4444-4444-444444444444'),
  0, 'switched off: no profile');
update profile_sync.settings set fallback_trigger_enabled = true;

select results_eq($$select missing, created from profile_sync.reconcile()$$, $$values (1::bigint, 1::bigint)$$,
  'the SQL reconcile creates the missing one');
select is((select created_via from public.user_profiles where user_id = '44444444-4444-4444-4444-444444444444'),
  'replay', 'the reconcile marks what it created');
select results_eq($$select missing, stale, orphaned from profile_sync.reconcile()$$, $$values (0::bigint, 0::bigint, 0::bigint)$$,
  'a second reconcile finds nothing to do');

update auth.users set email = 'ada@new.example.com', banned_until = now() + interval '1 day'
where id = '11111111-1111-1111-1111-111111111111';
select results_eq(
  $$select email, is_active from public.user_profiles where user_id = '11111111-1111-1111-1111-111111111111'$$,
  $$values ('ada@new.example.com'::text, false)$$,
  'the fallback trigger follows an e-mail change and a ban in the same transaction');

alter table public.user_profiles add constraint never_in_this_test check (false) not valid;
-- The trigger warns that no profile was converged: expected here, so not shown.
set local client_min_messages = error;
select lives_ok(
  $$insert into auth.users (id, email, created_at, updated_at)
    values ('55555555-5555-5555-5555-555555555555', 'fails@example.com', now(), now())$$,
  'a signup succeeds when creating its profile fails');
reset client_min_messages;

delete from auth.users where id = '11111111-1111-1111-1111-111111111111';
select is((select count(*)::int from public.user_profiles where user_id = '11111111-1111-1111-1111-111111111111'),
  0, 'deleting the auth user removes the profile');

select * from finish();
rollback;
