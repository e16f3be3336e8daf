/*
 * test-util.c covers: err_set/err_prefix bounds, overflow-checked size
 * arithmetic, UTF-8 validation (overlongs, surrogates, truncation, > U+10FFFF),
 * JSON string escaping, atomic file writes and read-back, mkdir -p, and
 * the one escaper for terminals (C0, DEL, C1 such as U+009B, bytes that are
 * not UTF-8; text mode keeps newline and tab, token mode escapes them).
 */
#include "config.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "util.h"

static void
test_err(void)
{
	struct err	err;
	char		long_s[2000];

	err_set(&err, "%s: bad magic %08x", "f.bin", 0xdeadbeefu);
	CHECK(strcmp(err.msg, "f.bin: bad magic deadbeef") == 0);
	err_prefix(&err, "loading %s", "m");
	CHECK(strcmp(err.msg, "loading m: f.bin: bad magic deadbeef") == 0);

	memset(long_s, 'x', sizeof long_s - 1);
	long_s[sizeof long_s - 1] = '\0';
	err_set(&err, "%s", long_s);
	CHECK(strlen(err.msg) == ERR_MSG_CAP - 1);
	err_prefix(&err, "%s", long_s);
	CHECK(strlen(err.msg) < ERR_MSG_CAP);
	err_set(NULL, "ignored");	/* a NULL err is allowed */
}

static void
test_sizes(void)
{
	size_t out;

	CHECK(util_mul_size(3, 5, &out) == 0 && out == 15);
	CHECK(util_mul_size(SIZE_MAX / 2 + 1, 2, &out) == -1);
	CHECK(util_mul_size(0, SIZE_MAX, &out) == 0 && out == 0);
	CHECK(util_add_size(SIZE_MAX, 1, &out) == -1);
	CHECK(util_add_size(SIZE_MAX - 1, 1, &out) == 0 && out == SIZE_MAX);
}

static void
test_utf8(void)
{
	size_t bad;

	CHECK(utf8_is_valid("plain ascii", 11, &bad) && bad == 11);
	CHECK(utf8_is_valid("h\xc3\xa9llo \xe4\xb8\xad \xf0\x9f\x98\x80", 15,
	    &bad));
	/* overlong '/' */
	CHECK(!utf8_is_valid("a\xc0\xaf", 3, &bad) && bad == 1);
	/* UTF-16 surrogate U+D800 */
	CHECK(!utf8_is_valid("ab\xed\xa0\x80", 5, &bad) && bad == 2);
	/* beyond U+10FFFF */
	CHECK(!utf8_is_valid("\xf4\x90\x80\x80", 4, &bad) && bad == 0);
	/* truncated 3-byte sequence at the end */
	CHECK(!utf8_is_valid("xy\xe4\xb8", 4, &bad) && bad == 2);
	/* lone continuation byte */
	CHECK(!utf8_is_valid("\x80", 1, &bad) && bad == 0);
	CHECK(utf8_valid_prefix("ok\xff", 3) == 2);
}

/* Dump v and compare with want. */
static void
check_json(json_t *v, const char *want)
{
	struct buf b;

	buf_init(&b);
	buf_json(&b, v);
	CHECK_MSG(strcmp(b.data, want) == 0, "%s vs %s", b.data, want);
	buf_fini(&b);
}

static void
test_json(void)
{
	struct buf	 b;
	json_t		*o;
	char		 s[40];

	check_json(util_json_text("a\"b\\c\n\x01 \xc3\xa9", 10),
	    "\"a\\\"b\\\\c\\n\\u0001 \xc3\xa9\"");
	/* invalid byte -> U+FFFD; a NUL stays */
	check_json(util_json_text("x\xffy\0z", 5), "\"x\xef\xbf\xbdy\\u0000z\"");

	/* seeds: unsigned 64-bit, exact on both sides of 2^63 */
	check_json(util_json_u64(0), "0");
	check_json(util_json_u64(INT64_MAX), "9223372036854775807");
	check_json(util_json_u64((uint64_t)INT64_MAX + 1), "9223372036854775808");
	check_json(util_json_u64(UINT64_MAX), "18446744073709551615");
	/* and they read back */
	buf_init(&b);
	buf_json(&b, util_json_u64(UINT64_MAX - 6));
	CHECK(strtoull(b.data, NULL, 10) == UINT64_MAX - 6);
	buf_fini(&b);

	/* reals: the shortest text that reads back as the same value */
	check_json(util_json_float(0.8f), "0.8");
	check_json(util_json_float(0.95f), "0.95");
	check_json(util_json_float(1.1f), "1.1");
	check_json(util_json_float(0), "0");
	check_json(util_json_float(1e6f), "1000000");
	check_json(util_json_float(1e-7f), "1e-07");
	check_json(util_json_double(0.1 + 0.2), "0.30000000000000004");
	check_json(util_json_double(0.25), "0.25");
	check_json(util_json_double(NAN), "null");
	check_json(util_json_float(INFINITY), "null");
	for (float f = 1e-3f; f < 1e3f; f *= 1.37f) {
		util_fmt_real(s, sizeof s, f, 1);
		CHECK_MSG(strtof(s, NULL) == f, "%s", s);
		CHECK(strlen(s) <= 14);
	}
	util_fmt_real(s, sizeof s, 1.0 / 3, 0);
	CHECK(strtod(s, NULL) == 1.0 / 3);

	/* exact numbers inside containers, first and last; a string that
	 * spells the stand-in is left alone */
	o = json_object();
	json_object_set_new(o, "seed", util_json_u64(UINT64_MAX));
	json_object_set_new(o, "s", json_string("{\"lmsh-number\": \"5\"}"));
	json_object_set_new(o, "a", json_pack("[oo]", util_json_float(0.9f),
	    util_json_u64(UINT64_MAX)));
	check_json(o, "{\"seed\": 18446744073709551615, "
	    "\"s\": \"{\\\"lmsh-number\\\": \\\"5\\\"}\", "
	    "\"a\": [0.9, 18446744073709551615]}");
	int32_t ids[] = { 5, -1, 70000 };
	check_json(util_json_ids(ids, 3), "[5, -1, 70000]");
	check_json(util_json_ids(ids, 0), "[]");

	buf_init(&b);
	buf_printf(&b, "%d-%s", 42, "z");
	buf_puts(&b, "!");
	CHECK(b.len == 5 && strcmp(b.data, "42-z!") == 0);
	buf_fini(&b);
}

static void
test_files(void)
{
	char		 dir[] = "/tmp/lmsh-test-util-XXXXXX";
	char		*sub, *path, *data = NULL;
	size_t		 len = 0;
	struct err	 err;
	struct stat	 st;

	CHECK(mkdtemp(dir) != NULL);
	sub = xasprintf("%s/a/b/c", dir);
	CHECK(util_mkdir_p(sub, 0700, &err) == 0);
	CHECK(stat(sub, &st) == 0 && S_ISDIR(st.st_mode));
	CHECK(util_mkdir_p(sub, 0700, &err) == 0);	/* again: no error */

	path = xasprintf("%s/f.txt", sub);
	CHECK(util_write_file_atomic(path, "hello\0world", 11, &err) == 0);
	CHECK(util_read_file(path, &data, &len, &err) == 0);
	CHECK(len == 11 && memcmp(data, "hello\0world", 11) == 0 &&
	    data[11] == '\0');
	free(data);

	CHECK(util_read_file("/nonexistent/x", &data, &len, &err) == -1);
	CHECK(strstr(err.msg, "/nonexistent/x: ") == err.msg);

	unlink(path);
	free(path);
	for (int i = 0; i < 3; i++) {
		rmdir(sub);
		*strrchr(sub, '/') = '\0';
	}
	rmdir(dir);
	free(sub);
}

static void
test_escape_one(const char *in, size_t len, enum buf_escape_mode mode,
    const char *want)
{
	struct buf b;

	buf_init(&b);
	buf_append(&b, "", 0);
	buf_escape(&b, in, len, mode);
	CHECK_MSG(strcmp(b.data, want) == 0, "'%s', want '%s'", b.data, want);
	if (mode == BUF_ESC_TEXT)	/* the quick test agrees */
		CHECK(util_has_controls(in, len) == (b.len != len ||
		    memcmp(b.data, in, len) != 0));
	buf_fini(&b);
}

static void
test_escape(void)
{
	static const char osc[] = "a\033]52;c;aGk=\007b";
	static const char mix[] = "\t\n\r\177\\\"\302\233\302\240\303\251\233!";

	test_escape_one(osc, sizeof osc - 1, BUF_ESC_TEXT,
	    "a\\x1b]52;c;aGk=\\x07b");
	/* tab and newline stay; CR, DEL, C1 (U+009B), a lone 0x9b do not;
	 * U+00A0 and U+00E9 are printable */
	test_escape_one(mix, sizeof mix - 1, BUF_ESC_TEXT,
	    "\t\n\\x0d\\x7f\\\"\\u009b\302\240\303\251\\x9b!");
	test_escape_one(mix, sizeof mix - 1, BUF_ESC_TOKEN,
	    "\\t\\n\\r\\x7f\\\\\\\"\\u009b\302\240\303\251\\x9b!");
	test_escape_one("plain text", 10, BUF_ESC_TEXT, "plain text");
	CHECK(util_has_controls(osc, sizeof osc - 1));
	CHECK(util_has_controls("\302\233", 2));
	CHECK(!util_has_controls("caf\303\251\tline\n", 8));
	/* a truncated character at the end is a byte, not a character */
	test_escape_one("\303", 1, BUF_ESC_TEXT, "\\xc3");
}

int
main(void)
{
	test_err();
	test_sizes();
	test_utf8();
	test_json();
	test_escape();
	test_files();
	CHECK_RESULT();
}
