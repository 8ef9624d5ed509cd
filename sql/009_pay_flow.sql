-- 009: the payment's way through a provider: the conversation that asked for it (where the link and "payment
-- accepted" go, in its language), the link the provider gave, the token of kabinet's own pay page (the local fake
-- provider, and later short links), and when its status was last asked of the provider.
ALTER TABLE kb_payment ADD COLUMN conv text CHECK (conv IS NULL OR conv ~ '^[a-z]+:'),
                       ADD COLUMN lang text NOT NULL DEFAULT 'ru' CHECK (lang IN ('ru', 'en')),
                       ADD COLUMN pay_url text,
                       ADD COLUMN pay_token text UNIQUE,
                       ADD COLUMN checked_at timestamptz;
