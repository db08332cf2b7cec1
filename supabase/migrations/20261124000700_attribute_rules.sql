-- ProfileFunctions: initial attributes from facts the auth server or an admin vouches for.
--
-- A profile's attributes are the defaults (profile_sync.settings) with every matching rule merged over them, in
-- ascending position (then id): a rule's top-level keys replace the same keys before them. Derived until owned:
-- once an admin or the service role sets a profile's attributes, no rule or default touches them again; setting
-- them to null hands them back. A rule matches on what the user cannot write:
--   email_domain   the e-mail's domain, case-insensitively, and only once the e-mail is confirmed (email_confirmed_at);
--   provider       one of the user's providers as the auth server records them (raw_app_meta_data provider, providers):
--                  email, phone, google, github, sso:<provider id>, …;
--   app_metadata   raw_app_meta_data contains this object (only the service role writes app metadata).
-- A null match column matches anything. No rule ever reads raw_user_meta_data: the user writes it at signup.
-- Rules change at runtime by SQL, like the defaults; profiles that are still derived follow at the next reconcile.

-- One place for what makes a rule valid, checked by the table's constraint: refused with a message that says what
-- is wrong and how to write it.
create or replace function profile_sync.attribute_rule_is_valid(email_domain text, provider text, app_metadata jsonb, attributes jsonb)
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
  end if;
  if problem is not null then
    raise exception 'attribute rule refused: %', problem
      using errcode = 'check_violation', constraint = 'attribute_rules_valid', hint = hint,
            table = 'attribute_rules', schema = 'profile_sync';
  end if;
  return true;
end
$$;
revoke all on function profile_sync.attribute_rule_is_valid(text, text, jsonb, jsonb) from public, anon, authenticated, service_role;

create table if not exists profile_sync.attribute_rules (
  id bigint generated always as identity primary key,
  position integer not null default 0,
  email_domain text,
  provider text,
  app_metadata jsonb,
  attributes jsonb not null,
  description text,
  constraint attribute_rules_valid check (profile_sync.attribute_rule_is_valid(email_domain, provider, app_metadata, attributes))
);
comment on table profile_sync.attribute_rules is
  'Initial profile attributes by rule: each matching rule''s attributes are merged over the defaults, in ascending '
  'position (then id). A null match column matches anything. Only for profiles whose attributes nobody has set.';
comment on column profile_sync.attribute_rules.email_domain is
  'Matches the e-mail''s domain (case-insensitive), once email_confirmed_at is set. No subdomains: list each.';
comment on column profile_sync.attribute_rules.provider is
  'Matches one of raw_app_meta_data provider / providers: email, phone, google, github, sso:<provider id>, …';
comment on column profile_sync.attribute_rules.app_metadata is 'Matches when raw_app_meta_data @> this object.';
comment on column profile_sync.attribute_rules.attributes is 'Merged over the defaults and earlier rules (top-level keys).';
alter table profile_sync.attribute_rules enable row level security;
revoke all on profile_sync.attribute_rules from public, anon, authenticated, service_role;

-- Merges JSON objects in the aggregate's order, later keys over earlier ones: jsonb's || as an aggregate; null when
-- nothing matched.
do $$
begin
  if pg_catalog.to_regprocedure('profile_sync.merge_objects(jsonb)') is null then
    create aggregate profile_sync.merge_objects(jsonb) (sfunc = pg_catalog.jsonb_concat, stype = jsonb, parallel = safe);
  end if;
end $$;
revoke all on function profile_sync.merge_objects(jsonb) from public, anon, authenticated, service_role;

-- The matching rules' attributes, merged in order; null when none matches. A function, not a subquery in the view:
-- a correlated subquery would keep every query of the view from running in parallel, rules or not. Names and
-- operators are schema-qualified (no search_path clause, which would cost every call).
create or replace function profile_sync.rule_attributes(user_email text, user_email_confirmed_at timestamptz, user_app_metadata jsonb)
returns jsonb
language sql stable parallel safe
as $$
  select profile_sync.merge_objects(r.attributes order by r.position, r.id)
  from profile_sync.attribute_rules r
  where (r.email_domain is null
         or (user_email_confirmed_at is not null
             and pg_catalog.lower(pg_catalog.split_part(user_email, '@', -1)) operator(pg_catalog.=) pg_catalog.lower(r.email_domain)))
    and (r.provider is null
         or (user_app_metadata operator(pg_catalog.->>) 'provider') operator(pg_catalog.=) r.provider
         or (user_app_metadata operator(pg_catalog.->) 'providers') operator(pg_catalog.?) r.provider)
    and (r.app_metadata is null or user_app_metadata operator(pg_catalog.@>) r.app_metadata)
$$;
revoke all on function profile_sync.rule_attributes(text, timestamptz, jsonb) from public, anon, authenticated, service_role;

-- The one mapping, now with the rules: every path (fallback trigger, webhook, replay, status) reads it through
-- profile_sync.profile_state. Same columns as before.
create or replace view profile_sync.derived_profiles as
select
  u.id as user_id,
  u.email::text as email,
  coalesce(
    nullif(pg_catalog.btrim(u.raw_user_meta_data ->> 'display_name'), ''),
    nullif(pg_catalog.btrim(u.raw_user_meta_data ->> 'full_name'), ''),
    nullif(pg_catalog.btrim(u.raw_user_meta_data ->> 'name'), ''),
    nullif(pg_catalog.btrim(u.email), ''),
    nullif(pg_catalog.btrim(u.phone), '')) as display_name,
  u.deleted_at is null and (u.banned_until is null or u.banned_until <= pg_catalog.now()) as is_active,
  -- Uncorrelated subqueries are read once per statement: the defaults, and whether there is any rule at all.
  -- Without rules no user pays for matching them.
  case when (select exists (select 1 from profile_sync.attribute_rules))
    then coalesce((select s.default_attributes from profile_sync.settings s where s.singleton), '{}'::jsonb)
         || coalesce(profile_sync.rule_attributes(u.email, u.email_confirmed_at, u.raw_app_meta_data), '{}'::jsonb)
    else coalesce((select s.default_attributes from profile_sync.settings s where s.singleton), '{}'::jsonb)
  end as attributes,
  u.updated_at as source_updated_at,
  u.created_at
from auth.users u;
revoke all on profile_sync.derived_profiles from public, anon, authenticated, service_role;

comment on column public.user_profiles.attributes is
  'Role, department, permissions, access level: the defaults with the matching profile_sync.attribute_rules merged '
  'over them, until an admin or the service role sets them (then listed in owned_fields). Set to null to hand back.';
