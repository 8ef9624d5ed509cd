#!/usr/bin/env bash
# The dialogs are pure: each file of dialogs/ compiles with nothing but the dialog contract and cJSON in view (as the
# kbdialogs library builds them), and a dialog that reached for a runtime or a channel header would not compile.
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
cc=${CC:-cc}
flags="-std=gnu11 -D_GNU_SOURCE -fsyntax-only -I$here/dialogs $(pkg-config --cflags libcjson)"
fails=0
for f in "$here"/dialogs/*.c; do
  $cc $flags "$f" 2>/dev/null || { echo "FAIL $(basename "$f") needs more than the dialog contract"; fails=$((fails + 1)); }
done
for h in db.h kv.h engine.h telegram.h; do
  if printf '#include "dialog.h"\n#include "%s"\n' "$h" | $cc $flags -x c - 2>/dev/null; then
    echo "FAIL a dialog could include $h"; fails=$((fails + 1))
  fi
done
[ $fails -eq 0 ] && echo "ok   every dialog compiles with only dialogs/ and cJSON; runtime and channel headers are out of reach"
[ $fails -eq 0 ] || exit 1
# and the layers: no file of src/ includes a channel's header (the build gives src/ no channels/ include path either)
chdr=$(cd "$here/channels" && ls */*.h | xargs -n1 basename | sort -u)
bad=$(for h in $chdr; do grep -lE "#include \"$h\"" "$here"/src/*.c "$here"/src/*/*.c "$here"/src/*/*.h 2>/dev/null; done)
if [ -n "$bad" ]; then echo "FAIL src/ includes a channel header: $bad"; exit 1; fi
echo "ok   no file of src/ includes a channel header"
