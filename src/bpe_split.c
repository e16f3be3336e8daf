/*
 * bpe_split.c: the pre-tokenizer that encoding and training share.  Text is
 * cut at special tokens (longest match first, never split), and the text
 * between them into pre-tokens by the GPT-2 pattern, matched with PCRE2
 * (UTF + Unicode properties, JIT when available).  ASCII runs take a
 * hand-written path that mirrors the pattern alternative by alternative and
 * hands anything that depends on a non-ASCII character back to PCRE2; the
 * tests hold the two to the same answers.
 */
#include "config.h"

#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "bpe_split.h"
#include "util.h"

#define BPE_PATTERN "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+" \
	"| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

struct bpe_special {
	char		*bytes;		/* owned */
	size_t		 len;
	int32_t		 id;		/* token id (or caller's index) */
};

struct bpe_splitter {
	pcre2_code		*re;		/* the GPT-2 pattern, UTF + UCP */
	int			 jit;		/* re was JIT-compiled */
	struct bpe_special	*sp;		/* longest first */
	size_t			 n_sp;
	unsigned char		 first[256];	/* 1 if a special starts so */
};

/*
 * A splitter with the GPT-2 pattern and no special tokens.  NULL with err
 * set if PCRE2 rejects the pattern (a PCRE2 built without Unicode).
 */
struct bpe_splitter *
bpe_splitter_new(struct err *err)
{
	struct bpe_splitter	*s;
	int			 ec;
	PCRE2_SIZE		 off;

	s = xcalloc(1, sizeof *s);
	s->re = pcre2_compile((PCRE2_SPTR)BPE_PATTERN, PCRE2_ZERO_TERMINATED,
	    PCRE2_UTF | PCRE2_UCP, &ec, &off, NULL);
	if (s->re == NULL) {
		PCRE2_UCHAR msg[128];

		pcre2_get_error_message(ec, msg, sizeof msg);
		err_set(err, "pre-tokenizer pattern: %s", (char *)msg);
		free(s);
		return NULL;
	}
	s->jit = pcre2_jit_compile(s->re, PCRE2_JIT_COMPLETE) == 0;
	return s;
}

/*
 * Add a special token: text equal to it becomes one piece with this id and
 * is never pre-tokenized.  Longer tokens are tried first, so overlapping
 * specials match the longest.  Re-adding a token updates its id.
 */
int
bpe_splitter_add_special(struct bpe_splitter *s, const char *tok, size_t len,
    int32_t id)
{
	size_t at;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < s->n_sp; i++) {
		if (s->sp[i].len == len && memcmp(s->sp[i].bytes, tok, len) == 0) {
			s->sp[i].id = id;
			return 0;
		}
	}
	s->sp = xreallocarray(s->sp, s->n_sp + 1, sizeof *s->sp);
	for (at = 0; at < s->n_sp && s->sp[at].len >= len; at++)
		;
	memmove(&s->sp[at + 1], &s->sp[at], (s->n_sp - at) * sizeof *s->sp);
	s->sp[at].bytes = xstrndup(tok, len);
	s->sp[at].len = len;
	s->sp[at].id = id;
	s->n_sp++;
	s->first[(unsigned char)tok[0]] = 1;
	return 0;
}

/*
 * Release a splitter and its special tokens; NULL is allowed.
 */
void
bpe_splitter_free(struct bpe_splitter *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n_sp; i++)
		free(s->sp[i].bytes);
	free(s->sp);
	pcre2_code_free(s->re);
	free(s);
}

/* The special token that starts at p, or NULL. */
static const struct bpe_special *
bpe_splitter_special_at(const struct bpe_splitter *s, const char *p,
    size_t n)
{
	if (!s->first[(unsigned char)*p])
		return NULL;
	for (size_t i = 0; i < s->n_sp; i++)
		if (s->sp[i].len <= n && memcmp(s->sp[i].bytes, p, s->sp[i].len)
		    == 0)
			return &s->sp[i];
	return NULL;
}

struct bpe_walk {
	const struct bpe_splitter	*s;
	pcre2_match_data		*md;
	int				 fast;	/* use the ASCII fast path */
	struct err			*err;
};

/* End of the pattern's match at i, through PCRE2; 0 on error. */
static size_t
bpe_walk_pcre(struct bpe_walk *w, const char *t, size_t len, size_t i)
{
	int rc;

	if (w->s->jit)
		rc = pcre2_jit_match(w->s->re, (PCRE2_SPTR)t, len, i,
		    PCRE2_NO_UTF_CHECK | PCRE2_ANCHORED, w->md, NULL);
	else
		rc = pcre2_match(w->s->re, (PCRE2_SPTR)t, len, i,
		    PCRE2_NO_UTF_CHECK | PCRE2_ANCHORED, w->md, NULL);
	if (rc == PCRE2_ERROR_NOMATCH) {
		/* the pattern covers every character; keep going regardless */
		unsigned char	c = (unsigned char)t[i];
		size_t		need = c < 0xc0 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;

		return i + (need <= len - i ? need : len - i);
	}
	if (rc < 0) {
		PCRE2_UCHAR msg[128];

		pcre2_get_error_message(rc, msg, sizeof msg);
		err_set(w->err, "pre-tokenizer at byte %zu: %s", i, (char *)msg);
		return 0;
	}
	return pcre2_get_ovector_pointer(w->md)[1];
}

#define BPE_A_SPACE	1
#define BPE_A_LETTER	2
#define BPE_A_DIGIT	4
#define BPE_A_OTHER	8	/* not space, letter or digit */

static unsigned char
bpe_ascii_class(unsigned char c)
{
	if (c >= 0x80)
		return 0;
	if (c == ' ' || (c >= '\t' && c <= '\r'))
		return BPE_A_SPACE;
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
		return BPE_A_LETTER;
	if (c >= '0' && c <= '9')
		return BPE_A_DIGIT;
	return BPE_A_OTHER;
}

/*
 * The GPT-2 pattern for ASCII text: end of the match at i, or 0 when the
 * answer depends on a non-ASCII character (PCRE2 decides those).  Each
 * branch mirrors one alternative of BPE_PATTERN, in its order.
 */
static size_t
bpe_walk_ascii(const unsigned char *t, size_t len, size_t i)
{
	unsigned char	c = bpe_ascii_class(t[i]), nc;
	size_t		j = i + 1;

	if (c == 0)
		return 0;
	if (t[i] == '\'' && j < len) {
		unsigned char a = t[j], b = j + 1 < len ? t[j + 1] : 0;

		if (a == 's' || a == 't' || a == 'm' || a == 'd')
			return j + 1;
		if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') ||
		    (a == 'l' && b == 'l'))
			return j + 2;
	}
	nc = j < len ? bpe_ascii_class(t[j]) : BPE_A_SPACE;
	if (j < len && nc == 0)
		return 0;
	if (t[i] == ' ' && j < len && nc != BPE_A_SPACE) {
		c = nc;		/* " ?X+": the space leads the run */
		j++;
	}
	if (c != BPE_A_SPACE) {
		while (j < len && bpe_ascii_class(t[j]) == c)
			j++;
		return j < len && t[j] >= 0x80 ? 0 : j;
	}
	/* whitespace: all of a run that ends the text or is followed by
	 * more space; else all but its last character, or one character */
	j = i;
	while (j < len && bpe_ascii_class(t[j]) == BPE_A_SPACE)
		j++;
	if (j == len)
		return j;
	if (t[j] >= 0x80)
		return 0;
	return j - i > 1 ? j - 1 : j;
}

/* Pre-tokenize t[0..len) (no special tokens in it). */
static int
bpe_walk_text(struct bpe_walk *w, const char *t, size_t len, bpe_piece_fn fn,
    void *arg)
{
	size_t	i = 0, j;
	int	rc;

	while (i < len) {
		j = w->fast ? bpe_walk_ascii((const unsigned char *)t, len, i) : 0;
		if (j == 0 && (j = bpe_walk_pcre(w, t, len, i)) == 0)
			return -1;
		if ((rc = fn(arg, t + i, j - i, -1)) != 0)
			return rc;
		i = j;
	}
	return 0;
}

static int
bpe_splitter_walk(const struct bpe_splitter *s, int fast, const char *text,
    size_t len, bpe_piece_fn fn, void *arg, struct err *err)
{
	struct bpe_walk	 w = { s, NULL, fast, err };
	size_t		 start = 0, i = 0;
	int		 rc = 0;

	if ((w.md = pcre2_match_data_create(1, NULL)) == NULL)
		util_fatal("pcre2_match_data_create: out of memory");
	while (i < len) {
		const struct bpe_special *sp = NULL;

		if (s->n_sp > 0)
			sp = bpe_splitter_special_at(s, text + i, len - i);
		if (sp == NULL) {
			i++;
			continue;
		}
		if ((rc = bpe_walk_text(&w, text + start, i - start, fn,
		    arg)) != 0)
			goto out;
		if ((rc = fn(arg, text + i, sp->len, sp->id)) != 0)
			goto out;
		i += sp->len;
		start = i;
	}
	rc = bpe_walk_text(&w, text + start, len - start, fn, arg);
out:
	pcre2_match_data_free(w.md);
	return rc;
}

/*
 * Split valid UTF-8 text into special tokens and pre-tokens, calling fn for
 * each in order.  ASCII runs take a hand-written path that mirrors the
 * pattern; the tests hold it to bpe_splitter_run_pcre.
 */
int
bpe_splitter_run(const struct bpe_splitter *s, const char *text, size_t len,
    bpe_piece_fn fn, void *arg, struct err *err)
{
	return bpe_splitter_walk(s, 1, text, len, fn, arg, err);
}

/*
 * Like bpe_splitter_run, with every pre-token found by PCRE2.
 */
int
bpe_splitter_run_pcre(const struct bpe_splitter *s, const char *text,
    size_t len, bpe_piece_fn fn, void *arg, struct err *err)
{
	return bpe_splitter_walk(s, 0, text, len, fn, arg, err);
}
