-- 017: codes and tries that a stranger cannot turn against a customer. A wrong try is counted against the code it
-- was made on (five kill that code) and against the conversation that made it (five lock the phone for that
-- conversation only, for an hour): someone who asks for a code to another's number and types wrong ones no longer
-- locks its owner out. Codes asked from one conversation are capped (numbers an hour, codes a day) before any
-- gateway is called.
ALTER TABLE kb_auth_failure ADD COLUMN code_id bigint, ADD COLUMN conv text;
CREATE INDEX kb_auth_failure_code ON kb_auth_failure (code_id) WHERE code_id IS NOT NULL;
CREATE INDEX kb_auth_code_conv ON kb_auth_code (conv, created_at);
INSERT INTO kb_setting (key, value, note) VALUES
    ('sms.conv_numbers_hour', '3', 'login codes: different numbers or addresses one conversation may ask codes for in an hour'),
    ('sms.conv_codes_day', '10', 'login codes: codes one conversation may ask for in a day')
ON CONFLICT (key) DO NOTHING;
