-- What Supabase's Security Advisor (the lints of supabase/splinter) checks, for the product's objects, and what a fresh
-- install leaves on auth.users: only the triggers that do work, no function that does nothing.
begin;
select plan(6);

select is(
  (select array_agg(p.proname::text order by p.proname)
   from pg_proc p join pg_namespace n on n.oid = p.pronamespace
   where n.nspname = 'profile_sync' and not coalesce(p.proconfig, '{}') @> array['search_path=""']),
  null,
  'every profile_sync function pins an empty search_path (lint function_search_path_mutable)');

select is(
  (select array_agg(n.nspname || '.' || c.relname order by 1)
   from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where n.nspname in ('public', 'graphql_public', 'profile_sync') and c.relkind in ('r', 'p') and not c.relrowsecurity),
  null,
  'every table in the exposed schemas and in profile_sync has row-level security (lint rls_disabled_in_public)');

select is(
  (select array_agg(n.nspname || '.' || c.relname order by 1)
   from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where n.nspname in ('public', 'graphql_public') and c.relkind in ('v', 'm')),
  null,
  'no view in an exposed schema (lint security_definer_view): the product''s views live in profile_sync');

select is(
  (select array_agg(p.proname::text order by p.proname)
   from pg_proc p join pg_namespace n on n.oid = p.pronamespace
   where n.nspname = 'profile_sync' and p.prosecdef
     and (has_function_privilege('anon', p.oid, 'execute') or has_function_privilege('authenticated', p.oid, 'execute'))),
  array['token_is_current'],
  'API roles can call no security definer function (lints *_security_definer_function_executable) but the check policies make of signed-in users'' tokens, in a schema the Data API does not expose');

select is(
  (select array_agg(t.tgname::text order by t.tgname) from pg_trigger t
   where t.tgrelid = 'auth.users'::regclass and not t.tgisinternal),
  array['profile_sync_email_proof_settled', 'profile_sync_email_proved', 'profile_sync_user_changed', 'profile_sync_user_created', 'profile_sync_user_deleted'],
  'on auth.users: exactly the triggers that do work');

select is(
  (select array_agg(p.proname::text order by p.proname)
   from pg_proc p join pg_namespace n on n.oid = p.pronamespace
   where n.nspname = 'profile_sync'
     and regexp_replace(p.prosrc, '--[^\n]*', '', 'g') ~* '^\s*begin\s+return\s+(null|new|old)\s*;\s*end\s*;?\s*$'),
  null,
  'no profile_sync function is a no-op');

select * from finish();
rollback;
