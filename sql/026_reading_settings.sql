-- 026_reading_settings: where the retailers' portals differ on readings, a setting (read by reading.submit at each
-- submission, so a change needs no restart). reading.same_day: a second customer reading of a meter zone on one
-- day is refused ("refuse", the default) or takes the first's place while the first has not gone to billing
-- ("replace"). reading.warn_kwh: above this consumption the customer is asked to confirm.
INSERT INTO kb_setting (key, value, note) VALUES
    ('reading.same_day', '"refuse"', 'a second reading the same day: "refuse" it, or "replace" the first (until exported)'),
    ('reading.warn_kwh', '50000', 'a consumption above this many kWh is confirmed by the customer first')
ON CONFLICT (key) DO NOTHING;
