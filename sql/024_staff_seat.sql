-- 024_staff_seat: whether anyone can read an appeal now. A staff seat (the Telegram staff group today; a staff
-- console later) marks itself here while it runs (every 10 s); appeal.add tells the dialog whether a seat was seen
-- in the last two minutes, so that a customer is never promised «сотрудник ответит здесь же» when nobody is there:
-- the appeal is kept with its number, and its card goes out once a seat comes.
CREATE TABLE kb_staff_seat (
    channel  text PRIMARY KEY,
    seen_at  timestamptz NOT NULL
);
