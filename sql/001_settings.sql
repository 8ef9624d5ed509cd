-- 001: the retailer's settings. Where the portals differ (a reading window, the minimum payment, whether a second
-- reading on the same day replaces the first), the difference is a setting here, read by kabinetd at start.
CREATE TABLE kb_setting (
    key         text PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_.]*$'),
    value       jsonb NOT NULL,
    note        text NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL DEFAULT now()
);
