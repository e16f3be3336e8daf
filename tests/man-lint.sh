#!/bin/sh
# Covers: man/lmsh.1 is lint-clean under mandoc -Tlint -Wwarning.
[ -n "$MANDOC" ] || exit 77
command -v "$MANDOC" >/dev/null 2>&1 || exit 77
exec "$MANDOC" -Tlint -Wwarning "$LMSH_SRCDIR/man/lmsh.1"
