#!/usr/bin/env bash
# One way into the outbox (src/engine/outbox.h): no code, test or current database function writes kb_outbox but
# kb_outbox_put (sql/021_outbox_put.sql), which outbox_put calls. Migrations before 021 keep their old text (they
# are history, checksummed); what counts there is what the schema defines now, read from pg_proc.
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
fails=0
hits=$(grep -rniE 'insert[[:space:]]+into[[:space:]]+kb_outbox\b' "$here"/src "$here"/channels "$here"/dialogs "$here"/tests \
         --include='*.c' --include='*.h' --include='*.py' --include='*.sh' | grep -v 'test_outbox_writer.sh' || true)
if [ -n "$hits" ]; then echo "FAIL a second writer of kb_outbox:"; echo "$hits"; fails=1; fi
# after 021, a migration may write kb_outbox only by redefining kb_outbox_put itself (one INSERT, in that function)
for f in $(grep -liE 'insert[[:space:]]+into[[:space:]]+kb_outbox\b' "$here"/sql/0*.sql | sort); do
  [ "$(basename "$f")" \> 021 ] || continue
  n=$(grep -ciE 'insert[[:space:]]+into[[:space:]]+kb_outbox\b' "$f")
  grep -qiE 'function[[:space:]]+kb_outbox_put\(' "$f" && [ "$n" = 1 ] || { echo "FAIL $f writes kb_outbox after 021"; fails=1; }
done
db="kb_writer_$$"
psql -qX -h 127.0.0.1 -p "$KB_TEST_PG_PORT" -U postgres -d postgres -c "CREATE DATABASE $db TEMPLATE kb_template" >/dev/null
funcs=$(psql -qXAt -h 127.0.0.1 -p "$KB_TEST_PG_PORT" -U postgres -d "$db" -c \
  "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'
   AND p.prosrc ~* 'insert\s+into\s+kb_outbox' ORDER BY 1")
callers=$(psql -qXAt -h 127.0.0.1 -p "$KB_TEST_PG_PORT" -U postgres -d "$db" -c \
  "SELECT count(*) FROM pg_proc WHERE prosrc ~ 'kb_outbox_put\('")
psql -qX -h 127.0.0.1 -p "$KB_TEST_PG_PORT" -U postgres -d postgres -c "DROP DATABASE $db" >/dev/null
if [ "$funcs" != kb_outbox_put ]; then echo "FAIL database functions writing kb_outbox: $(echo $funcs)"; fails=1; fi
[ "$callers" -ge 5 ] || { echo "FAIL only $callers database functions put through kb_outbox_put"; fails=1; }
[ $fails -eq 0 ] && echo "ok   kb_outbox has one writer: kb_outbox_put ($callers database functions and every C writer use it)"
[ $fails -eq 0 ]
