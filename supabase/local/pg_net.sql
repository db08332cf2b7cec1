-- Supabase stand-in: pg_net's SQL surface, for the local emulator and tests. net.http_post queues the request
-- exactly as pg_net does (body = the jsonb's text, UTF-8; the queue and the responses in unlogged tables) and sends
-- nothing itself: `profilesync` delivers the queue, as pg_net's worker would. pg_net wakes its worker with a latch
-- (net.wake()), which costs the caller nothing at commit; a NOTIFY here would make every signup that posts wait its
-- turn for a database-wide lock as it commits, so the stand-in's worker polls instead. Run as supabase_admin.
\set ON_ERROR_STOP on

create schema if not exists net;

create unlogged table if not exists net.http_request_queue (
  id bigserial primary key,
  method text not null,
  url text not null,
  headers jsonb not null,
  body bytea,
  timeout_milliseconds integer not null
);

create unlogged table if not exists net._http_response (
  id bigint primary key,
  status_code integer,
  content_type text,
  headers jsonb,
  content text,
  timed_out boolean,
  error_msg text,
  created timestamptz not null default now()
);

create or replace function net.http_post(
  url text,
  body jsonb default '{}'::jsonb,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
  timeout_milliseconds integer default 5000)
returns bigint
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  request_id bigint;
  query text;
begin
  select string_agg(pg_catalog.format('%s=%s', p.key, p.value), '&') into query from pg_catalog.jsonb_each_text(params) p;
  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  values ('POST', url || coalesce('?' || query, ''), headers, pg_catalog.convert_to(body::text, 'UTF8'), timeout_milliseconds)
  returning id into request_id;
  return request_id;
end
$$;

grant usage on schema net to postgres, anon, authenticated, service_role;
grant execute on function net.http_post(text, jsonb, jsonb, jsonb, integer) to postgres, anon, authenticated, service_role;
-- The local dispatcher (PgNetWorker beside this file, pg_net's worker here) connects as postgres: it takes requests and records responses.
grant select, update, delete on net.http_request_queue to postgres;
grant select, insert on net._http_response to postgres;
