#!/bin/sh
# Covers: man/lmsh.1 and man/lmsh.5 are lint-clean under mandoc -Tlint -Wwarning.
[ -n "$MANDOC" ] || exit 77
command -v "$MANDOC" >/dev/null 2>&1 || exit 77
"$MANDOC" -Tlint -Wwarning "$LMSH_SRCDIR/man/lmsh.1" "$LMSH_SRCDIR/man/lmsh.5"
