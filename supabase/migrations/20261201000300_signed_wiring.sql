-- ProfileFunctions: the signed Database Webhook. The triggers on auth.users (…_auth_users.sql) post the changes of
-- users to the function (`/api/auth-events`) through pg_net, with the body Supabase's Database Webhooks
-- send, signed as Standard Webhooks in SQL: only a per-request signature sits in pg_net's queue, never the secret.
--
-- Inert until both Vault secrets exist:
--   select vault.create_secret('https://<app>.azurewebsites.net/api/auth-events?code=<function key>', 'profile_sync_function_url');
--   select vault.create_secret('v1,whsec_<base64>', 'profile_sync_webhook_secret');   -- the function's ProfileSync__WebhookSecret
-- It never blocks a signup: with no configuration, or on any error, it only warns.

-- Queues one request for a change of users: one user (event_type INSERT, UPDATE or DELETE), with the body Supabase's
-- Database Webhooks send; or up to 1,000 users a transaction changed together (event_type BULK), with a body of the
-- same shape that names them all (`user_ids`), so a bulk statement posts one request per 1,000 users, not one per user.
-- An event is a notification: the function reads auth.users when it arrives, so the body names the users and nothing
-- else. pg_net's queue is readable by every role: no e-mail, phone, metadata or password hash goes in it.
create or replace function profile_sync.post_auth_event(event_type text, user_ids uuid[])
returns void
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
  select max(s.decrypted_secret) filter (where s.name = 'profile_sync_function_url'),
         max(s.decrypted_secret) filter (where s.name = 'profile_sync_webhook_secret')
  into function_url, secret
  from vault.decrypted_secrets s where s.name in ('profile_sync_function_url', 'profile_sync_webhook_secret');
  if function_url is null or secret is null then
    return; -- not configured: nothing to send
  end if;

  if event_type = 'BULK' then
    body := pg_catalog.jsonb_build_object('type', event_type, 'table', 'users', 'schema', 'auth',
                                          'user_ids', pg_catalog.to_jsonb(user_ids));
  else
    body := pg_catalog.jsonb_build_object(
      'type', event_type, 'table', 'users', 'schema', 'auth',
      'record', case when event_type = 'DELETE' then null else pg_catalog.jsonb_build_object('id', user_ids[1]) end,
      'old_record', case when event_type = 'INSERT' then null else pg_catalog.jsonb_build_object('id', user_ids[1]) end);
  end if;

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
  raise warning 'profile_sync: auth event for % not queued (SQLSTATE %: %)',
    case when pg_catalog.cardinality(user_ids) = 1 then 'user ' || user_ids[1]::text
         else pg_catalog.cardinality(user_ids)::text || ' users' end, sqlstate, sqlerrm;
end
$$;
revoke all on function profile_sync.post_auth_event(text, uuid[]) from public, anon, authenticated, service_role;
