-- Supabase stand-in, cluster level: the roles a Supabase database has, with the attributes that matter here.
-- Run once per cluster as the bootstrap superuser `supabase_admin` (as on hosted Supabase, where `postgres`
-- is NOT a superuser). Local passwords are all `postgres`, as `supabase start` gives. Never use this file on a
-- real project.
\set ON_ERROR_STOP on

do $$
declare
  r record;
begin
  for r in
    select * from (values
      ('postgres',            'login createrole createdb replication bypassrls'),
      ('anon',                'nologin noinherit'),
      ('authenticated',       'nologin noinherit'),
      ('service_role',        'nologin noinherit bypassrls'),
      ('authenticator',       'login noinherit'),
      ('supabase_auth_admin', 'login noinherit createrole'),
      ('dashboard_user',      'nologin createrole createdb replication')
    ) as t(name, attrs)
  loop
    if not exists (select 1 from pg_roles where rolname = r.name) then
      execute format('create role %I %s', r.name, r.attrs);
    else
      execute format('alter role %I nosuperuser %s', r.name, r.attrs);
    end if;
  end loop;
end $$;

alter role supabase_admin  with password 'postgres';
alter role postgres        with password 'postgres';
alter role authenticator   with password 'postgres';
alter role supabase_auth_admin with password 'postgres';

grant anon, authenticated, service_role to authenticator;
-- The SQL editor and `supabase test db` switch to the API roles as `postgres`.
grant anon, authenticated, service_role to postgres with admin option;
grant pg_read_all_data, pg_signal_backend to postgres;

alter role supabase_auth_admin set search_path = auth;
alter role postgres set search_path = "$user", public, extensions;
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';
