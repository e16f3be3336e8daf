/*
 * test-bpe-train.c covers: the CS336 reference result (corpus.en, vocab size
 * 500, <|endoftext|>: the same merges in the same order and the same vocab
 * ids and bytes as train-bpe-reference-*); the same result with one or two
 * threads and with tiny read blocks (many cuts and thread splits); ties
 * broken toward the lexicographically greater pair (worked by hand); the
 * merges of a naive full-recount trainer (tools/bpe-fixtures/train_ref.py)
 * for corpus.en at vocab size 1500 and for the Unicode, German, address and
 * long texts together at 700 (many ties, multi-byte characters, CRLF,
 * CJK), in memory and streamed in small blocks over two threads; no
 * merge across special tokens; train -> save -> bpe_load -> round trip;
 * progress reports; errors (vocab too small, bad UTF-8 with its offset or
 * replaced, a missing file).
 */
#include "config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpe.h"
#include "bpe_train.h"
#include "check.h"
#include "util.h"

static char tmpdir[] = "/tmp/test-bpe-train.XXXXXX";

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

static const char *const eot[] = { "<|endoftext|>" };

/* Train on corpus.en as the reference did and compare the saved files. */
static void
check_reference(int threads, size_t chunk)
{
	char			*corpus = data_path("corpus.en");
	char			*rv = data_path("train-bpe-reference-vocab.json");
	char			*rm = data_path("train-bpe-reference-merges.txt");
	char			*v = tmp_path("vocab.json"), *m = tmp_path("merges.txt");
	const char		*paths[] = { corpus };
	struct bpe_train_opts	 o = { 0 };
	struct err		 err;
	struct bpe		*b;
	json_error_t		 je;
	json_t			*a, *r;
	char			*got, *want;
	size_t			 gl, wl;
	double			 t0 = util_now();

	o.vocab_size = 500;
	o.special = eot;
	o.n_special = 1;
	o.threads = threads;
	o.chunk_bytes = chunk;
	b = bpe_train_files(paths, 1, &o, &err);
	CHECK_MSG(b != NULL, "%s", b ? "" : err.msg);
	if (b == NULL)
		goto out;
	if (threads == 0)
		fprintf(stderr, "corpus.en, 500: %.3f s\n", util_now() - t0);
	/* the specials, then the 256 bytes, then one token per merge */
	CHECK(bpe_n_vocab(b) == o.vocab_size &&
	    bpe_n_merges(b) == o.vocab_size - o.n_special - 256);
	CHECK(bpe_save(b, v, m, &err) == 0);
	got = slurp(m, &gl);
	want = slurp(rm, &wl);
	CHECK_MSG(gl == 14 + wl && memcmp(got, "#version: 0.2\n", 14) == 0 &&
	    memcmp(got + 14, want, wl) == 0, "merges differ (threads %d, chunk "
	    "%zu)", threads, chunk);
	free(got);
	free(want);
	a = json_load_file(v, 0, &je);
	r = json_load_file(rv, 0, &je);
	CHECK_MSG(a != NULL && r != NULL && json_equal(a, r),
	    "vocab differs (threads %d, chunk %zu)", threads, chunk);
	json_decref(a);
	json_decref(r);
	bpe_free(b);
out:
	free(corpus);
	free(rv);
	free(rm);
	free(v);
	free(m);
}

/* Train on the named fixtures put together; compare with naive merges. */
static void
check_naive(const char *const *names, size_t n_names, size_t vocab,
    const char *want_name)
{
	struct buf		 text;
	struct bpe_train_opts	 o = { 0 };
	struct err		 err;
	struct bpe		*b;
	char			*m = tmp_path("merges.txt"), *v = tmp_path("vocab.json");
	char			*wp = data_path(want_name), *got, *want;
	size_t			 gl, wl;

	buf_init(&text);
	buf_append(&text, "", 0);
	for (size_t i = 0; i < n_names; i++) {
		char	*p = data_path(names[i]), *t;
		size_t	 len;

		t = slurp(p, &len);
		buf_append(&text, t, len);
		free(t);
		free(p);
	}
	o.vocab_size = vocab;
	o.special = eot;
	o.n_special = 1;
	/* in memory, then from a file in small blocks over two threads */
	for (int pass = 0; pass < 2; pass++) {
		char		*cp = tmp_path("corpus.txt");
		const char	*paths[] = { cp };

		if (pass == 0)
			b = bpe_train_text(text.data, text.len, &o, &err);
		else {
			o.threads = 2;
			o.chunk_bytes = text.len / 100 + 64;
			if (util_write_file_atomic(cp, text.data, text.len,
			    &err) != 0)
				exit(99);
			b = bpe_train_files(paths, 1, &o, &err);
		}
		free(cp);
		CHECK_MSG(b != NULL, "%s", b ? "" : err.msg);
		if (b != NULL && bpe_save(b, v, m, &err) == 0) {
			got = slurp(m, &gl);
			want = slurp(wp, &wl);
			CHECK_MSG(gl == 14 + wl && memcmp(got + 14, want, wl) ==
			    0, "merges differ from %s (pass %d)", want_name,
			    pass);
			free(got);
			free(want);
		}
		bpe_free(b);
	}
	buf_fini(&text);
	free(m);
	free(v);
	free(wp);
}

static struct bpe *
train_text(const char *text, size_t vocab, const char *const *sp, size_t n_sp)
{
	struct bpe_train_opts	 o = { 0 };
	struct err		 err;
	struct bpe		*b;

	o.vocab_size = vocab;
	o.special = sp;
	o.n_special = n_sp;
	b = bpe_train_text(text, strlen(text), &o, &err);
	CHECK_MSG(b != NULL, "\"%s\": %s", text, b ? "" : err.msg);
	return b;
}

static int
tok_is(const struct bpe *b, int32_t id, const char *s)
{
	size_t		 len;
	const char	*t = bpe_token_bytes(b, id, &len);

	return t != NULL && len == strlen(s) && memcmp(t, s, len) == 0;
}

static void
test_ties(void)
{
	/* words "ab", " ab", " cd" x2: (a,b), (' ',c), (c,d) all count 2;
	 * 'c' > 'a' > ' ' gives (c,d), then (a,b) beats (' ',cd), ... */
	struct bpe *b = train_text("ab ab cd cd", 260, NULL, 0);

	if (b == NULL)
		return;
	CHECK(bpe_n_merges(b) == 4);
	CHECK(tok_is(b, 256, "cd"));
	CHECK(tok_is(b, 257, "ab"));
	CHECK(tok_is(b, 258, " cd"));
	CHECK(tok_is(b, 259, " ab"));
	/* the 256 bytes in GPT-2 order: '!' first, byte 0 after 0xff */
	CHECK(tok_is(b, 0, "!"));
	CHECK(tok_is(b, 187, "\xff"));
	CHECK(bpe_token_bytes(b, 188, NULL) != NULL &&
	    bpe_token_bytes(b, 188, NULL)[0] == '\0');
	bpe_free(b);
}

static void
test_specials(void)
{
	struct bpe	*b;
	int32_t		*ids;
	size_t		 n;
	struct err	 err;

	/* x and y only ever meet across the special token: nothing to merge */
	b = train_text("x<|endoftext|>y<|endoftext|>x<|endoftext|>y", 300,
	    eot, 1);
	if (b != NULL) {
		CHECK(bpe_n_merges(b) == 0 && bpe_n_vocab(b) == 257);
		CHECK(tok_is(b, 0, "<|endoftext|>") && bpe_is_special(b, 0));
		bpe_free(b);
	}
	b = train_text("ab<|endoftext|>ab<|endoftext|>", 300, eot, 1);
	if (b != NULL) {
		CHECK(bpe_n_merges(b) == 1 && tok_is(b, 257, "ab"));
		CHECK(bpe_encode(b, "ab<|endoftext|>", 15, BPE_UTF8_STRICT, &ids,
		    &n, &err) == 0);
		CHECK(n == 2 && ids[0] == 257 && ids[1] == 0);
		free(ids);
		bpe_free(b);
	}
}

/* Train on one text, save, load the files back, round-trip another. */
static void
test_round_trip(void)
{
	char			*corpus = data_path("tinystories_sample.txt");
	char			*other = data_path("unicode.txt");
	char			*v = tmp_path("vocab.json"), *m = tmp_path("merges.txt");
	const char		*paths[] = { corpus };
	struct bpe_train_opts	 o = { 0 };
	struct err		 err;
	struct bpe		*b, *l;
	size_t			 len, n, n2, out_len;
	char			*text = slurp(other, &len), *out;
	int32_t			*ids, *ids2;

	o.vocab_size = 400;
	o.special = eot;
	o.n_special = 1;
	b = bpe_train_files(paths, 1, &o, &err);
	CHECK(b != NULL);
	if (b == NULL)
		goto out;
	CHECK(bpe_save(b, v, m, &err) == 0);
	l = bpe_load(v, m, &err);
	CHECK_MSG(l != NULL, "%s", l ? "" : err.msg);
	if (l != NULL) {
		CHECK(bpe_n_vocab(l) == 400 && bpe_is_special(l, 0));
		CHECK(bpe_encode(b, text, len, BPE_UTF8_STRICT, &ids, &n,
		    &err) == 0);
		CHECK(bpe_encode(l, text, len, BPE_UTF8_STRICT, &ids2, &n2,
		    &err) == 0);
		CHECK(n == n2 && memcmp(ids, ids2, n * sizeof *ids) == 0);
		CHECK(n < len);
		CHECK(bpe_decode(l, ids2, n2, BPE_UTF8_STRICT, &out, &out_len,
		    &err) == 0);
		CHECK(out_len == len && memcmp(out, text, len) == 0);
		free(out);
		free(ids);
		free(ids2);
		bpe_free(l);
	}
	bpe_free(b);
out:
	free(text);
	free(corpus);
	free(other);
	free(v);
	free(m);
}

struct prog {
	int	reading, merging;
	double	last_done, last_total;
};

static void
progress(void *arg, const char *stage, double done, double total)
{
	struct prog *p = arg;

	if (strcmp(stage, "reading") == 0)
		p->reading++;
	else if (strcmp(stage, "merging") == 0) {
		p->merging++;
		p->last_done = done;
		p->last_total = total;
	}
}

static void
test_errors_and_progress(void)
{
	struct bpe_train_opts	 o = { 0 };
	struct err		 err;
	struct bpe		*b;
	struct prog		 p = { 0, 0, 0, 0 };
	const char		*missing[] = { "/nonexistent/corpus.txt" };
	char			*bad = tmp_path("bad.txt");

	o.vocab_size = 200;
	CHECK(bpe_train_text("abc", 3, &o, &err) == NULL &&
	    strstr(err.msg, "less than 256") != NULL);
	o.vocab_size = 300;
	CHECK(bpe_train_text("abc \xff" "def", 8, &o, &err) == NULL);
	CHECK_MSG(strstr(err.msg, "byte offset 4") != NULL, "%s", err.msg);
	CHECK(util_write_file_atomic(bad, "abc abc \xc3", 9, &err) == 0);
	CHECK(bpe_train_files((const char *const *)&bad, 1, &o, &err) == NULL);
	CHECK_MSG(strstr(err.msg, "bad.txt: invalid UTF-8 at byte offset 8")
	    != NULL, "%s", err.msg);
	o.utf8 = BPE_UTF8_REPLACE;
	b = bpe_train_files((const char *const *)&bad, 1, &o, &err);
	CHECK(b != NULL && bpe_n_merges(b) > 0);
	bpe_free(b);
	CHECK(bpe_train_files(missing, 1, &o, &err) == NULL &&
	    strstr(err.msg, "/nonexistent/corpus.txt") != NULL);
	o.progress = progress;
	o.progress_arg = &p;
	o.vocab_size = 280;
	b = bpe_train_text("the cat sat on the mat; the cat ate the rat", 43,
	    &o, &err);
	CHECK_MSG(b != NULL, "%s", b ? "" : err.msg);
	CHECK(p.reading >= 1 && p.merging >= 1);
	CHECK(b != NULL && p.last_done == (double)bpe_n_merges(b));
	bpe_free(b);
	unlink(bad);
	free(bad);
}

static void
cleanup(void)
{
	const char *names[] = { "vocab.json", "merges.txt", "bad.txt",
	    "corpus.txt" };

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
	if (mkdtemp(tmpdir) == NULL)
		return 99;
	atexit(cleanup);
	check_reference(0, 0);
	check_reference(1, 0);
	check_reference(2, 4096);
	check_reference(1, 1000);
	{
		const char *en[] = { "corpus.en" };
		const char *mixed[] = { "unicode.txt", "german.txt",
		    "address.txt", "long.txt" };

		check_naive(en, 1, 1500, "corpus.en.merges-1500.txt");
		check_naive(mixed, 4, 700, "mixed.merges-700.txt");
	}
	test_ties();
	test_specials();
	test_round_trip();
	test_errors_and_progress();
	CHECK_RESULT();
}
