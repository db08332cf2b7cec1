-- Roles in the token (supabase/migrations/20261201000350_token_hook.sql; docs/token-hook.md): the claims are
-- what the profile is, or inside the sign-up's own transaction what it will be; only the auth server may call it.
begin;
select plan(8);
update profile_sync.settings set refuse_tokens_when_deactivated = false;
delete from profile_sync.attribute_rules;
insert into profile_sync.attribute_rules (provider, attributes) values ('github', '{"department":"Engineering"}');

-- A GitHub sign-up, its token issued before the commit (no profile yet: the fallback converges at commit).
insert into auth.users (id, email, raw_app_meta_data, created_at, updated_at) values
  ('e7777777-7777-7777-7777-777777777777', 'dev@example.com', '{"provider":"github","providers":["github"]}', now(), now());
select is(
  (profile_sync.custom_access_token_hook('{"user_id":"e7777777-7777-7777-7777-777777777777","authentication_method":"oauth","claims":{"sub":"e7777777-7777-7777-7777-777777777777","role":"authenticated","aal":"aal1","email":"dev@example.com"}}')
    -> 'claims') - 'user_is_admin' - 'user_is_super_admin',
  '{"sub":"e7777777-7777-7777-7777-777777777777","role":"authenticated","aal":"aal1","email":"dev@example.com",
    "user_role":"user","user_department":"Engineering","user_access_level":"basic","user_is_active":true}'::jsonb,
  'the first token carries what the profile will be, and every claim it was given');

set constraints all immediate; -- now converge, as the commit would
select is((select attributes ->> 'department' from public.user_profiles where user_id = 'e7777777-7777-7777-7777-777777777777'),
  'Engineering', 'the profile holds what the token said');

-- A sign-in that changes who the user is (here the providers) issues its token before that change is converged.
set constraints all deferred;
update auth.users set raw_app_meta_data = '{"provider":"email","providers":["email"]}' where id = 'e7777777-7777-7777-7777-777777777777';
select is(profile_sync.custom_access_token_hook('{"user_id":"e7777777-7777-7777-7777-777777777777","claims":{}}') #>> '{claims,user_department}',
  'General', 'a token issued in the transaction that changed the user carries what the profile will be');

update public.user_profiles set attributes = '{"role":"admin"}' where user_id = 'e7777777-7777-7777-7777-777777777777';
select is(profile_sync.custom_access_token_hook('{"user_id":"e7777777-7777-7777-7777-777777777777","claims":{}}') #>> '{claims,user_role}',
  'admin', 'an admin''s attributes are the next token''s');

update public.user_profiles set is_active = false where user_id = 'e7777777-7777-7777-7777-777777777777';
update profile_sync.settings set refuse_tokens_when_deactivated = true;
select is(profile_sync.custom_access_token_hook('{"user_id":"e7777777-7777-7777-7777-777777777777","claims":{}}') #>> '{error,http_code}',
  '403', 'an admin''s deactivation refuses the token when the setting says so');
select is(profile_sync.custom_access_token_hook('{"user_id":"not a uuid","claims":{}}') #>> '{error,http_code}',
  '400', 'a malformed event gets an error object');

select ok(not has_function_privilege('authenticated', 'profile_sync.custom_access_token_hook(jsonb)', 'execute')
          and not has_function_privilege('anon', 'profile_sync.custom_access_token_hook(jsonb)', 'execute')
          and not has_function_privilege('service_role', 'profile_sync.custom_access_token_hook(jsonb)', 'execute'),
  'no API role may call it');
select ok(has_function_privilege('supabase_auth_admin', 'profile_sync.custom_access_token_hook(jsonb)', 'execute'),
  'the auth server may');

select * from finish();
rollback;
