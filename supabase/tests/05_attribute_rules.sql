-- Attribute rules (supabase/migrations/20261201000000_profile_mapping.sql; docs/attribute-rules.md): initial
-- attributes from a proven e-mail's domain, the providers and app metadata, never from user metadata.
begin;
select plan(21);
set constraints all immediate; -- the fallback converges at commit, and this transaction never commits
update profile_sync.settings set fallback_trigger_enabled = true;
delete from profile_sync.attribute_rules; -- only these rules, whatever the database has (all rolled back)

insert into profile_sync.attribute_rules (position, email_domain, attributes) values (10, 'Example.com', '{"department":"Sales"}');
insert into profile_sync.attribute_rules (position, provider, attributes) values (20, 'github', '{"department":"Engineering","access_level":"internal"}');
insert into profile_sync.attribute_rules (position, app_metadata, attributes) values (30, '{"role":"admin"}', '{"role":"admin"}');

insert into auth.users (id, email, raw_user_meta_data, raw_app_meta_data, created_at, updated_at) values
  ('d1111111-1111-1111-1111-111111111111', 'ana@EXAMPLE.com', '{"role":"admin","is_admin":true}', '{"provider":"email","providers":["email"]}', now(), now()),
  ('d2222222-2222-2222-2222-222222222222', 'gh@example.com', '{}', '{"provider":"email","providers":["email","github"]}', now(), now());

select is((select attributes from public.user_profiles where user_id = 'd1111111-1111-1111-1111-111111111111'),
  profile_sync.default_attributes(), 'user metadata claiming admin, and an unconfirmed e-mail: the defaults');

-- Confirmed without a mail (autoconfirm, an admin's email_confirm): no proof of the address.
update auth.users set email_confirmed_at = now() where id = 'd1111111-1111-1111-1111-111111111111';
select is((select attributes ->> 'department' from public.user_profiles where user_id = 'd1111111-1111-1111-1111-111111111111'),
  'General', 'confirmed without a mailed token: the domain''s rule does not apply');

-- The confirmation mailed to the address (a token and its one-time-token row), then presented to the verify endpoint,
-- which signs the user in by one-time password in the same transaction: as Supabase Auth writes it, but for the order
-- (it signs in after the update; the constraints being immediate here, the proof is settled at the update's end).
update auth.users set email_confirmed_at = null, confirmation_token = 'conf-d1', confirmation_sent_at = now()
where id = 'd1111111-1111-1111-1111-111111111111';
insert into auth.one_time_tokens (id, user_id, token_type, token_hash, relates_to)
values (gen_random_uuid(), 'd1111111-1111-1111-1111-111111111111', 'confirmation_token', 'conf-d1', 'ana@example.com');
insert into auth.sessions (id, user_id, created_at, updated_at, aal)
values ('d1111111-5555-5555-5555-555555555555', 'd1111111-1111-1111-1111-111111111111', now(), now(), 'aal1');
insert into auth.mfa_amr_claims (id, session_id, created_at, updated_at, authentication_method)
values (gen_random_uuid(), 'd1111111-5555-5555-5555-555555555555', now(), now(), 'otp');
update auth.users set confirmation_token = '', email_confirmed_at = now() where id = 'd1111111-1111-1111-1111-111111111111';
select is((select attributes ->> 'department' from public.user_profiles where user_id = 'd1111111-1111-1111-1111-111111111111'),
  'Sales', 'once the user presents the mailed token, the domain''s rule applies (case-insensitively)');

-- The same write with nobody signed in by the token (an admin's email_confirm, an OAuth sign-in over the pending user).
insert into auth.users (id, email, raw_app_meta_data, confirmation_token, confirmation_sent_at, created_at, updated_at) values
  ('d3333333-3333-3333-3333-333333333333', 'eve@example.com', '{"provider":"email","providers":["email"]}', 'conf-d3', now(), now(), now());
insert into auth.one_time_tokens (id, user_id, token_type, token_hash, relates_to)
values (gen_random_uuid(), 'd3333333-3333-3333-3333-333333333333', 'confirmation_token', 'conf-d3', 'eve@example.com');
update auth.users set confirmation_token = '', email_confirmed_at = now() where id = 'd3333333-3333-3333-3333-333333333333';
select is((select attributes ->> 'department' from public.user_profiles where user_id = 'd3333333-3333-3333-3333-333333333333'),
  'General', 'the token emptied without a sign-in by it (an admin''s email_confirm): no proof');

select is((select attributes - 'permissions' from public.user_profiles where user_id = 'd2222222-2222-2222-2222-222222222222'),
  (profile_sync.default_attributes() - 'permissions') || '{"department":"Engineering","access_level":"internal"}',
  'a linked provider matches');

update auth.users set email_confirmed_at = now() where id = 'd2222222-2222-2222-2222-222222222222';
select is((select attributes ->> 'department' from public.user_profiles where user_id = 'd2222222-2222-2222-2222-222222222222'),
  'Engineering', 'a later position wins a key');

update auth.users set raw_app_meta_data = raw_app_meta_data || '{"role":"admin"}' where id = 'd1111111-1111-1111-1111-111111111111';
select is((select attributes ->> 'role' from public.user_profiles where user_id = 'd1111111-1111-1111-1111-111111111111'),
  'admin', 'app metadata, which only the service role writes, matches by containment');

select throws_ok(
  $$insert into profile_sync.attribute_rules (email_domain, attributes) values ('@example.com', '{}')$$,
  '23514', 'attribute rule refused: email_domain ''@example.com'' is not a domain name', 'a malformed domain is refused');
select throws_ok(
  $$insert into profile_sync.attribute_rules (provider, attributes) values ('google', '"admin"')$$,
  '23514', 'attribute rule refused: attributes must be a JSON object, not string', 'attributes must be an object');
select throws_ok(
  $$insert into profile_sync.attribute_rules (app_metadata, attributes) values ('{}', '{}')$$,
  '23514', 'attribute rule refused: app_metadata is an empty object, which every user contains', 'an empty match value is refused');

select throws_ok(
  $$insert into profile_sync.attribute_rules (identity_data, attributes) values ('{"custom_claims":{"groups":["Admins"]}}', '{}')$$,
  '23514', 'attribute rule refused: identity_data needs a provider: the identity provider whose identities it matches',
  'identity data without a provider is refused');

-- A directory group asserted by a SAML identity provider (sso:<id>), as a sign-in writes it; the same group in the
-- user metadata (which the user can edit) counts for nothing.
insert into profile_sync.attribute_rules (position, provider, identity_data, attributes)
values (40, 'sso:d9999999-9999-9999-9999-999999999999', '{"custom_claims":{"groups":["Finance-Admins"]}}', '{"role":"finance_admin"}');
insert into auth.users (id, email, raw_user_meta_data, raw_app_meta_data, is_sso_user, created_at, updated_at) values
  ('d4444444-4444-4444-4444-444444444444', 'fin@corp.example', '{"custom_claims":{"groups":["Finance-Admins"]}}',
   '{"provider":"sso:d9999999-9999-9999-9999-999999999999","providers":["sso:d9999999-9999-9999-9999-999999999999"]}', true, now(), now());
select is((select attributes ->> 'role' from public.user_profiles where user_id = 'd4444444-4444-4444-4444-444444444444'),
  'user', 'the group in user metadata only: no rule applies');
insert into auth.identities (provider_id, user_id, identity_data, provider, created_at, updated_at)
values ('nameid-d4', 'd4444444-4444-4444-4444-444444444444', '{"sub":"nameid-d4","custom_claims":{"groups":["Staff","Finance-Admins"]}}',
        'sso:d9999999-9999-9999-9999-999999999999', now(), now());
select is((select attributes ->> 'role' from public.user_profiles where user_id = 'd4444444-4444-4444-4444-444444444444'),
  'finance_admin', 'the identity provider asserts the group: the rule applies as the identity is written');
update auth.identities set identity_data = '{"sub":"nameid-d4","custom_claims":{"groups":["Staff"]}}'
where user_id = 'd4444444-4444-4444-4444-444444444444';
select is((select attributes ->> 'role' from public.user_profiles where user_id = 'd4444444-4444-4444-4444-444444444444'),
  'user', 'a sign-in without the group takes the role away');
select is(
  (select array_agg(t.tgname::text order by t.tgname) from pg_trigger t
   where t.tgrelid = 'auth.identities'::regclass and not t.tgisinternal),
  array['profile_sync_identity_added', 'profile_sync_identity_changed', 'profile_sync_identity_removed'],
  'on auth.identities: the triggers that follow what identity providers assert');

-- The rules as the mapping reads them: each filed under one fact a user must have, the digest of them all.
select results_eq(
  $$select key from profile_sync.attribute_rules_by_key order by key$$,
  array['a:"admin"', 'd:example.com', 'i:sso:d9999999-9999-9999-9999-999999999999 "Finance-Admins"', 'p:github'],
  'each rule filed under a domain, a provider, a value of its app metadata or identity data');
select is((select domains from profile_sync.attribute_rules_digest), '{"example.com": true}'::jsonb,
  'the digest names the rules'' domains, lower case');
-- A user whose address is in a domain a rule names is derived at every pass (its proof is kept elsewhere), whatever
-- the case of its letters; another keeps a fingerprint.
select is((select fingerprint from profile_sync.derived_profiles where user_id = 'd1111111-1111-1111-1111-111111111111'), null,
  'an address in a rule''s domain (ana@EXAMPLE.com): no fingerprint');
select isnt((select fingerprint from profile_sync.derived_profiles where user_id = 'd4444444-4444-4444-4444-444444444444'), null,
  'an address in no rule''s domain: a fingerprint');
select is(
  profile_sync.candidate_rules('d2222222-2222-2222-2222-222222222222', 'gh@example.com',
                               '{"provider":"email","providers":["email","github"]}', null) -> 0 -> 3,
  '{"department":"Sales"}'::jsonb, 'a user''s candidate rules, in the order they apply: the domain''s first');
delete from profile_sync.attribute_rules;
select is((select count(*) from profile_sync.attribute_rules_by_key) + (select count(*) from profile_sync.attribute_rules_digest), 0::bigint,
  'no rule: nothing filed, no digest');

select * from finish();
rollback;
