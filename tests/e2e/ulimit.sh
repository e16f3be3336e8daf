#!/bin/sh
# Covers: a tight address-space limit (ulimit -v) ends lmsh with its own
# one-line error and status 1, never in BLIS's or libgomp's abort: the
# packed weights, the KV cache and BLIS's packing pools (reserved and
# filled before the first GEMM) fail through lmsh's error path.  Limits
# from 30 MB to 130 MB step through each of those allocations for the
# bundled model with a prompt long enough for BLIS's GEMMs.
. "${LMSH_SRCDIR:?}/tests/e2e/common.sh"
M="$LMSH_SRCDIR/share/tinystories"
# AddressSanitizer cannot start under a limit at all
(ulimit -v 400000 && "$LMSH" --version) >/dev/null 2>&1 ||
	{ echo "lmsh does not run under ulimit -v (a sanitizer build?): skip"; exit 77; }
p=$(awk 'BEGIN { for (i = 0; i < 12; i++) printf "Once upon a time there was a little dog. " }')
for th in 1 2; do
	v=30000
	while [ $v -le 130000 ]; do
		(ulimit -v $v && exec "$LMSH" generate --model "$M" --threads $th \
		    --prompt "$p" --max-new-tokens 3 --no-history) \
		    >/dev/null 2>"$T/e"
		rc=$?
		case $rc in
		0) ;;
		1) [ "$(wc -l <"$T/e")" -eq 1 ] && grep -q '^lmsh: .*out of memory\|^lmsh: .*Cannot allocate' "$T/e" ||
			no "ulimit -v $v, $th threads: $(cat "$T/e")" ;;
		*) no "ulimit -v $v, $th threads: exit $rc: $(head -c 300 "$T/e")" ;;
		esac
		v=$((v + 5000))
	done
done
exit $fail
