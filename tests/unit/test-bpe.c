/*
 * test-bpe.c covers: GPT-2 parity id for id against js-tiktoken's ids on
 * the CS336 fixture texts, a Unicode stress text, long pre-tokens (heap
 * merge path) and a seeded random text of tricky characters; pre-token
 * splits where js-tiktoken is no reference (U+0085, U+FEFF, U+180E ...)
 * against Python `regex`, GPT-2's own; decode(encode(x)) == x (fixtures and a seeded fuzz); the
 * ASCII fast path of the pre-tokenizer against PCRE2 alone (the same); special
 * tokens (auto-registered <|...|>, longest match, never split, text between
 * them pre-tokenized separately); invalid UTF-8 (strict error with the byte
 * offset, U+FFFD replacement as Python's errors="replace"); out-of-range
 * ids; the streaming decoder on characters split over tokens and at flush;
 * malformed vocab.json/merges.txt (file:line: problem); bpe_save round trip
 * against the original files; Hugging Face tokenizer.json (both merge
 * spellings; a wrong model type, pre-tokenizer or a normalizer refused).
 */
#include "config.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpe.h"
#include "bpe_split.h"
#include "check.h"
#include "util.h"

static char tmpdir[] = "/tmp/test-bpe.XXXXXX";

static char *
data_path(const char *name)
{
	return xasprintf("%s/bpe/%s", check_data_dir(), name);
}

static char *
tmp_path(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

static char *
slurp(const char *path, size_t *len)
{
	struct err	 err;
	char		*s;

	if (util_read_file(path, &s, len, &err) != 0) {
		fprintf(stderr, "%s\n", err.msg);
		exit(99);
	}
	return s;
}

static void
spit(const char *path, const char *s)
{
	struct err err;

	if (util_write_file_atomic(path, s, strlen(s), &err) != 0) {
		fprintf(stderr, "%s\n", err.msg);
		exit(99);
	}
}

static int32_t *
read_ids(const char *path, size_t *n)
{
	size_t		 len, cap = 1024;
	char		*s = slurp(path, &len), *p = s, *end;
	int32_t		*ids = xreallocarray(NULL, cap, sizeof *ids);

	*n = 0;
	for (;;) {
		long v = strtol(p, &end, 10);

		if (end == p)
			break;
		if (*n == cap)
			ids = xreallocarray(ids, cap *= 2, sizeof *ids);
		ids[(*n)++] = (int32_t)v;
		p = end;
	}
	free(s);
	return ids;
}

static struct bpe *
load_gpt2(void)
{
	char		*v = data_path("gpt2_vocab.json");
	char		*m = data_path("gpt2_merges.txt");
	struct err	 err;
	struct bpe	*b = bpe_load(v, m, &err);

	if (b == NULL) {
		fprintf(stderr, "gpt2: %s\n", err.msg);
		exit(99);
	}
	free(v);
	free(m);
	return b;
}

/* Encode a fixture text and compare with js-tiktoken's ids. */
static void
check_parity(const struct bpe *b, const char *name)
{
	char		*tp = data_path(name), *ip = xasprintf("%s.gpt2-ids", tp);
	size_t		 len, n_exp, n_got, first = 0, out_len;
	char		*text = slurp(tp, &len), *out = NULL;
	int32_t		*exp = read_ids(ip, &n_exp), *got = NULL;
	struct err	 err;

	CHECK_MSG(bpe_encode(b, text, len, BPE_UTF8_STRICT, &got, &n_got,
	    &err) == 0, "%s: %s", name, err.msg);
	while (first < n_got && first < n_exp && got[first] == exp[first])
		first++;
	CHECK_MSG(n_got == n_exp && first == n_exp, "%s: %zu ids, expected %zu;"
	    " first difference at %zu", name, n_got, n_exp, first);
	CHECK(bpe_decode(b, got, n_got, BPE_UTF8_STRICT, &out, &out_len,
	    &err) == 0);
	CHECK_MSG(out != NULL && out_len == len && memcmp(out, text, len) == 0,
	    "%s: decode(encode(x)) != x", name);
	free(out);
	free(got);
	free(exp);
	free(text);
	free(ip);
	free(tp);
}

struct pieces {
	struct buf	all;	/* pieces separated by \x01, specials as #id */
	size_t		n;
};

static int
collect(void *arg, const char *p, size_t len, int32_t special)
{
	struct pieces *pc = arg;

	if (special >= 0)
		buf_printf(&pc->all, "#%d", (int)special);
	else
		buf_append(&pc->all, p, len);
	buf_append(&pc->all, "\x01", 1);
	pc->n++;
	return 0;
}

/* The fast path and PCRE2 alone must split the same way. */
static int
same_split(const struct bpe_splitter *s, const char *t, size_t len)
{
	struct pieces	a = { { NULL, 0, 0 }, 0 }, b = { { NULL, 0, 0 }, 0 };
	struct err	err;
	int		same;

	buf_append(&a.all, "", 0);
	buf_append(&b.all, "", 0);
	bpe_splitter_run(s, t, len, collect, &a, &err);
	bpe_splitter_run_pcre(s, t, len, collect, &b, &err);
	same = a.n == b.n && a.all.len == b.all.len &&
	    memcmp(a.all.data, b.all.data, a.all.len) == 0;
	buf_fini(&a.all);
	buf_fini(&b.all);
	return same;
}

static int
round_trips(const struct bpe *b, const char *t, size_t len)
{
	struct err	 err;
	int32_t		*ids = NULL;
	size_t		 n, out_len;
	char		*out = NULL;
	int		 ok;

	ok = bpe_encode(b, t, len, BPE_UTF8_STRICT, &ids, &n, &err) == 0 &&
	    bpe_decode(b, ids, n, BPE_UTF8_STRICT, &out, &out_len, &err) == 0 &&
	    out_len == len && memcmp(out, t, len) == 0;
	free(ids);
	free(out);
	return ok;
}

/* Fast path against PCRE2, and decode(encode(x)) == x, on the fixtures and
 * on seeded random strings of tricky characters. */
static void
test_splitter(const struct bpe *b)
{
	const char *names[] = { "corpus.en", "tinystories_sample.txt",
	    "address.txt", "german.txt", "unicode.txt", "long.txt",
	    "random.txt" };
	const char *alpha[] = { "a", "Z", "q", "0", "7", " ", " ", " ", "\n",
	    "\t", "\r", "\v", "'", "s", "t", "re", "ll", "!", ".", "-", "\xc3\xa9",
	    "\xc2\xa0", "\xe6\x97\xa5", "\xd9\xa3", "\xf0\x9f\x91\x8d", "\x01",
	    "\xe3\x80\x80", "\xcc\x81" };
	struct err		 err;
	struct bpe_splitter	*s = bpe_splitter_new(&err);
	uint64_t		 rng = 336;
	int			 bad = 0;

	CHECK(s != NULL);
	if (s == NULL)
		return;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char	*p = data_path(names[i]);
		size_t	 len;
		char	*t = slurp(p, &len);

		CHECK_MSG(same_split(s, t, len), "%s", names[i]);
		free(t);
		free(p);
	}
	for (int i = 0; i < 5000; i++) {
		char	t[256];
		size_t	len = 0, n;

		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		n = (rng >> 33) % 24;
		for (size_t k = 0; k < n; k++) {
			const char *c;

			rng = rng * 6364136223846793005ull + 1442695040888963407ull;
			c = alpha[(rng >> 33) % (sizeof alpha / sizeof alpha[0])];
			memcpy(t + len, c, strlen(c));
			len += strlen(c);
		}
		if (!same_split(s, t, len) && bad++ < 5)
			CHECK_MSG(0, "fuzz case %d: \"%.*s\"", i, (int)len, t);
		if (!round_trips(b, t, len) && bad++ < 5)
			CHECK_MSG(0, "round trip %d: \"%.*s\"", i, (int)len, t);
	}
	CHECK(bad == 0);
	bpe_splitter_free(s);
}

/* Pre-token splits from GPT-2's own regex (Python `regex`, which tiktoken's
 * Rust follows) where JavaScript's \s, and so js-tiktoken, differs or the
 * Unicode classes are easy to get wrong.  Pieces are separated by |. */
static void
test_regex_semantics(void)
{
	static const struct { const char *text, *want; } cases[] = {
		{ " \xc2\x85\xe2\x82\xac", " |\xc2\x85|\xe2\x82\xac|" },
		{ "\n\n\xc2\x85\xd0\xb6", "\n\n|\xc2\x85|\xd0\xb6|" },
		{ "\xe2\x80\x8d \v\xc2\x85's've",
		    "\xe2\x80\x8d| \v|\xc2\x85|'s|'ve|" },
		{ " \xef\xbb\xbf" "x", " \xef\xbb\xbf|x|" },
		{ "\x1c\x1d ", "\x1c\x1d| |" },
		{ "hello\xc2\xa0world", "hello|\xc2\xa0|world|" },
		{ "x\xe3\x80\x80\xe3\x80\x80y ",
		    "x|\xe3\x80\x80|\xe3\x80\x80|y| |" },
		{ "\xd9\xa3\xd9\xa4" "abc \xc2\xb2\xc2\xbd",
		    "\xd9\xa3\xd9\xa4|abc| \xc2\xb2\xc2\xbd|" },
		{ "cafe\xcc\x81 I'M's", "cafe|\xcc\x81| I|'|M|'s|" },
		{ "\xe2\x80\xa8\xe2\x80\xa9" "a\xe1\xa0\x8e" "z",
		    "\xe2\x80\xa8|\xe2\x80\xa9|a|\xe1\xa0\x8e|z|" },
		{ "\xc7\x85" "x \xe1\xbe\x88", "\xc7\x85" "x| \xe1\xbe\x88|" },
	};
	struct err		 err;
	struct bpe_splitter	*s = bpe_splitter_new(&err);

	for (size_t i = 0; s != NULL && i < sizeof cases / sizeof cases[0];
	    i++) {
		struct pieces pc = { { NULL, 0, 0 }, 0 };

		buf_append(&pc.all, "", 0);
		bpe_splitter_run(s, cases[i].text, strlen(cases[i].text),
		    collect, &pc, &err);
		for (char *c = pc.all.data; *c != '\0'; c++)
			if (*c == '\x01')
				*c = '|';
		CHECK_MSG(strcmp(pc.all.data, cases[i].want) == 0,
		    "case %zu: got \"%s\"", i, pc.all.data);
		buf_fini(&pc.all);
	}
	bpe_splitter_free(s);
}

static void
encode_str(const struct bpe *b, const char *s, int32_t **ids, size_t *n)
{
	struct err err;

	if (bpe_encode(b, s, strlen(s), BPE_UTF8_STRICT, ids, n, &err) != 0) {
		fprintf(stderr, "encode \"%s\": %s\n", s, err.msg);
		*ids = NULL;
		*n = 0;
	}
}

static void
test_specials(struct bpe *b)
{
	int32_t		*ids, *ids2;
	size_t		 n, n2;
	struct err	 err;
	int32_t		 eot = bpe_token_id(b, "<|endoftext|>", 13), dbl;

	/* auto-registered from vocab.json by its <|...|> look */
	CHECK(eot == 50256);
	CHECK(bpe_is_special(b, eot));
	CHECK(!bpe_is_special(b, 0));
	CHECK(!bpe_is_special(b, 50257));
	encode_str(b, "a<|endoftext|>b", &ids, &n);
	CHECK(n == 3 && ids[0] == 64 && ids[1] == eot && ids[2] == 65);
	free(ids);
	/* the text on each side is pre-tokenized on its own: " <|" would
	 * otherwise be one pre-token with the space */
	encode_str(b, "x <|endoftext|> y", &ids, &n);
	encode_str(b, " y", &ids2, &n2);
	CHECK(n == 4 && ids[1] == 220 && ids[2] == eot && n2 == 1 &&
	    ids[3] == ids2[0]);
	free(ids);
	free(ids2);
	/* longest match wins among overlapping specials */
	CHECK(bpe_add_special(b, "<|endoftext|><|endoftext|>", &err) == 0);
	dbl = bpe_token_id(b, "<|endoftext|><|endoftext|>", 26);
	CHECK(dbl == 50257);
	CHECK(bpe_n_vocab(b) == 50258);
	encode_str(b, "<|endoftext|><|endoftext|><|endoftext|>", &ids, &n);
	CHECK(n == 2 && ids[0] == dbl && ids[1] == eot);
	free(ids);
	/* an existing regular token can be made special: never split */
	CHECK(bpe_add_special(b, "hello", &err) == 0);
	CHECK(bpe_is_special(b, 31373));
	encode_str(b, "say hello", &ids, &n);
	encode_str(b, "say", &ids2, &n2);
	CHECK(n == 3 && n2 == 1 && ids[0] == ids2[0] && ids[1] == 220 &&
	    ids[2] == 31373);
	free(ids);
	free(ids2);
	CHECK(bpe_add_special(b, "", &err) != 0);
	CHECK(bpe_add_special(b, "\xff", &err) != 0);
}

static void
test_utf8(const struct bpe *b)
{
	struct err	 err;
	int32_t		*ids, *ids2;
	size_t		 n, n2, len;
	char		*r;
	/* expected repairs from Python: bytes.decode("utf-8", "replace") */
	static const struct { const char *in, *out; } rep[] = {
		{ "ab\xff" "cd", "ab\xef\xbf\xbd" "cd" },
		{ "\xe2\x82x", "\xef\xbf\xbdx" },
		{ "\xf0\x9f\x98", "\xef\xbf\xbd" },
		{ "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
		    "\xef\xbf\xbd" },
		{ "a\xe2\x82\xac" "b\x80", "a\xe2\x82\xac" "b\xef\xbf\xbd" },
	};

	for (size_t i = 0; i < sizeof rep / sizeof rep[0]; i++) {
		r = bpe_utf8_repair(rep[i].in, strlen(rep[i].in), &len);
		CHECK_MSG(len == strlen(rep[i].out) && memcmp(r, rep[i].out,
		    len) == 0, "repair case %zu", i);
		free(r);
	}
	err_clear(&err);
	CHECK(bpe_encode(b, "ab\xff" "cd", 5, BPE_UTF8_STRICT, &ids, &n,
	    &err) == -1);
	CHECK_MSG(strstr(err.msg, "byte offset 2") != NULL, "%s", err.msg);
	CHECK(bpe_encode(b, "ab\xff" "cd", 5, BPE_UTF8_REPLACE, &ids, &n,
	    &err) == 0);
	encode_str(b, "ab\xef\xbf\xbd" "cd", &ids2, &n2);
	CHECK(n == n2 && memcmp(ids, ids2, n * sizeof *ids) == 0);
	free(ids);
	free(ids2);
	/* empty text gives no ids, not an error */
	CHECK(bpe_encode(b, "", 0, BPE_UTF8_STRICT, &ids, &n, &err) == 0 &&
	    n == 0);
	free(ids);
}

static void
test_decode(const struct bpe *b)
{
	struct err	 err;
	int32_t		 bad[] = { 31373, 50300 }, neg[] = { -1 };
	int32_t		 half[] = { 47249, 31373 };	/* f0 9f 98, "hello" */
	char		*out;
	size_t		 len;

	CHECK(bpe_decode(b, bad, 2, BPE_UTF8_REPLACE, &out, &len, &err) == -1);
	CHECK_MSG(strstr(err.msg, "50300") != NULL, "%s", err.msg);
	CHECK(bpe_decode(b, neg, 1, BPE_UTF8_REPLACE, &out, &len, &err) == -1);
	CHECK(bpe_token_bytes(b, 1 << 30, &len) == NULL && len == 0);
	CHECK(bpe_token_bytes(b, -5, &len) == NULL);
	CHECK(bpe_decode(b, half, 2, BPE_UTF8_STRICT, &out, &len, &err) == -1);
	CHECK_MSG(strstr(err.msg, "byte offset 0") != NULL, "%s", err.msg);
	CHECK(bpe_decode(b, half, 2, BPE_UTF8_REPLACE, &out, &len, &err) == 0);
	CHECK(len == 8 && memcmp(out, "\xef\xbf\xbdhello", 8) == 0);
	free(out);
}

static void
test_stream(const struct bpe *b)
{
	const char		*text = "Hi \xf0\x9f\x98\x80 \xf0\x9f\x91\xa9\xe2"
	    "\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7 \xe6\x97\xa5"
	    "\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x87\xaf\xf0\x9f\x87\xb5!";
	struct bpe_stream	*s = bpe_stream_new(b, BPE_UTF8_STRICT);
	struct err		 err;
	struct buf		 all;
	int32_t			*ids;
	size_t			 n, len;
	const char		*piece;
	int			 ok = 1, nonempty = 0;

	buf_init(&all);
	buf_append(&all, "", 0);
	encode_str(b, text, &ids, &n);
	CHECK(n > 10);
	for (size_t i = 0; i < n; i++) {
		if (bpe_stream_push(s, ids[i], &piece, &len, &err) != 0 ||
		    !utf8_is_valid(piece, len, NULL))
			ok = 0;
		buf_append(&all, piece, len);
	}
	CHECK(bpe_stream_flush(s, &piece, &len, &err) == 0 && len == 0);
	CHECK(ok);
	CHECK(all.len == strlen(text) && memcmp(all.data, text, all.len) == 0);
	free(ids);

	/* one emoji over two tokens comes out once, whole */
	bpe_stream_reset(s);
	encode_str(b, "\xf0\x9f\x98\x80", &ids, &n);
	CHECK(n == 2);
	all.len = 0;
	for (size_t i = 0; i < n; i++) {
		CHECK(bpe_stream_push(s, ids[i], &piece, &len, &err) == 0);
		if (len > 0) {
			nonempty++;
			buf_append(&all, piece, len);
		}
	}
	CHECK(nonempty == 1 && all.len == 4 &&
	    memcmp(all.data, "\xf0\x9f\x98\x80", 4) == 0);
	free(ids);

	/* a held partial character at flush: error with offset, or U+FFFD */
	bpe_stream_reset(s);
	CHECK(bpe_stream_push(s, 64, &piece, &len, &err) == 0 && len == 1);
	CHECK(bpe_stream_push(s, 47249, &piece, &len, &err) == 0 && len == 0);
	CHECK(bpe_stream_flush(s, &piece, &len, &err) == -1);
	CHECK_MSG(strstr(err.msg, "byte offset 1") != NULL, "%s", err.msg);
	/* an id outside the vocabulary */
	CHECK(bpe_stream_push(s, 60000, &piece, &len, &err) == -1);
	CHECK(bpe_stream_push(s, -1, &piece, &len, &err) == -1);
	bpe_stream_free(s);

	s = bpe_stream_new(b, BPE_UTF8_REPLACE);
	CHECK(bpe_stream_push(s, 47249, &piece, &len, &err) == 0 && len == 0);
	CHECK(bpe_stream_flush(s, &piece, &len, &err) == 0);
	CHECK(len == 3 && memcmp(piece, "\xef\xbf\xbd", 3) == 0);
	/* a byte that can never start a character is replaced at once */
	CHECK(bpe_stream_push(s, 222, &piece, &len, &err) == 0);
	CHECK(len == 3 && memcmp(piece, "\xef\xbf\xbd", 3) == 0);
	bpe_stream_free(s);

	s = bpe_stream_new(b, BPE_UTF8_STRICT);
	CHECK(bpe_stream_push(s, 64, &piece, &len, &err) == 0);
	CHECK(bpe_stream_push(s, 222, &piece, &len, &err) == -1);
	CHECK_MSG(strstr(err.msg, "byte offset 1") != NULL, "%s", err.msg);
	/* the stream goes on after the bad byte */
	CHECK(bpe_stream_push(s, 65, &piece, &len, &err) == 0 && len == 1 &&
	    *piece == 'b');
	bpe_stream_free(s);
	bpe_stream_free(NULL);
	buf_fini(&all);
}

/* A small vocab.json: the 256 bytes (line 2 + byte order) and extras. */
static void
write_vocab(const char *path, const char *extra)
{
	struct buf b;

	buf_init(&b);
	buf_puts(&b, "{\n");
	for (unsigned i = 0; i < 256; i++) {
		unsigned	cp = bpe_byte_to_cp((unsigned char)i);
		char		u[3] = { 0 };

		if (cp < 0x80)
			u[0] = (char)cp;
		else {
			u[0] = (char)(0xc0 | (cp >> 6));
			u[1] = (char)(0x80 | (cp & 0x3f));
		}
		buf_puts(&b, "  ");
		buf_json(&b, util_json_text(u, strlen(u)));
		buf_printf(&b, ": %u,\n", i);
	}
	buf_puts(&b, extra);
	buf_puts(&b, "}\n");
	spit(path, b.data);
	buf_fini(&b);
}

static void
expect_load_error(const char *vocab_extra, const char *merges,
    const char *want)
{
	char		*v = tmp_path("vocab.json"), *m = tmp_path("merges.txt");
	struct err	 err;
	struct bpe	*b;

	write_vocab(v, vocab_extra);
	spit(m, merges);
	err_clear(&err);
	b = bpe_load(v, m, &err);
	CHECK_MSG(b == NULL && strstr(err.msg, want) != NULL,
	    "want \"%s\", got \"%s\"", want, err.msg);
	bpe_free(b);
	free(v);
	free(m);
}

static void
test_malformed(void)
{
	const char	*good = "  \"ab\": 256,\n  \"abc\": 257\n";
	char		*v = tmp_path("vocab.json"), *m = tmp_path("merges.txt");
	struct err	 err;
	struct bpe	*b;
	int32_t		*ids;
	size_t		 n;

	/* the good case loads and merges */
	write_vocab(v, good);
	spit(m, "#version: 0.2\na b\nab c\n");
	b = bpe_load(v, m, &err);
	CHECK_MSG(b != NULL, "%s", b ? "" : err.msg);
	if (b != NULL) {
		CHECK(bpe_n_vocab(b) == 258 && bpe_n_merges(b) == 2);
		encode_str(b, "abc", &ids, &n);
		CHECK(n == 1 && ids[0] == 257);
		free(ids);
		bpe_free(b);
	}
	/* bad JSON: a missing comma after line 259 ("ab") */
	expect_load_error("  \"ab\": 256\n  \"abc\": 257\n", "a b\n",
	    "vocab.json:259:");
	expect_load_error(good, "#version: 0.2\na b\nab c\nzz q\n",
	    "merges.txt:4: unknown merge symbol \"zz\"");
	expect_load_error(good, "a b\nab \xc3\xa7\xc3\xa7\n",
	    "merges.txt:2: unknown merge symbol");
	expect_load_error("  \"ab\": 256,\n  \"abc\": 256\n", "a b\n",
	    "vocab.json:259: duplicate id 256 (first on line 258)");
	expect_load_error("  \"ab\": 256,\n  \"abc\": 300\n", "a b\n",
	    "vocab.json:259: id 300 of \"abc\" leaves a hole");
	expect_load_error("  \"ab\": 256,\n  \"abc\": \"x\"\n", "a b\n",
	    "vocab.json:259: the id of \"abc\" is not an integer");
	expect_load_error(good, "a b\nb c\n",
	    "merges.txt:2: merge \"b c\" makes a token that is not in the "
	    "vocabulary");
	expect_load_error(good, "a b c\n", "merges.txt:1: expected two symbols");
	expect_load_error("  \"a\": 256\n", "a b\n",
	    "vocab.json:258: duplicate object key");
	expect_load_error("  \"\xe2\x82\xac\": 256\n", "", "vocab.json:258: "
	    "token \"\xe2\x82\xac\" has a character outside");

	/* a byte without a token */
	spit(v, "{\"a\": 0}\n");
	spit(m, "");
	CHECK(bpe_load(v, m, &err) == NULL &&
	    strstr(err.msg, "no token for byte 0x00") != NULL);
	spit(v, "[1, 2]\n");
	CHECK(bpe_load(v, m, &err) == NULL && strstr(err.msg, ":1:") != NULL);
	spit(v, "{\"a\": 0,\n\n  \"b\": }\n");
	CHECK(bpe_load(v, m, &err) == NULL && strstr(err.msg, ":3:") != NULL);
	CHECK(bpe_load("/nonexistent/vocab.json", m, &err) == NULL &&
	    strstr(err.msg, "/nonexistent/vocab.json") != NULL);
	free(v);
	free(m);
}

/* bpe_save writes files equal (as JSON, as lines) to the originals. */
static void
test_save(const struct bpe *b)
{
	char		*v = tmp_path("saved-vocab.json");
	char		*m = tmp_path("saved-merges.txt");
	char		*ov = data_path("gpt2_vocab.json");
	char		*om = data_path("gpt2_merges.txt");
	struct err	 err;
	json_error_t	 je;
	json_t		*a, *o;
	char		*sm, *orig;
	size_t		 sl, ol;

	CHECK(bpe_save(b, v, m, &err) == 0);
	a = json_load_file(v, 0, &je);
	o = json_load_file(ov, 0, &je);
	CHECK(a != NULL && o != NULL && json_equal(a, o));
	json_decref(a);
	json_decref(o);
	sm = slurp(m, &sl);
	orig = slurp(om, &ol);
	CHECK(sl > 14 && memcmp(sm, "#version: 0.2\n", 14) == 0);
	CHECK(sl - 14 == ol && memcmp(sm + 14, orig, ol) == 0);
	free(sm);
	free(orig);
	free(v);
	free(m);
	free(ov);
	free(om);
}

/* tokenizer.json made from the GPT-2 files, merges in either spelling. */
static void
test_hf(int pairs)
{
	char		*ov = data_path("gpt2_vocab.json");
	char		*om = data_path("gpt2_merges.txt");
	char		*hf = tmp_path("tokenizer.json");
	json_error_t	 je;
	json_t		*vocab = json_load_file(ov, 0, &je), *merges = json_array();
	json_t		*root, *added;
	size_t		 len;
	char		*mt = slurp(om, &len), *line, *save;
	struct err	 err;
	struct bpe	*b;

	for (line = strtok_r(mt, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (pairs) {
			char *sp = strchr(line, ' ');
			*sp = '\0';
			json_array_append_new(merges, json_pack("[s, s]", line,
			    sp + 1));
		} else
			json_array_append_new(merges, json_string(line));
	}
	added = json_pack("[{s:i, s:s, s:b}]", "id", 50256, "content",
	    "<|endoftext|>", "special", 1);
	root = json_pack("{s:s, s:o, s:n, s:{s:s, s:b, s:b, s:b}, "
	    "s:{s:s, s:o, s:o}}", "version", "1.0", "added_tokens", added,
	    "normalizer", "pre_tokenizer", "type", "ByteLevel",
	    "add_prefix_space", 0, "trim_offsets", 1, "use_regex", 1,
	    "model", "type", "BPE", "vocab", vocab, "merges", merges);
	CHECK(json_dump_file(root, hf, 0) == 0);
	json_decref(root);
	b = bpe_load_hf(hf, &err);
	CHECK_MSG(b != NULL, "%s", b ? "" : err.msg);
	if (b != NULL) {
		check_parity(b, "tinystories_sample.txt");
		check_parity(b, "unicode.txt");
		CHECK(bpe_is_special(b, 50256));
		bpe_free(b);
	}
	spit(hf, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}");
	CHECK(bpe_load_hf(hf, &err) == NULL &&
	    strstr(err.msg, "not BPE") != NULL);
	spit(hf, "{\"pre_tokenizer\": {\"type\": \"Metaspace\"}, \"model\": "
	    "{\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}");
	CHECK(bpe_load_hf(hf, &err) == NULL &&
	    strstr(err.msg, "Metaspace is not supported") != NULL);
	spit(hf, "{\"normalizer\": {\"type\": \"NFC\"}, \"pre_tokenizer\": "
	    "{\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", "
	    "\"vocab\": {}, \"merges\": []}}");
	CHECK(bpe_load_hf(hf, &err) == NULL &&
	    strstr(err.msg, "normalizer is not supported") != NULL);
	spit(hf, "{\"model\": {\"type\": \"BPE\",\n \"vocab\": {}, }}");
	CHECK(bpe_load_hf(hf, &err) == NULL &&
	    strstr(err.msg, "tokenizer.json:2:") != NULL);
	free(mt);
	free(hf);
	free(ov);
	free(om);
}

static void
cleanup(void)
{
	const char *names[] = { "vocab.json", "merges.txt", "saved-vocab.json",
	    "saved-merges.txt", "tokenizer.json" };

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char *p = tmp_path(names[i]);
		unlink(p);
		free(p);
	}
	rmdir(tmpdir);
}

int
main(void)
{
	struct bpe *b;

	if (mkdtemp(tmpdir) == NULL)
		return 99;
	atexit(cleanup);
	b = load_gpt2();
	CHECK(bpe_n_vocab(b) == 50257 && bpe_n_merges(b) == 50000);
	check_parity(b, "corpus.en");
	check_parity(b, "tinystories_sample.txt");
	check_parity(b, "address.txt");
	check_parity(b, "german.txt");
	check_parity(b, "unicode.txt");
	check_parity(b, "long.txt");
	check_parity(b, "random.txt");
	test_splitter(b);
	test_regex_semantics();
	test_utf8(b);
	test_decode(b);
	test_stream(b);
	test_save(b);
	test_specials(b);
	bpe_free(b);
	bpe_free(NULL);
	test_malformed();
	test_hf(0);
	test_hf(1);
	CHECK_RESULT();
}
