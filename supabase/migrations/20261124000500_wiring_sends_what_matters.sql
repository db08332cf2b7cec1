-- ProfileFunctions: the signed wiring queues a request only when something a profile follows changed, and one per
-- user for the consecutive writes of one transaction.
--
-- Supabase Auth's e-mail signup is an INSERT followed, in the same transaction, by UPDATEs of role, app and user
-- metadata and the confirmation token; every sign-in UPDATEs last_sign_in_at. Posting on each queued about five
-- requests per signup and one per sign-in. The function reads auth.users when the request arrives, after the commit,
-- so the first request of a transaction covers every later write of that user in it.

create or replace function profile_sync.post_auth_event()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  user_id uuid := coalesce(new.id, old.id);
  function_url text;
  secret text;
  signing_key bytea;
  body jsonb;
  message_id text;
  sent_at text;
begin
  -- The facts a profile or an attribute rule may follow; the fallback trigger profile_sync_converge_on_auth_change
  -- names the same in its WHEN. A sign-in, a token, a timestamp: nothing a profile follows.
  if tg_op = 'UPDATE'
     and (old.email, old.phone, old.raw_user_meta_data, old.raw_app_meta_data, old.email_confirmed_at,
          old.banned_until, old.deleted_at)
         is not distinct from
         (new.email, new.phone, new.raw_user_meta_data, new.raw_app_meta_data, new.email_confirmed_at,
          new.banned_until, new.deleted_at) then
    return null;
  end if;
  -- Set for the transaction only: the user this transaction last queued a request for.
  if pg_catalog.current_setting('profile_sync.posted_user', true) = user_id::text then
    return null;
  end if;

  begin
    select s.decrypted_secret into function_url from vault.decrypted_secrets s where s.name = 'profile_sync_function_url';
    select s.decrypted_secret into secret from vault.decrypted_secrets s where s.name = 'profile_sync_webhook_secret';
    if function_url is null or secret is null then
      return null; -- not configured: nothing to send
    end if;

    -- Database Webhooks' body; rows carry only the user id (auth.users is read when the request arrives).
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
    perform pg_catalog.set_config('profile_sync.posted_user', user_id::text, true);
  exception when others then
    raise warning 'profile_sync: auth event for user % not queued (SQLSTATE %: %)', user_id, sqlstate, sqlerrm;
  end;
  return null;
end
$$;
