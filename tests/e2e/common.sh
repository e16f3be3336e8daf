# common.sh: sourced first by tests/e2e/*.sh.  Needs LMSH (the program)
# and LMSH_TEST_DATA (tests/data); gives a scratch directory $T removed at
# exit, no() to report a failure and go on (each script ends with
# `exit $fail`), and need_jq for the scripts that read JSON.
set -u
: "${LMSH:?}" "${LMSH_TEST_DATA:?}"
T=$(mktemp -d) || exit 99
trap 'rm -rf "$T"' EXIT
fail=0
no() { echo "FAIL: $*" >&2; fail=1; }
need_jq() {
	command -v jq >/dev/null 2>&1 || { echo "jq not installed"; exit 77; }
}
