-- ProfileFunctions: the signed Database Webhook. Every INSERT, UPDATE and DELETE on auth.users is posted to the
-- function (`/api/auth-events`) through pg_net with the body Supabase's Database Webhooks send, signed as
-- Standard Webhooks in SQL, so only a per-request signature sits in pg_net's queue, never the secret.
--
-- Inert until both Vault secrets exist:
--   select vault.create_secret('https://<app>.azurewebsites.net/api/auth-events?code=<function key>', 'profile_sync_function_url');
--   select vault.create_secret('v1,whsec_<base64>', 'profile_sync_webhook_secret');   -- the function's ProfileSync__WebhookSecret
-- Like the fallback trigger, it never blocks a signup: with no configuration, or on any error, it only warns.

create or replace function profile_sync.post_auth_event()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  function_url text;
  secret text;
  signing_key bytea;
  body jsonb;
  message_id text;
  sent_at text;
begin
  begin
    select s.decrypted_secret into function_url from vault.decrypted_secrets s where s.name = 'profile_sync_function_url';
    select s.decrypted_secret into secret from vault.decrypted_secrets s where s.name = 'profile_sync_webhook_secret';
    if function_url is null or secret is null then
      return null; -- not configured: nothing to send
    end if;

    -- Database Webhooks' body; rows carry only what a profile needs (no password hash, no tokens in the queue).
    body := pg_catalog.jsonb_build_object(
      'type', tg_op, 'table', tg_table_name, 'schema', tg_table_schema,
      'record', case when tg_op = 'DELETE' then null else profile_sync.auth_event_row(new) end,
      'old_record', case when tg_op = 'INSERT' then null else profile_sync.auth_event_row(old) end);

    -- Standard Webhooks: HMAC-SHA256 over "id.timestamp.body" with the first secret (the newest, during a rotation).
    signing_key := pg_catalog.decode(pg_catalog.split_part(pg_catalog.split_part(secret, '|', 1), 'whsec_', 2), 'base64');
    message_id := 'msg_' || pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', '');
    sent_at := pg_catalog.floor(extract(epoch from pg_catalog.clock_timestamp()))::bigint::text;
    perform net.http_post(
      url := function_url,
      body := body,
      headers := pg_catalog.jsonb_build_object(
        'Content-Type', 'application/json',
        'webhook-id', message_id,
        'webhook-timestamp', sent_at,
        'webhook-signature', 'v1,' || pg_catalog.encode(extensions.hmac(
          pg_catalog.convert_to(message_id || '.' || sent_at || '.' || body::text, 'UTF8'), signing_key, 'sha256'), 'base64')),
      -- Room for a cold start of the function app.
      timeout_milliseconds := 15000);
  exception when others then
    raise warning 'profile_sync: auth event for user % not queued (SQLSTATE %: %)',
      coalesce(new.id, old.id), sqlstate, sqlerrm;
  end;
  return null;
end
$$;

-- The columns of an auth.users row that the function reads, under their database names.
create or replace function profile_sync.auth_event_row(u auth.users)
returns jsonb
language sql stable
set search_path = ''
as $$
  select pg_catalog.jsonb_build_object(
    'id', u.id, 'email', u.email, 'phone', u.phone, 'raw_user_meta_data', u.raw_user_meta_data,
    'banned_until', u.banned_until, 'deleted_at', u.deleted_at, 'is_anonymous', u.is_anonymous,
    'created_at', u.created_at, 'updated_at', u.updated_at)
$$;

revoke all on function profile_sync.post_auth_event() from public, anon, authenticated, service_role;
revoke all on function profile_sync.auth_event_row(auth.users) from public, anon, authenticated, service_role;

do $$
begin
  if not exists (select 1 from pg_catalog.pg_trigger t
                 where t.tgrelid = 'auth.users'::regclass and t.tgname = 'profile_sync_post_auth_event') then
    create trigger profile_sync_post_auth_event
      after insert or update or delete on auth.users
      for each row execute function profile_sync.post_auth_event();
  end if;
end $$;
