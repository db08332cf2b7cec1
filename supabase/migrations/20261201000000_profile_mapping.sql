-- ProfileFunctions: what each auth user's profile should be.
-- The schema profile_sync, its settings (default attributes, the fallback switch), the attribute rules, and the one
-- mapping from an auth.users row to the profile fields it implies (profile_sync.derived_profiles), which every path
-- reads: the fallback trigger, the webhook, replay, reconcile, status.
-- Runs as `postgres` (not a superuser on Supabase). Safe to run again: nothing here holds data of its own but the
-- settings row and the rules, which are kept.

create schema if not exists profile_sync;
comment on schema profile_sync is
  'ProfileFunctions: settings, rules and convergence. Keep it out of the Data API''s exposed schemas.';
revoke all on schema profile_sync from public;
grant usage on schema profile_sync to service_role;

-- Settings: one row, changed at runtime by SQL.
create table if not exists profile_sync.settings (
  singleton boolean primary key default true check (singleton),
  default_attributes jsonb not null
    default '{"role":"user","department":"General","is_admin":false,"is_super_admin":false,"permissions":{},"access_level":"basic"}'
    check (jsonb_typeof(default_attributes) = 'object'),
  fallback_trigger_enabled boolean not null default true,
  email_verifying_providers text[] not null default '{}'
    constraint settings_email_verifying_providers_check
    check (not email_verifying_providers && array['email', 'phone', 'anonymous']
           and not pg_catalog.array_to_string(email_verifying_providers, ' ') ~ '(^| )sso:'),
  token_claim_keys text[] not null default '{role,department,access_level,is_admin,is_super_admin}'
    constraint settings_token_claim_keys_check
    check (pg_catalog.array_to_string(token_claim_keys, ' ') ~ '^([a-z][a-z0-9_]{0,40}( |$))*$'
           and not token_claim_keys && array['metadata']),
  refuse_tokens_when_deactivated boolean not null default false,
  end_sessions_on_claim_change boolean not null default false
);
comment on column profile_sync.settings.email_verifying_providers is
  'OAuth/OIDC providers (as auth.identities.provider names them: google, github, …) trusted to verify e-mail addresses: '
  'an identity of one of them that says email_verified for the user''s address proves it for email_domain rules. '
  'Empty as shipped: trust none (some providers let a user set an address they do not control).';
comment on column profile_sync.settings.token_claim_keys is
  'The attribute keys profile_sync.custom_access_token_hook puts in the access token, each as the claim user_<key> '
  '(role as user_role). Lower-case names; never the whole attributes object, which can grow without bound.';
comment on column profile_sync.settings.refuse_tokens_when_deactivated is
  'Whether the token hook refuses new tokens and refreshes to a user an admin deactivated (an owned is_active = false). '
  'Off as shipped: deactivation is the app''s flag, read from the user_is_active claim; banning in Supabase Auth is how '
  'to stop sign-ins.';
comment on column profile_sync.settings.end_sessions_on_claim_change is
  'Whether a change of a user''s claimed values (a user_* claim the token hook adds, deactivation included) ends the '
  'user''s sessions (auth.sessions, and their refresh tokens with them), as a global sign-out does: the next refresh '
  'fails and the user signs in again with the new claims. Off as shipped.';
comment on table profile_sync.settings is
  'ProfileFunctions settings (one row). default_attributes: the attributes every profile starts from, whichever path '
  'creates it (attribute rules are merged over them). fallback_trigger_enabled: whether the triggers on auth.users '
  'converge profiles in the auth server''s own transaction.';
insert into profile_sync.settings (singleton) values (true) on conflict (singleton) do nothing;
alter table profile_sync.settings enable row level security;
revoke all on profile_sync.settings from public, anon, authenticated, service_role;

-- The defaults, for the profile table's column default and for handing attributes back. Security definer so that a
-- default evaluated as service_role can read the settings without a grant on them.
create or replace function profile_sync.default_attributes()
returns jsonb
language sql stable security definer
set search_path = ''
as $$
  select coalesce((select s.default_attributes from profile_sync.settings s where s.singleton), '{}'::jsonb)
$$;
revoke all on function profile_sync.default_attributes() from public, anon, authenticated;
grant execute on function profile_sync.default_attributes() to service_role;

-- Attribute rules: initial attributes from facts the auth server or an admin vouches for.
-- A profile's attributes are the defaults with every matching rule merged over them, in ascending position (then id):
-- a rule's top-level keys replace the same keys before them. Derived until owned: once an admin or the service role
-- sets a profile's attributes, no rule or default touches them again; setting them to null hands them back. A rule
-- matches on what the user cannot write:
--   email_domain   the e-mail's domain (ASCII letters compared case-insensitively, nothing else folded), and only
--                  once the user proved control of that very address (see "Proof of an address" below);
--   provider       one of the user's providers as the auth server records them (raw_app_meta_data provider, providers):
--                  email, phone, google, github, sso:<provider id>, …;
--   app_metadata   raw_app_meta_data contains this object (only the service role writes app metadata);
--   identity_data  with provider: one of the user's identities of that provider (auth.identities, as the auth server
--                  records a sign-in: sso:<provider id> for SAML, custom:<name> for a custom OIDC/OAuth provider)
--                  contains this object, such as {"custom_claims":{"groups":["Finance-Admins"]}}: the company
--                  directory's groups, which the identity provider asserts again at every sign-in.
-- A null match column matches anything. No rule ever reads raw_user_meta_data: the user writes it at signup (and the
-- auth server copies an identity's data there, where the user can edit it).
-- Rules change at runtime by SQL, like the defaults; profiles that are still derived follow at the next reconcile.

-- One place for what makes a rule valid, checked by the table's constraint: refused with a message that says what
-- is wrong and how to write it.
create or replace function profile_sync.attribute_rule_is_valid(
  email_domain text, provider text, app_metadata jsonb, attributes jsonb, identity_data jsonb)
returns boolean
language plpgsql immutable
set search_path = ''
as $$
declare
  problem text;
  hint text;
begin
  if attributes is not null and pg_catalog.jsonb_typeof(attributes) <> 'object' then
    problem := pg_catalog.format('attributes must be a JSON object, not %s', pg_catalog.jsonb_typeof(attributes));
    hint := 'For example {"department": "Sales"}: its keys are merged over the defaults.';
  elsif email_domain is not null and pg_catalog.btrim(email_domain) = '' then
    problem := 'email_domain is empty';
    hint := 'Use null to match any e-mail.';
  elsif email_domain is not null and (pg_catalog.length(email_domain) > 253 or email_domain operator(pg_catalog.!~*)
      '^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$') then
    problem := pg_catalog.format('email_domain %L is not a domain name', email_domain);
    hint := 'Write the part after the @, such as example.com: letters, digits, hyphens and dots, no @, no spaces.';
  elsif provider is not null and pg_catalog.btrim(provider) = '' then
    problem := 'provider is empty';
    hint := 'Use null to match any provider.';
  elsif provider is not null and provider operator(pg_catalog.~) '\s' then
    problem := pg_catalog.format('provider %L contains white space', provider);
    hint := 'Write it as the auth server records it in app metadata: email, phone, google, github, sso:<provider id>, …';
  elsif app_metadata is not null and pg_catalog.jsonb_typeof(app_metadata) <> 'object' then
    problem := pg_catalog.format('app_metadata must be a JSON object, not %s', pg_catalog.jsonb_typeof(app_metadata));
    hint := 'It matches users whose raw_app_meta_data contains it, such as {"plan": "enterprise"}.';
  elsif app_metadata is not null and app_metadata = '{}'::jsonb then
    problem := 'app_metadata is an empty object, which every user contains';
    hint := 'Use null to match any app metadata.';
  elsif identity_data is not null and provider is null then
    problem := 'identity_data needs a provider: the identity provider whose identities it matches';
    hint := 'Set provider as auth.identities.provider names it: sso:<sso_providers.id> for SAML, custom:<name> for a custom OIDC/OAuth provider, google, azure, …';
  elsif identity_data is not null and pg_catalog.jsonb_typeof(identity_data) <> 'object' then
    problem := pg_catalog.format('identity_data must be a JSON object, not %s', pg_catalog.jsonb_typeof(identity_data));
    hint := 'It matches identities whose identity_data contains it, such as {"custom_claims": {"groups": ["Finance-Admins"]}}.';
  elsif identity_data is not null and identity_data = '{}'::jsonb then
    problem := 'identity_data is an empty object, which every identity contains';
    hint := 'Use null to match any identity, or provider alone to match the users of a provider.';
  end if;
  if problem is not null then
    raise exception 'attribute rule refused: %', problem
      using errcode = 'check_violation', constraint = 'attribute_rules_valid', hint = hint,
            table = 'attribute_rules', schema = 'profile_sync';
  end if;
  return true;
end
$$;
revoke all on function profile_sync.attribute_rule_is_valid(text, text, jsonb, jsonb, jsonb) from public, anon, authenticated, service_role;

create table if not exists profile_sync.attribute_rules (
  id bigint generated always as identity primary key,
  position integer not null default 0,
  email_domain text,
  provider text,
  app_metadata jsonb,
  attributes jsonb not null,
  description text,
  identity_data jsonb,
  constraint attribute_rules_valid
    check (profile_sync.attribute_rule_is_valid(email_domain, provider, app_metadata, attributes, identity_data))
);
comment on table profile_sync.attribute_rules is
  'Initial profile attributes by rule: each matching rule''s attributes are merged over the defaults, in ascending '
  'position (then id). A null match column matches anything. Only for profiles whose attributes nobody has set.';
comment on column profile_sync.attribute_rules.email_domain is
  'Matches the e-mail''s domain (case-insensitive), once the user has proven the address (profile_sync.email_proof). No subdomains: list each.';
comment on column profile_sync.attribute_rules.provider is
  'Matches one of raw_app_meta_data provider / providers: email, phone, google, github, sso:<provider id>, …';
comment on column profile_sync.attribute_rules.app_metadata is 'Matches when raw_app_meta_data @> this object.';
comment on column profile_sync.attribute_rules.identity_data is
  'With provider: matches when one of the user''s identities of that provider (auth.identities) has identity_data @> '
  'this object, such as {"custom_claims":{"groups":["Finance-Admins"]}}. Each sign-in rewrites it.';
comment on column profile_sync.attribute_rules.attributes is 'Merged over the defaults and earlier rules (top-level keys).';
alter table profile_sync.attribute_rules enable row level security;
revoke all on profile_sync.attribute_rules from public, anon, authenticated, service_role;

-- The domain of an address as rules compare it: after the last @ (a domain is its own), ASCII letters lower-cased,
-- nothing else folded. One rule for rules' domains, users' addresses and SSO providers' domains alike. PL/pgSQL: the
-- fingerprint asks it of every user in a pass while domain rules exist, and a SQL function that pins its search_path
-- is not inlined, and costs more a call.
create or replace function profile_sync.email_domain(email text)
returns text
language plpgsql immutable parallel safe
set search_path = ''
as $$
begin
  return pg_catalog.lower(pg_catalog.split_part(email, '@', -1) collate "C");
end
$$;
revoke all on function profile_sync.email_domain(text) from public, anon, authenticated, service_role;

-- One rule as profile_sync.matching_attributes takes it, in attribute_rules_by_key and wherever a single rule is
-- matched (profile_sync.explain).
create or replace function profile_sync.attribute_rule_entry(
  email_domain text, provider text, app_metadata jsonb, attributes jsonb, identity_data jsonb)
returns jsonb
language sql immutable
set search_path = ''
as $$
  select jsonb_build_array(profile_sync.email_domain(email_domain), provider, app_metadata, attributes, identity_data)
$$;
revoke all on function profile_sync.attribute_rule_entry(text, text, jsonb, jsonb, jsonb) from public, anon, authenticated, service_role;

-- The rules as the mapping reads them, kept by a trigger after every change of the rules (do not edit them by hand).
-- A user's mapping reads only the rules that may match the user: each rule is filed under one fact a user must have
-- for it to match (attribute_rule_key), and a user's facts are looked up (candidate_rules). So matching costs what
-- may match, not what exists: a directory's hundreds of groups, a company's hundreds of domains.
--   attribute_rules_by_key  key: the fact; rules: the rules filed under it, each as matching_attributes takes it
--                           ([email_domain (lower case), provider, app_metadata, attributes, identity_data]), keyed by
--                           its place in the order the rules apply, zero-padded (a JSON object's keys of one length
--                           keep that order)
--   attribute_rules_digest  one row while there are rules: version, a digest of every rule in order (part of each
--                           profile's fingerprint); domains, those rules name, as an object's keys (null when none);
--                           identity_providers, those whose identities rules match (null when none)
create table if not exists profile_sync.attribute_rules_by_key (
  key text primary key,
  rules jsonb not null check (pg_catalog.jsonb_typeof(rules) = 'object')
);
alter table profile_sync.attribute_rules_by_key enable row level security;
revoke all on profile_sync.attribute_rules_by_key from public, anon, authenticated, service_role;

create table if not exists profile_sync.attribute_rules_digest (
  singleton boolean primary key default true check (singleton),
  version bigint not null,
  domains jsonb check (pg_catalog.jsonb_typeof(domains) = 'object'),
  identity_providers text[]
);
alter table profile_sync.attribute_rules_digest enable row level security;
revoke all on profile_sync.attribute_rules_digest from public, anon, authenticated, service_role;

-- The keys a JSON value can be found by: each of its strings and booleans, at any depth, as JSON text (cut to 200
-- characters, to fit the key's index), after a prefix. A JSON object contains another only if it has each of those
-- values too.
create or replace function profile_sync.lookup_keys(prefix text, value jsonb)
returns text[]
language plpgsql immutable parallel safe
set search_path = ''
as $$
declare
  found jsonb := pg_catalog.jsonb_path_query_array(value, 'strict $.** ? (@.type() == "string" || @.type() == "boolean")');
  keys text[] := '{}'::text[];
begin
  for i in 0 .. coalesce(pg_catalog.jsonb_array_length(found), 0) - 1 loop
    keys := keys || (prefix || pg_catalog.left((found -> i)::text, 200));
  end loop;
  return keys;
end
$$;
revoke all on function profile_sync.lookup_keys(text, jsonb) from public, anon, authenticated, service_role;

-- The fact a rule is filed under, the most telling it has: its domain (d:), a value of its identity data (i:provider
-- value, or i:provider), a value of its app metadata (a:value), its provider (p:), or nothing (*: every user).
create or replace function profile_sync.attribute_rule_key(rule jsonb)
returns text
language sql immutable parallel safe
set search_path = ''
as $$
  select case
    when rule ->> 0 is not null then 'd:' || (rule ->> 0)
    when pg_catalog.jsonb_typeof(rule -> 4) = 'object'
      then coalesce((profile_sync.lookup_keys('i:' || (rule ->> 1) || ' ', rule -> 4))[1], 'i:' || (rule ->> 1))
    when (profile_sync.lookup_keys('a:', rule -> 2))[1] is not null then (profile_sync.lookup_keys('a:', rule -> 2))[1]
    when rule ->> 1 is not null then 'p:' || (rule ->> 1)
    else '*'
  end
$$;
revoke all on function profile_sync.attribute_rule_key(jsonb) from public, anon, authenticated, service_role;

create or replace function profile_sync.compile_attribute_rules()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  -- One change at a time; each rebuild reads the rules as committed by the changes before it (READ COMMITTED,
  -- the default: in a REPEATABLE READ transaction, change rules in a transaction of their own).
  lock table profile_sync.attribute_rules_digest in exclusive mode;
  delete from profile_sync.attribute_rules_digest;
  delete from profile_sync.attribute_rules_by_key;
  with compiled as (
    select pg_catalog.row_number() over (order by r.position, r.id) as place,
           profile_sync.attribute_rule_entry(r.email_domain, r.provider, r.app_metadata, r.attributes, r.identity_data) as rule
    from profile_sync.attribute_rules r
  ), filed as (
    insert into profile_sync.attribute_rules_by_key (key, rules)
    select profile_sync.attribute_rule_key(c.rule),
           pg_catalog.jsonb_object_agg(pg_catalog.to_char(c.place, 'FM0000000000'), c.rule)
    from compiled c
    group by 1
  )
  insert into profile_sync.attribute_rules_digest (version, domains, identity_providers)
  select pg_catalog.hashtextextended(pg_catalog.jsonb_agg(c.rule order by c.place)::text, 0),
         pg_catalog.jsonb_object_agg(c.rule ->> 0, true) filter (where c.rule ->> 0 is not null),
         nullif(pg_catalog.array_agg(distinct c.rule ->> 1) filter (where pg_catalog.jsonb_typeof(c.rule -> 4) = 'object'), '{}')
  from compiled c
  having pg_catalog.count(*) > 0;
  return null;
end
$$;
revoke all on function profile_sync.compile_attribute_rules() from public, anon, authenticated, service_role;
create or replace trigger attribute_rules_compile
  after insert or update or delete or truncate on profile_sync.attribute_rules
  for each statement execute function profile_sync.compile_attribute_rules();
-- A statement that changes no row still fires statement triggers: the rules are compiled from those there are now.
update profile_sync.attribute_rules set position = position where false;

-- Proof of an address. A domain says who someone is only if they control a mailbox in it, and Supabase Auth's
-- "confirmed" (email_confirmed_at) does not say that: with "Confirm email" off (autoconfirm), for admin-created users,
-- for OAuth and SAML sign-ins, and for an admin's change of an address, it is set without anyone opening a mail. So an
-- address counts as proven only when one of these holds:
--   a token mailed to it was presented to Auth's verify endpoint: the signup confirmation or an invite, a magic link or
--     OTP (recovery_token), or the link sent to the new address of an e-mail change; recorded in email_proofs by
--     record_email_proof(), which sees each consumption as it happens (auth.users alone cannot tell it from the rest
--     afterwards), and kept only if the same transaction signed the user in by that token
--     (profile_sync.signed_in_by_mailed_token): Auth empties the same columns in flows that present nothing;
--   an identity of a provider in settings.email_verifying_providers says email_verified for it;
--   it is a SAML user's, and the domain is one of that SSO provider's own domains (auth.sso_domains): Supabase Auth
--     itself lets any configured identity provider assert any address.
-- Domains compare byte for byte after ASCII-only lower-casing (profile_sync.email_domain): no other letter is folded, so a
-- look-alike such as the Kelvin sign K never matches an ASCII domain; non-ASCII domains match only in their xn-- form.
create table if not exists profile_sync.email_proofs (
  user_id uuid not null,
  email text not null,
  proven_at timestamptz not null default pg_catalog.now(),
  proven_by text not null check (proven_by in ('confirmation_token', 'recovery_token', 'email_change_token_new')),
  presented_in xid8,
  primary key (user_id, email)
);
comment on table profile_sync.email_proofs is
  'Addresses each user proved control of by presenting a token mailed to them (kept by triggers on auth.users; the '
  'foreign key to auth.users is added with the triggers). Do not edit by hand.';
comment on column profile_sync.email_proofs.presented_in is
  'The transaction that presented the token, while its proof waits for that transaction''s commit to say whether it '
  'signed the user in by the token (profile_sync.settle_email_proofs); null once it did. Never counts for another transaction.';
alter table profile_sync.email_proofs enable row level security;
revoke all on profile_sync.email_proofs from public, anon, authenticated, service_role;

-- Mailed tokens that were still pending when their user's address changed: minted for the previous address, whatever
-- their one-time-token row says. Auth writes that row's address with Go's strings.ToLower, which folds the Kelvin sign
-- K to k and the dotted capital I to i, so a token mailed to such a look-alike reads as minted for the ASCII address an
-- admin later moves the user to.
create table if not exists profile_sync.tokens_of_previous_addresses (
  one_time_token_id uuid primary key,
  user_id uuid not null
);
comment on table profile_sync.tokens_of_previous_addresses is
  'Mailed tokens (auth.one_time_tokens ids) pending when their user''s address changed: no proof of the new address '
  '(kept by a trigger on auth.users; the foreign key to auth.users is added with the triggers). Do not edit by hand.';
alter table profile_sync.tokens_of_previous_addresses enable row level security;
revoke all on profile_sync.tokens_of_previous_addresses from public, anon, authenticated, service_role;

-- Records a proof from one UPDATE of auth.users, as it happens (the trigger profile_sync_email_proved, while the
-- one-time token it consumed still exists). Each flow's write is recognised by its exact shape, so that the updates
-- that empty a token without anyone presenting it (a password change, an identity link or unlink, a soft delete, an
-- e-mail change confirmed from either of two links) record nothing: see supabase/auth internal/models/user.go
-- (Confirm, Recover, ConfirmEmailChange, UpdatePassword) and internal/api/verify.go. The shapes alone do not tell a
-- presented token from Confirm or UpdatePassword called with none (an OAuth sign-in over an unconfirmed user, a signup
-- repeated under autoconfirm, an admin's email_confirm or password, an anonymous user's address applied under
-- autoconfirm), so the proof is recorded as presented in this transaction and settled at its commit
-- (profile_sync.settle_email_proofs). A change of address notes the tokens still pending as the previous address's
-- (tokens_of_previous_addresses). Never fails the auth server's statement: a failure only warns.
create or replace function profile_sync.record_email_proof()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  kind text;
  presented text;
  address text;
  -- Whether the token was minted for this very address (not a phone number, not an earlier address); null: no
  -- one-time-token row is left to tell.
  minted_for_address boolean := true;
begin
  if new.deleted_at is not null then
    return null;
  end if;
  if new.email is distinct from old.email then
    begin
      -- The address changed: the confirmation or magic link pending was mailed to the previous one.
      insert into profile_sync.tokens_of_previous_addresses (one_time_token_id, user_id)
      select t.id, t.user_id from auth.one_time_tokens t
      where t.user_id = new.id and t.token_type::text in ('confirmation_token', 'recovery_token')
      on conflict do nothing;
    exception when others then
      raise warning 'profile_sync: the tokens of a previous address of auth user % were not noted (SQLSTATE %: %)', new.id, sqlstate, sqlerrm;
    end;
  end if;
  if coalesce(old.confirmation_token, '') <> '' and coalesce(new.confirmation_token, '') = ''
     and new.email is not distinct from old.email
     and new.phone_confirmed_at is not distinct from old.phone_confirmed_at -- a phone OTP shares the column
     and old.email_confirmed_at is null
     and (new.email_confirmed_at is not null and new.encrypted_password is not distinct from old.encrypted_password
          -- an invite is accepted by setting a password, which empties the token just before the confirmation
          or old.invited_at is not null) then
    kind := 'confirmation_token';
    presented := old.confirmation_token;
    address := new.email;
  elsif coalesce(old.recovery_token, '') <> '' and coalesce(new.recovery_token, '') = '' -- a magic link, an OTP, a recovery
     and new.encrypted_password is not distinct from old.encrypted_password
     and new.email is not distinct from old.email
     and coalesce(new.confirmation_token, '') = coalesce(old.confirmation_token, '')
     and coalesce(new.email_change_token_new, '') = coalesce(old.email_change_token_new, '') then
    kind := 'recovery_token';
    presented := old.recovery_token;
    address := new.email;
  elsif coalesce(old.email_change_token_new, '') <> '' and coalesce(new.email_change_token_new, '') = ''
     and coalesce(old.email_change, '') <> ''
     and new.encrypted_password is not distinct from old.encrypted_password then
    kind := 'email_change_token_new';
    presented := old.email_change_token_new;
    address := old.email_change;
    if new.email is not distinct from old.email_change and coalesce(new.email_change, '') = '' then
      -- The change applied. Both tokens emptied at once: either link could have been the one (under autoconfirm both
      -- are mailed and the first click applies it): not a proof of the new address.
      if coalesce(old.email_change_token_current, '') <> '' and coalesce(new.email_change_token_current, '') = '' then
        return null;
      end if;
    elsif new.email is not distinct from old.email and new.email_change is not distinct from old.email_change
          and old.email_change_confirm_status = 0 and new.email_change_confirm_status = 1
          and coalesce(new.email_change_token_current, '') = coalesce(old.email_change_token_current, '') then
      -- The first of a secure change's two links, the new address's: Auth deletes that token's one-time-token row
      -- just before this update; no other write has this shape.
      minted_for_address := null;
    else
      return null;
    end if;
  else
    return null;
  end if;

  begin
    if minted_for_address is not null then
      -- Auth deletes the row right after this update. Its address is as Auth lower-cased it; compared byte for byte
      -- after ASCII-only lower-casing, as domains are (the database's lower() folds the Kelvin sign K to k).
      select exists (
        select 1 from auth.one_time_tokens t
        where t.user_id = new.id and t.token_type::text = kind and t.token_hash = presented
          and pg_catalog.lower(t.relates_to collate "C") = pg_catalog.lower(address collate "C")
          and not exists (select 1 from profile_sync.tokens_of_previous_addresses m where m.one_time_token_id = t.id))
      into minted_for_address;
    end if;
    if coalesce(minted_for_address, true) and address is not null then
      -- Pending on this transaction, but for the first link of a secure change, which signs nobody in and has no other
      -- writer. A settled proof stays settled: a later write that proves nothing does not take it back.
      insert into profile_sync.email_proofs as p (user_id, email, proven_by, presented_in)
      values (new.id, address, kind, case when minted_for_address is not null then pg_catalog.pg_current_xact_id() end)
      on conflict (user_id, email) do update
        set proven_at = excluded.proven_at, proven_by = excluded.proven_by, presented_in = excluded.presented_in
        where p.presented_in is not null or excluded.presented_in is null;
    end if;
  exception when others then
    raise warning 'profile_sync: no proof of an address recorded for auth user % (SQLSTATE %: %)', new.id, sqlstate, sqlerrm;
  end;
  return null;
end
$$;
revoke all on function profile_sync.record_email_proof() from public, anon, authenticated, service_role;

-- Whether this transaction signed the user in by a mailed token: what Auth's verify endpoint does, in the transaction
-- in which it consumes the token (internal/api/verify.go), and no flow that presents nothing does. Either a session by
-- one-time password (tokens/service.go IssueRefreshToken: the session's amr claim 'otp', amr.go AddClaimToSession) or,
-- for a link opened in a PKCE flow, the code issued on the flow state of an e-mail verification (pkce.go
-- issueAuthCode: auth_code_issued_at, the methods of models.ParseAuthenticationMethod it accepts). An OAuth sign-in
-- issues 'oauth', a signup repeated under autoconfirm 'password' in a later transaction, an admin and PUT /user none.
-- "This transaction" is the row's xmin: Auth's nested transactions are one transaction without savepoints
-- (internal/storage/dial.go).
create or replace function profile_sync.signed_in_by_mailed_token(user_id uuid)
returns boolean
language sql stable
set search_path = ''
as $$
  select coalesce(
    exists (select 1 from auth.sessions s join auth.mfa_amr_claims c on c.session_id = s.id
            where s.user_id = signed_in_by_mailed_token.user_id and c.authentication_method = 'otp'
              and c.xmin = pg_catalog.pg_current_xact_id_if_assigned()::xid)
    or exists (select 1 from auth.flow_state f
               where f.user_id = signed_in_by_mailed_token.user_id
                 and f.authentication_method in ('email/signup', 'invite', 'magiclink', 'recovery', 'email_change')
                 and f.auth_code_issued_at is not null
                 and f.xmin = pg_catalog.pg_current_xact_id_if_assigned()::xid),
    false)
$$;
revoke all on function profile_sync.signed_in_by_mailed_token(uuid) from public, anon, authenticated, service_role;

-- At the commit of a transaction that emptied a mailed token (the deferred trigger profile_sync_email_proof_settled):
-- the proofs it recorded are settled if it signed the user in by the token, and dropped if not; so are the pending
-- proofs another transaction of the user left behind. Before the commit, profile_sync.email_proof already counts them
-- when the evidence is there (the token hook and the fallback convergence run before this). A transaction that runs
-- its deferred triggers early (`set constraints all immediate`) settles before any sign-in that follows; Auth does not.
-- Never fails the auth server's commit: a failure only warns, and the pending proofs then count for nobody.
create or replace function profile_sync.settle_email_proofs()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  begin
    if exists (select 1 from profile_sync.email_proofs p where p.user_id = new.id and p.presented_in is not null) then
      if profile_sync.signed_in_by_mailed_token(new.id) then
        update profile_sync.email_proofs p set presented_in = null
        where p.user_id = new.id and p.presented_in = pg_catalog.pg_current_xact_id_if_assigned();
      end if;
      delete from profile_sync.email_proofs p where p.user_id = new.id and p.presented_in is not null;
    end if;
    -- Notes of tokens Auth has deleted since (a consumed token's row goes in the same transaction).
    delete from profile_sync.tokens_of_previous_addresses m
    where m.user_id = new.id and not exists (select 1 from auth.one_time_tokens t where t.id = m.one_time_token_id);
  exception when others then
    raise warning 'profile_sync: the proofs of an address of auth user % were not settled (SQLSTATE %: %)', new.id, sqlstate, sqlerrm;
  end;
  return null;
end
$$;
revoke all on function profile_sync.settle_email_proofs() from public, anon, authenticated, service_role;

-- How a user proved control of this address, by the first of the three ways above that holds: the token presented
-- (confirmation_token, recovery_token, email_change_token_new), 'provider:<name>' or 'sso:<provider id>'; null when
-- none does. A proof still pending counts only in the transaction that presented the token, once it signed the user
-- in by it: the token issued by Auth's verify endpoint and its commit's convergence see it.
create or replace function profile_sync.email_proof(user_id uuid, email text)
returns text
language sql stable parallel safe security definer
set search_path = ''
as $$
  select coalesce(
    (select p.proven_by from profile_sync.email_proofs p
     where p.user_id = email_proof.user_id and lower(p.email collate "C") = lower(email_proof.email collate "C")
       and (p.presented_in is null
            or (p.presented_in = pg_catalog.pg_current_xact_id_if_assigned()
                and profile_sync.signed_in_by_mailed_token(email_proof.user_id)))
     order by p.proven_at desc limit 1),
    (select 'provider:' || i.provider from auth.identities i, profile_sync.settings s
     where i.user_id = email_proof.user_id and s.singleton and i.provider = any(s.email_verifying_providers)
       and i.identity_data -> 'email_verified' = 'true'::jsonb
       and lower((i.identity_data ->> 'email') collate "C") = lower(email_proof.email collate "C")
     order by i.provider limit 1),
    (select i.provider from auth.identities i join auth.sso_domains d on i.provider = 'sso:' || d.sso_provider_id::text
     where i.user_id = email_proof.user_id
       and profile_sync.email_domain(d.domain) = profile_sync.email_domain(email_proof.email)
     order by i.provider limit 1))
$$;
revoke all on function profile_sync.email_proof(uuid, text) from public, anon, authenticated, service_role;

-- The rules that may match a user, in the order they apply: those filed under one of the user's facts
-- (attribute_rule_key): every user (*), the e-mail's domain, each provider of the app metadata, each value of the app
-- metadata, and, when identity rules name providers, each identity of those providers and each value of its data.
create or replace function profile_sync.candidate_rules(
  user_id uuid, user_email text, user_app_metadata jsonb, identity_providers text[])
returns jsonb
language plpgsql stable parallel safe
set search_path = ''
as $$
declare
  providers jsonb := user_app_metadata -> 'providers';
  -- What `providers ? rule_provider` finds: an array's strings, an object's keys, a string.
  names jsonb := case pg_catalog.jsonb_typeof(providers)
    when 'array' then pg_catalog.jsonb_path_query_array(providers, 'strict $[*] ? (@.type() == "string")')
    when 'object' then pg_catalog.jsonb_path_query_array(providers, 'strict $.keyvalue().key')
    when 'string' then pg_catalog.jsonb_build_array(providers) end;
  facts text[] := array['*', 'd:' || profile_sync.email_domain(user_email), 'p:' || (user_app_metadata ->> 'provider')]
                  || profile_sync.lookup_keys('a:', user_app_metadata);
  identity record;
  candidates jsonb;
begin
  for i in 0 .. coalesce(pg_catalog.jsonb_array_length(names), 0) - 1 loop
    facts := facts || ('p:' || (names ->> i));
  end loop;
  if identity_providers is not null then
    for identity in select i.provider, i.identity_data from auth.identities i
                    where i.user_id = candidate_rules.user_id and i.provider = any(identity_providers) loop
      facts := facts || ('i:' || identity.provider) || profile_sync.lookup_keys('i:' || identity.provider || ' ', identity.identity_data);
    end loop;
  end if;
  -- The rules of all those facts, each once, in order (the keys are their places), as an array. A subquery for each
  -- fact, so that it is looked up by the key's index whatever the plan.
  select coalesce(pg_catalog.jsonb_path_query_array(pg_catalog.jsonb_object_agg(r.key, r.value), '$.*'), '[]')
  into candidates
  from pg_catalog.unnest(facts) f(fact)
  cross join lateral pg_catalog.jsonb_each((select k.rules from profile_sync.attribute_rules_by_key k where k.key = f.fact)) r;
  return candidates;
end
$$;
revoke all on function profile_sync.candidate_rules(uuid, text, jsonb, text[]) from public, anon, authenticated, service_role;

-- What the matching ones of these rules give a user, merged in order (later keys over earlier ones); null when none
-- matches. The rules: a user's candidates (candidate_rules), or one rule (explain). Expressions only, but for the
-- proof of an address, looked up once and only when a domain rule names the user's domain, and the user's identities,
-- looked up only for an identity rule that every other column matched.
create or replace function profile_sync.matching_attributes(
  rules jsonb, user_id uuid, user_email text, user_app_metadata jsonb)
returns jsonb
language plpgsql stable parallel safe
set search_path = ''
as $$
declare
  rule jsonb;
  rule_domain text;
  rule_provider text;
  rule_app_metadata jsonb;
  rule_identity_data jsonb;
  user_domain text := profile_sync.email_domain(user_email);
  proven boolean;
  user_provider text := user_app_metadata ->> 'provider';
  user_providers jsonb := user_app_metadata -> 'providers';
  merged jsonb;
begin
  -- Each match column read once, and a rule left at the first one that does not match: most rules do not.
  for i in 0 .. jsonb_array_length(rules) - 1 loop
    rule := rules -> i;
    rule_domain := rule ->> 0;
    if rule_domain is not null then
      continue when user_domain is null or rule_domain <> user_domain collate "C";
      proven := coalesce(proven, profile_sync.email_proof(user_id, user_email) is not null);
      continue when not proven;
    end if;
    rule_app_metadata := rule -> 2;
    continue when rule_app_metadata <> 'null'::jsonb and not coalesce(user_app_metadata @> rule_app_metadata, false);
    rule_provider := rule ->> 1;
    rule_identity_data := rule -> 4;
    if rule_identity_data is null or rule_identity_data = 'null'::jsonb then
      continue when rule_provider is not null and user_provider is distinct from rule_provider
                and not coalesce(user_providers ? rule_provider, false);
    else
      -- The provider's own record of the sign-in, never the copy in the user's metadata.
      continue when not exists (select 1 from auth.identities i
                                where i.user_id = matching_attributes.user_id and i.provider = rule_provider
                                  and i.identity_data @> rule_identity_data);
    end if;
    merged := case when merged is null then rule -> 3 else merged || (rule -> 3) end;
  end loop;
  return merged;
end
$$;
revoke all on function profile_sync.matching_attributes(jsonb, uuid, text, jsonb) from public, anon, authenticated, service_role;

-- The rule for a display name, whoever writes it: what a person would see, nothing hidden. Plain when
-- plain_display_name leaves it as it is, and plain_display_name(plain_display_name(x)) = plain_display_name(x):
--   every White_Space character (tab, line breaks, no-break and ideographic spaces, …) and the Hangul fillers, which
--     render as nothing, become a space;
--   every character of Unicode's general categories Cc, Cf, Co, Zl and Zp (Cs cannot occur in text) goes, with the
--     other default-ignorable code points but the variation selectors (the combining grapheme joiner, tag characters,
--     …): the controls, zero-width characters, bidirectional marks, overrides and isolates, the soft hyphen;
--   a zero-width joiner stays only between two pictographs (🏳️‍🌈, 👩🏽‍💻), where it joins emoji and hides nothing;
--   then leading spaces go, it is cut to 200 characters (a joiner left at the cut goes too), and trailing spaces go;
--   nothing left: null.
-- The character classes are Unicode's, generated from its character database (tests check them against .NET's).
-- The mapping makes what it derives plain (so a signup never loses its profile to the constraint);
-- public.user_profiles refuses any other name (user_profiles_display_name_check).

-- PL/pgSQL, to write the classes once and name no other function of this schema, which the roles that write a name
-- (the constraint runs as them) cannot see.
create or replace function profile_sync.plain_display_name(name text)
returns text
language plpgsql immutable parallel safe
set search_path = ''
as $$
declare
  -- The first 1,000 characters hold the name unless most of them are cleaned away; only then the whole (a user's
  -- metadata is theirs to make huge, and its size is what they pay).
  candidate text := pg_catalog.left(name, 1000);
  cleaned text;
begin
  loop
    -- Spaces for the white space, no invisible character, no leading space.
    cleaned := pg_catalog.ltrim(pg_catalog.regexp_replace(pg_catalog.regexp_replace(candidate,
      -- White_Space, and the Hangul fillers
      '[\u0009-\u000d\u0085\u00a0\u115f\u1160\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u3164\uffa0]', ' ', 'g'),
      -- Cc, Cf, Co and the default-ignorable code points but white space, variation selectors and the zero-width joiner
      '[\u0001-\u0008\u000e-\u001f\u007f-\u0084\u0086-\u009f\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891'
      '\u08e2\u17b4\u17b5\u180e\u200b\u200c\u200e\u200f\u202a-\u202e\u2060-\u206f\ue000-\uf8ff\ufeff\ufff0-\ufffb'
      '\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e00ff'
      '\U000e01f0-\U000e0fff\U000f0000-\U000ffffd\U00100000-\U0010fffd]'
      -- a zero-width joiner not between two pictographs (the symbol blocks where Unicode's Extended_Pictographic
      -- characters are, an emoji's variation selector or skin tone included before it)
      '|(?<![\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u21aa\u231a-\u23ff\u24c2\u25aa-\u27bf\u2934\u2935\u2b05-\u2b55\u3030\u303d\u3297\u3299\U0001f000-\U0001faff]\ufe0f?)\u200d'
      '|\u200d(?![\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u21aa\u231a-\u23ff\u24c2\u25aa-\u27bf\u2934\u2935\u2b05-\u2b55\u3030\u303d\u3297\u3299\U0001f000-\U0001faff])',
      '', 'g'), ' ');
    exit when candidate is not distinct from name or pg_catalog.length(cleaned) > 200;
    candidate := name;
  end loop;
  return nullif(pg_catalog.rtrim(pg_catalog.regexp_replace(pg_catalog.left(cleaned, 200), '\u200d+$', ''), ' '), '');
end
$$;
revoke all on function profile_sync.plain_display_name(text) from public, anon;
-- The constraint calls it as whoever writes a profile: a signed-in user renaming themselves, the service role.
grant execute on function profile_sync.plain_display_name(text) to authenticated, service_role;

-- A user's identity data for these providers, for the fingerprint. PL/pgSQL, so that it stays a call the mapping makes
-- only when identity rules exist: as a subquery it would be part of every plan that reads the mapping.
create or replace function profile_sync.identity_data_of(user_id uuid, providers text[])
returns jsonb[]
language plpgsql stable parallel safe
set search_path = ''
as $$
begin
  return array(select i.identity_data from auth.identities i
               where i.user_id = identity_data_of.user_id and i.provider = any(providers)
               order by i.provider, i.id);
end
$$;
revoke all on function profile_sync.identity_data_of(uuid, text[]) from public, anon, authenticated, service_role;

-- The one mapping from an auth user to the profile fields it implies. A view, not functions: its names and operators
-- are bound when it is created (no search_path can redirect them) and the planner inlines it into every query.
--   display_name  the first of user metadata display_name, full_name, name, then the e-mail, then the phone, that
--                 is not blank once made plain (profile_sync.plain_display_name)
--   is_active     false while soft-deleted or banned until a time still to come
--   attributes    the defaults, with the matching attribute rules merged over them
--   fingerprint   what these fields were derived from, which convergence stores on the profile (source_fingerprint):
--                 equal fingerprints, equal fields, so a pass over everyone derives again only the profiles whose
--                 fingerprint differs (profile_sync.profile_state). A digest of the mapping's version (this view's,
--                 below, and the defaults, rules and trusted providers), of the columns the fields read (the names'
--                 candidates, e-mail, phone, the app metadata when there are rules, the identity data of the providers
--                 identity rules name, for a user whose app metadata lists one) and of is_active itself, which time
--                 alone changes (a ban lapses). Null, "derive every time", for a user whose address is in a domain
--                 a rule names: whether it is proven is kept in other tables (email_proofs, auth.identities,
--                 auth.sso_domains). A 64-bit hash: the passes trust it (a user who could read their fingerprint and
--                 write their metadata to collide with it would hide drift from a pass only), convergence does not.
create or replace view profile_sync.derived_profiles as
select
  u.id as user_id,
  u.email::text as email,
  -- The function only for what may need it (a regular expression test costs a fraction of a call per user): the
  -- first candidate not blank, trimmed, is the name when it is printable ASCII of at most 200 characters (plain as it
  -- is); otherwise the chain again, each candidate made plain, so that one that cleans to nothing gives way to the next.
  case when n.name ~ '[^ -~]' or pg_catalog.length(n.name) > 200
       then coalesce(profile_sync.plain_display_name(u.raw_user_meta_data ->> 'display_name'),
                     profile_sync.plain_display_name(u.raw_user_meta_data ->> 'full_name'),
                     profile_sync.plain_display_name(u.raw_user_meta_data ->> 'name'),
                     profile_sync.plain_display_name(u.email),
                     profile_sync.plain_display_name(u.phone))
       else n.name end as display_name,
  n.active as is_active,
  -- Uncorrelated subqueries, read once per statement: the defaults and what the mapping reads of the rules. Without
  -- rules no user pays for them. A function, not a correlated subquery: that would keep every query of the view from
  -- running in parallel. The defaults are read in each branch on purpose: one `||` for both would concatenate for
  -- every user even when there are no rules, which slowed status measurably.
  case when (select r.version from profile_sync.attribute_rules_digest r where r.singleton) is null
    then coalesce((select s.default_attributes from profile_sync.settings s where s.singleton), '{}'::jsonb)
    else coalesce((select s.default_attributes from profile_sync.settings s where s.singleton), '{}'::jsonb)
         || coalesce(profile_sync.matching_attributes(
              profile_sync.candidate_rules(u.id, u.email, u.raw_app_meta_data,
                (select r.identity_providers from profile_sync.attribute_rules_digest r where r.singleton)),
              u.id, u.email, u.raw_app_meta_data), '{}'::jsonb)
  end as attributes,
  u.updated_at as source_updated_at,
  u.created_at,
  -- The domains as a value in memory (concatenated with nothing), which every row reads: as stored, compressed, each
  -- row would decompress it again. The address's domain as profile_sync.email_domain makes it, written out here: a
  -- call of it for every user of a pass cost more than the rest of the fingerprint's part for rules.
  case when (select r.domains from profile_sync.attribute_rules_digest r where r.singleton) is null
         or not coalesce((select r.domains || '{}'::jsonb from profile_sync.attribute_rules_digest r where r.singleton)
                         ? pg_catalog.lower(pg_catalog.split_part(u.email::text, '@', -1) collate "C"), false)
    -- Seeded with the version: the name changes when this view or a function it calls derives differently.
    then pg_catalog.hash_record_extended(row(
      u.email, u.phone, u.raw_user_meta_data ->> 'display_name', u.raw_user_meta_data ->> 'full_name',
      u.raw_user_meta_data ->> 'name', n.active,
      case when (select r.version from profile_sync.attribute_rules_digest r where r.singleton) is not null
           then u.raw_app_meta_data end,
      -- Looked up only for a user whose app metadata lists one of those providers, as Supabase Auth lists every
      -- provider the user has an identity of.
      case when coalesce(u.raw_app_meta_data -> 'providers' ?| (select r.identity_providers from profile_sync.attribute_rules_digest r
                                                                where r.singleton), false)
           then profile_sync.identity_data_of(u.id, (select r.identity_providers from profile_sync.attribute_rules_digest r
                                                     where r.singleton)) end),
      (select pg_catalog.hash_record_extended(row('derived_profiles 1'::text, s.default_attributes, s.email_verifying_providers, r.version), 0)
       from profile_sync.settings s left join profile_sync.attribute_rules_digest r on r.singleton
       where s.singleton))
  end as fingerprint
from auth.users u
cross join lateral (select coalesce(
    nullif(pg_catalog.btrim(u.raw_user_meta_data ->> 'display_name'), ''),
    nullif(pg_catalog.btrim(u.raw_user_meta_data ->> 'full_name'), ''),
    nullif(pg_catalog.btrim(u.raw_user_meta_data ->> 'name'), ''),
    nullif(pg_catalog.btrim(u.email), ''),
    nullif(pg_catalog.btrim(u.phone), '')) as name,
  u.deleted_at is null and (u.banned_until is null or u.banned_until <= pg_catalog.now()) as active) n;
revoke all on profile_sync.derived_profiles from public, anon, authenticated, service_role;
