-- 003: the retailer's domain (DOMAIN.md). Money is bigint kopecks, never NULL; readings and kWh are exact decimals
-- (numeric(15,3)); time is timestamptz (UTC); every "day", "month" and window is on the account's local calendar,
-- whose offset comes from its branch (Russia spans UTC+2 … UTC+12 and keeps no daylight saving).

-- the retailer's branches (филиалы/участки): time zone, bank details for bills and QR codes, reading window
CREATE TABLE kb_branch (
    id              bigserial PRIMARY KEY,
    code            text NOT NULL UNIQUE,
    name            text NOT NULL,
    utc_offset_min  integer NOT NULL CHECK (utc_offset_min BETWEEN 120 AND 720),
    bank            jsonb NOT NULL DEFAULT '{}',     -- recipient, inn, kpp, bik, account, corr_account, bank_name
    window_from     smallint CHECK (window_from BETWEEN 1 AND 31),   -- day of month readings open, NULL: always
    window_to       smallint CHECK (window_to BETWEEN 1 AND 31),
    outside_window  text NOT NULL DEFAULT 'review' CHECK (outside_window IN ('review', 'refuse')),
    CHECK ((window_from IS NULL) = (window_to IS NULL))
);

-- tariffs with their validity and zone rates (rubles per kWh, exact)
CREATE TABLE kb_tariff (
    id          bigserial PRIMARY KEY,
    code        text NOT NULL,
    name        text NOT NULL,
    area        text NOT NULL DEFAULT 'city' CHECK (area IN ('city', 'rural')),
    zones       smallint NOT NULL CHECK (zones BETWEEN 1 AND 3),
    valid_from  date NOT NULL,
    valid_to    date,
    UNIQUE (code, valid_from),
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
CREATE TABLE kb_tariff_rate (
    tariff_id   bigint NOT NULL REFERENCES kb_tariff,
    zone        smallint NOT NULL CHECK (zone BETWEEN 1 AND 3),
    rate        numeric(12, 4) NOT NULL CHECK (rate >= 0),
    PRIMARY KEY (tariff_id, zone)
);

-- customers: households and businesses
CREATE TABLE kb_customer (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL DEFAULT 'person' CHECK (kind IN ('person', 'business')),
    full_name       text,
    org_name        text,
    inn             text CHECK (inn ~ '^([0-9]{10}|[0-9]{12})$'),
    kpp             text CHECK (kpp ~ '^[0-9]{9}$'),
    contract_no     text,
    contract_date   date,
    birth_date      date,
    address         text,
    phone           text CHECK (phone ~ '^\+7[0-9]{10}$'),
    email           text,
    language        text NOT NULL DEFAULT 'ru' CHECK (language IN ('ru', 'en')),
    email_bills     boolean NOT NULL DEFAULT false,
    paper_bills     boolean NOT NULL DEFAULT true,
    notifications   boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (kind = 'person' OR (org_name IS NOT NULL AND inn IS NOT NULL))
);
CREATE UNIQUE INDEX kb_customer_contract ON kb_customer (contract_no, inn) WHERE kind = 'business';

-- how a customer is reached: a Telegram user, an SMS phone, an email address
CREATE TABLE kb_identity (
    id              bigserial PRIMARY KEY,
    customer_id     bigint REFERENCES kb_customer,
    channel         text NOT NULL CHECK (channel IN ('tg', 'sms', 'mail')),
    external_id     text NOT NULL,                   -- Telegram user id (64-bit, as text), +7…, email
    verified_at     timestamptz,
    reachable       boolean NOT NULL DEFAULT true,
    unreachable_why text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel, external_id)
);

-- personal accounts (лицевые счета)
CREATE TABLE kb_account (
    id              bigserial PRIMARY KEY,
    number          text NOT NULL UNIQUE CHECK (number ~ '^[0-9]{6,20}$'),
    settlement_code text,
    holder_surname  text NOT NULL,
    address         text NOT NULL,
    branch_id       bigint NOT NULL REFERENCES kb_branch,
    tariff_code     text,
    residents       smallint CHECK (residents >= 0),
    area_m2         numeric(8, 2) CHECK (area_m2 >= 0),
    els_code        text UNIQUE,                     -- ЕЛС ГИС ЖКХ, such as 77МН000000
    customer_kind   text NOT NULL DEFAULT 'person' CHECK (customer_kind IN ('person', 'business'))
);

-- supply points of a business contract
CREATE TABLE kb_supply_point (
    id          bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES kb_customer,
    account_id  bigint REFERENCES kb_account,
    name        text NOT NULL,
    address     text NOT NULL
);

-- customer ↔ account: primary (the first) or additional, active or waiting for a staff check
CREATE TABLE kb_account_link (
    id          bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES kb_customer,
    account_id  bigint NOT NULL REFERENCES kb_account,
    is_primary  boolean NOT NULL DEFAULT false,
    status      text NOT NULL CHECK (status IN ('active', 'pending', 'removed')),
    proof       text NOT NULL CHECK (proof IN ('els', 'surname', 'photo', 'staff', 'import')),
    photo_file  text,
    approved_by text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    removed_at  timestamptz
);
CREATE UNIQUE INDEX kb_link_once ON kb_account_link (customer_id, account_id) WHERE status <> 'removed';
CREATE UNIQUE INDEX kb_link_one_primary ON kb_account_link (customer_id) WHERE is_primary AND status = 'active';

-- wrong proofs, capped per customer and per account (5 an hour each)
CREATE TABLE kb_proof_failure (
    customer_id bigint NOT NULL,
    account_id  bigint NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX kb_proof_failure_customer ON kb_proof_failure (customer_id, at);
CREATE INDEX kb_proof_failure_account ON kb_proof_failure (account_id, at);

-- meters (приборы учёта)
CREATE TABLE kb_meter (
    id            bigserial PRIMARY KEY,
    account_id    bigint NOT NULL REFERENCES kb_account,
    serial        text NOT NULL,
    model         text,
    digits        smallint NOT NULL CHECK (digits BETWEEN 1 AND 12),
    ratio         integer NOT NULL DEFAULT 1 CHECK (ratio >= 1),
    zones         smallint NOT NULL DEFAULT 1 CHECK (zones BETWEEN 1 AND 3),
    installed_on  date,
    verify_by     date,                              -- next verification (поверка)
    removed_on    date,
    UNIQUE (account_id, serial)
);

-- readings: one customer reading per meter, zone and local day; billing's own (network, inspection, receipt) apart
CREATE TABLE kb_reading (
    id           bigserial PRIMARY KEY,
    meter_id     bigint NOT NULL REFERENCES kb_meter,
    zone         smallint NOT NULL DEFAULT 1 CHECK (zone BETWEEN 1 AND 3),
    value        numeric(15, 3) NOT NULL CHECK (value >= 0),
    local_day    date NOT NULL,
    taken_at     timestamptz NOT NULL DEFAULT now(),
    source       text NOT NULL CHECK (source IN ('bot', 'portal', 'receipt', 'network', 'inspection', 'customer')),
    status       text NOT NULL DEFAULT 'accepted' CHECK (status IN ('accepted', 'rejected', 'review')),
    consumption  numeric(15, 3),
    rollover     boolean NOT NULL DEFAULT false,
    customer_id  bigint REFERENCES kb_customer,
    event_id     text,                               -- the engine event that sent it (idempotency)
    photo_file   text,
    exported_at  timestamptz
);
CREATE UNIQUE INDEX kb_reading_customer_day ON kb_reading (meter_id, zone, local_day)
    WHERE source IN ('bot', 'portal', 'customer') AND status <> 'rejected';
CREATE INDEX kb_reading_meter ON kb_reading (meter_id, zone, taken_at DESC);

-- monthly charges, penalties and duties apart; the monthly ledger (свод)
CREATE TABLE kb_charge (
    account_id        bigint NOT NULL REFERENCES kb_account,
    month             date NOT NULL CHECK (extract(day FROM month) = 1),
    zone              smallint NOT NULL DEFAULT 1 CHECK (zone BETWEEN 1 AND 3),
    kwh               numeric(15, 3) NOT NULL,
    rate              numeric(12, 4) NOT NULL,
    amount_kopecks    bigint NOT NULL,
    correction_kopecks bigint NOT NULL DEFAULT 0,    -- перерасчёт
    odn_kopecks       bigint NOT NULL DEFAULT 0,     -- ОДН
    PRIMARY KEY (account_id, month, zone)
);
CREATE TABLE kb_penalty (
    account_id      bigint NOT NULL REFERENCES kb_account,
    month           date NOT NULL CHECK (extract(day FROM month) = 1),
    penalty_kopecks bigint NOT NULL DEFAULT 0,       -- пени
    duty_kopecks    bigint NOT NULL DEFAULT 0,       -- госпошлина
    PRIMARY KEY (account_id, month)
);
CREATE TABLE kb_ledger (
    account_id       bigint NOT NULL REFERENCES kb_account,
    month            date NOT NULL CHECK (extract(day FROM month) = 1),
    opening_kopecks  bigint NOT NULL,                -- debt positive, overpayment negative
    consumed_kwh     numeric(15, 3) NOT NULL,
    charged_kopecks  bigint NOT NULL,
    paid_kopecks     bigint NOT NULL,
    closing_kopecks  bigint NOT NULL,
    PRIMARY KEY (account_id, month)
);

-- payments: pending → paid → credited (or failed/expired); one settlement per provider id
CREATE TABLE kb_payment (
    id                  bigserial PRIMARY KEY,
    account_id          bigint NOT NULL REFERENCES kb_account,
    customer_id         bigint REFERENCES kb_customer,
    amount_kopecks      bigint NOT NULL CHECK (amount_kopecks > 0),
    purpose             text NOT NULL DEFAULT 'energy' CHECK (purpose IN ('energy', 'penalty')),
    source              text NOT NULL CHECK (source IN ('bank', 'terminal', 'portal', 'bot', 'billing')),
    status              text NOT NULL CHECK (status IN ('pending', 'paid', 'credited', 'failed', 'expired')),
    provider            text,
    provider_payment_id text,
    order_id            text,
    idempotency_key     text UNIQUE,
    receipt_email       text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    paid_at             timestamptz,
    credited_at         timestamptz,
    exported_at         timestamptz,
    UNIQUE (provider, provider_payment_id),
    CHECK (status NOT IN ('paid', 'credited') OR paid_at IS NOT NULL)
);
CREATE UNIQUE INDEX kb_payment_order ON kb_payment (provider, order_id) WHERE order_id IS NOT NULL;

-- bills (квитанции) and receipts (чеки, with fiscal data)
CREATE TABLE kb_bill (
    id             bigserial PRIMARY KEY,
    account_id     bigint NOT NULL REFERENCES kb_account,
    month          date NOT NULL CHECK (extract(day FROM month) = 1),
    total_kopecks  bigint NOT NULL,
    document       jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, month)
);
CREATE TABLE kb_receipt (
    id          bigserial PRIMARY KEY,
    payment_id  bigint NOT NULL UNIQUE REFERENCES kb_payment,
    kkt_reg     text,      -- РН ККТ
    fn_number   text,      -- ФН
    fd_number   text,      -- ФД
    fpd         text,      -- ФПД
    check_url   text,
    issued_at   timestamptz NOT NULL DEFAULT now()
);

-- appeals (обращения) and their messages; attachments up to 2 MB
CREATE TABLE kb_appeal (
    id          bigserial PRIMARY KEY,
    customer_id bigint REFERENCES kb_customer,
    conv        text NOT NULL,
    subject     text NOT NULL DEFAULT '',
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'answered', 'closed')),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE kb_appeal_message (
    id              bigserial PRIMARY KEY,
    appeal_id       bigint NOT NULL REFERENCES kb_appeal,
    author          text NOT NULL CHECK (author IN ('customer', 'staff')),
    staff_name      text,
    body            text NOT NULL DEFAULT '',
    attachment_file text,
    attachment_size integer CHECK (attachment_size BETWEEN 0 AND 2097152),
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- audit events gain who they are about and who acted
ALTER TABLE kb_audit ADD COLUMN customer_id bigint, ADD COLUMN actor text NOT NULL DEFAULT 'customer';
