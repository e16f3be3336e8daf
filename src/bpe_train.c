/*
 * bpe_train.c: byte-level BPE training with the CS336 reference semantics.
 *
 * The vocabulary starts with the special tokens (ids 0..S-1), then the 256
 * bytes in GPT-2 byte-to-unicode order, then one token per merge.  The
 * corpus is read in blocks cut where pre-tokenization cannot tell the
 * difference (between a word and the white space after it), each block is
 * split among threads,
 * and only the count of each distinct pre-token is kept ("words"), so
 * memory follows the number of distinct pre-tokens, not the corpus size.
 *
 * Merging keeps a count for every adjacent pair and the list of words each
 * pair occurs in.  A merge rewrites only the words in its pair's list and
 * adjusts the counts of the pairs in those words; a max-heap with lazy
 * deletion (an entry is current when its count equals the pair's) picks the
 * next pair: highest count, ties to the lexicographically greater pair of
 * byte strings.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "bpe.h"
#include "bpe_split.h"
#include "bpe_train.h"
#include "util.h"

#define BT_CHUNK_DEFAULT	(4u << 20)

/* ---- distinct pre-tokens with counts ---------------------------------- */

struct bt_went {
	uint64_t	hash;
	size_t		off;		/* into bytes */
	size_t		len;
	int64_t		count;		/* 0: empty slot */
};

struct bt_wtab {
	struct bt_went	*slot;		/* [cap] */
	size_t		 cap, n;	/* cap a power of two */
	struct buf	 bytes;		/* every key, back to back */
};

static uint64_t
bt_hash(const char *p, size_t len)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ull;
	}
	return h ^ (h >> 29);
}

static void
bt_wtab_init(struct bt_wtab *t)
{
	t->cap = 1024;
	t->n = 0;
	t->slot = xcalloc(t->cap, sizeof *t->slot);
	buf_init(&t->bytes);
}

static void
bt_wtab_fini(struct bt_wtab *t)
{
	free(t->slot);
	buf_fini(&t->bytes);
}

static void
bt_wtab_grow(struct bt_wtab *t)
{
	size_t		 cap = 2 * t->cap;
	struct bt_went	*s = xcalloc(cap, sizeof *s);

	for (size_t i = 0; i < t->cap; i++) {
		size_t h;

		if (t->slot[i].count == 0)
			continue;
		for (h = t->slot[i].hash & (cap - 1); s[h].count != 0;
		    h = (h + 1) & (cap - 1))
			;
		s[h] = t->slot[i];
	}
	free(t->slot);
	t->slot = s;
	t->cap = cap;
}

static void
bt_wtab_add(struct bt_wtab *t, uint64_t hash, const char *p, size_t len,
    int64_t count)
{
	size_t mask = t->cap - 1, h;

	for (h = hash & mask; t->slot[h].count != 0; h = (h + 1) & mask) {
		struct bt_went *e = &t->slot[h];

		if (e->hash == hash && e->len == len &&
		    memcmp(t->bytes.data + e->off, p, len) == 0) {
			e->count += count;
			return;
		}
	}
	t->slot[h] = (struct bt_went){ hash, t->bytes.len, len, count };
	buf_append(&t->bytes, p, len);
	if (2 * ++t->n > t->cap)
		bt_wtab_grow(t);
}

/* The count stored for p, or 0. */
static int64_t
bt_wtab_find(const struct bt_wtab *t, uint64_t hash, const char *p, size_t len)
{
	size_t mask = t->cap - 1;

	for (size_t h = hash & mask; t->slot[h].count != 0; h = (h + 1) & mask) {
		const struct bt_went *e = &t->slot[h];

		if (e->hash == hash && e->len == len &&
		    memcmp(t->bytes.data + e->off, p, len) == 0)
			return e->count;
	}
	return 0;
}

static int
bt_count_piece(void *arg, const char *p, size_t len, int32_t special)
{
	if (special < 0)
		bt_wtab_add(arg, bt_hash(p, len), p, len, 1);
	return 0;
}

/* ---- reading the corpus ------------------------------------------------ */

struct bt_ctx {
	const struct bpe_train_opts	*o;
	struct bpe_splitter		*split;
	struct bt_wtab			 words;		/* the whole corpus */
	int				 threads;
	double				 total, done;	/* bytes */
};

/* Could the pattern's \s match code point cp?  Errs toward yes: a false
 * yes only costs a cut. */
static int
bt_maybe_space(unsigned cp)
{
	return cp <= 0x20 || (cp >= 0x7f && cp <= 0xa0) || cp == 0x1680 ||
	    cp == 0x180e || (cp >= 0x2000 && cp <= 0x200b) || cp == 0x2028 ||
	    cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000 ||
	    cp == 0xfeff;
}

/* Does a special token occurrence cover the gap before t[p]? */
static int
bt_cut_in_special(const struct bt_ctx *c, const char *t, size_t len, size_t p)
{
	for (size_t k = 0; k < c->o->n_special; k++) {
		const char	*s = c->o->special[k];
		size_t		 sl = strlen(s);

		for (size_t a = p >= sl ? p - sl + 1 : 0; a < p; a++)
			if (a + sl <= len && memcmp(t + a, s, sl) == 0)
				return 1;
	}
	return 0;
}

/*
 * Is the gap before t[p] a safe cut: an ASCII white-space character after
 * a whole character that is not white space?  Every alternative of the
 * pattern that takes a non-space character stops at white space, and a
 * match never looks behind, so each side pre-tokenizes as in the whole.
 */
static int
bt_cut_at(const struct bt_ctx *c, const char *t, size_t len, size_t p)
{
	const unsigned char	*u = (const unsigned char *)t;
	size_t			 q = p - 1;
	unsigned		 cp;

	if (p == 0 || p >= len || (u[p] != ' ' && (u[p] < '\t' ||
	    u[p] > '\r')))
		return 0;
	while (q > 0 && p - q < 4 && (u[q] & 0xc0) == 0x80)
		q--;
	if (utf8_valid_prefix(t + q, p - q) != p - q)
		return 0;
	cp = u[q] < 0x80 ? u[q] : u[q] < 0xe0 ? u[q] & 0x1f :
	    u[q] < 0xf0 ? u[q] & 0x0f : u[q] & 0x07;
	for (size_t i = q + 1; i < p; i++)
		cp = (cp << 6) | (u[i] & 0x3f);
	return !bt_maybe_space(cp) && !bt_cut_in_special(c, t, len, p);
}

/* The last safe cut in t[lo..hi], or 0 if there is none. */
static size_t
bt_find_cut(const struct bt_ctx *c, const char *t, size_t len, size_t lo,
    size_t hi)
{
	if (lo < 1)
		lo = 1;
	for (size_t p = hi; p >= lo && p > 0; p--)
		if (bt_cut_at(c, t, len, p))
			return p;
	return 0;
}

/* Count the pre-tokens of t[0..len) (cut-safe ends) with all threads. */
static int
bt_count_block(struct bt_ctx *c, const char *t, size_t len, struct err *err)
{
	int		 nt = c->threads, rc = 0, *rcs;
	size_t		 cut[65];
	struct bt_wtab	*loc;
	struct err	*errs;

	if (nt > 64)
		nt = 64;
	cut[0] = 0;
	for (int k = 1; k < nt; k++) {
		size_t want = len / nt * k, p;

		p = bt_find_cut(c, t, len, cut[k - 1] + 1, want);
		cut[k] = p > cut[k - 1] ? p : cut[k - 1];
	}
	cut[nt] = len;
	loc = xcalloc(nt, sizeof *loc);
	errs = xcalloc(nt, sizeof *errs);
	rcs = xcalloc(nt, sizeof *rcs);
#pragma omp parallel for num_threads(nt) schedule(static, 1)
	for (int k = 0; k < nt; k++) {
		bt_wtab_init(&loc[k]);
		rcs[k] = bpe_splitter_run(c->split, t + cut[k],
		    cut[k + 1] - cut[k], bt_count_piece, &loc[k], &errs[k]);
	}
	for (int k = 0; k < nt; k++)
		if (rcs[k] != 0)
			rc = -1;
	for (int k = 0; k < nt; k++) {
		for (size_t i = 0; i < loc[k].cap; i++) {
			const struct bt_went *e = &loc[k].slot[i];

			if (e->count != 0)
				bt_wtab_add(&c->words, e->hash,
				    loc[k].bytes.data + e->off, e->len, e->count);
		}
		if (rc != 0 && errs[k].msg[0] != '\0')
			*err = errs[k];
		bt_wtab_fini(&loc[k]);
	}
	free(loc);
	free(errs);
	free(rcs);
	return rc;
}

/* Check (or repair) the UTF-8 of a block, then count it. */
static int
bt_feed(struct bt_ctx *c, const char *name, size_t base, const char *t,
    size_t len, struct err *err)
{
	size_t	 bad;
	char	*fixed = NULL;
	int	 rc;

	if (!utf8_is_valid(t, len, &bad)) {
		if (c->o->utf8 == BPE_UTF8_STRICT) {
			err_set(err, "%s: invalid UTF-8 at byte offset %zu", name,
			    base + bad);
			return -1;
		}
		fixed = bpe_utf8_repair(t, len, &len);
		t = fixed;
	}
	rc = bt_count_block(c, t, len, err);
	if (rc != 0)
		err_prefix(err, "%s", name);
	free(fixed);
	c->done += (double)len;
	if (c->o->progress != NULL)
		c->o->progress(c->o->progress_arg, "reading", c->done, c->total);
	return rc;
}

/* Stream one file through bt_feed in blocks ending at safe cuts. */
static int
bt_read_file(struct bt_ctx *c, const char *path, struct err *err)
{
	FILE	*f;
	size_t	 cap = (size_t)c->threads * (c->o->chunk_bytes ?
		    c->o->chunk_bytes : BT_CHUNK_DEFAULT);
	size_t	 len = 0, base = 0;
	char	*buf;
	int	 rc = -1, eof = 0;

	if ((f = fopen(path, "rb")) == NULL) {
		err_set(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	buf = xmalloc(cap);
	while (!eof || len > 0) {
		size_t n, cut;

		if (!eof) {
			n = fread(buf + len, 1, cap - len, f);
			len += n;
			if (len < cap) {
				if (ferror(f)) {
					err_set(err, "%s: read error: %s", path,
					    strerror(errno));
					goto out;
				}
				eof = 1;
			}
		}
		cut = eof ? len : bt_find_cut(c, buf, len, len / 2, len - 1);
		if (cut == 0) {
			/* no safe cut in the second half: read more first */
			cap *= 2;
			buf = xreallocarray(buf, cap, 1);
			continue;
		}
		if (bt_feed(c, path, base, buf, cut, err) != 0)
			goto out;
		memmove(buf, buf + cut, len - cut);
		len -= cut;
		base += cut;
	}
	rc = 0;
out:
	free(buf);
	fclose(f);
	return rc;
}

/* ---- merging ---------------------------------------------------------- */

struct bt_pair {
	int32_t		 a, b;		/* token ids */
	int64_t		 count;		/* current count over the corpus */
	int64_t		 pushed;	/* count of its newest heap entry */
	uint32_t	*w;		/* words it occurs in (may be stale) */
	uint32_t	 n_w, cap_w;
	int		 dirty;		/* changed during this merge */
};

struct bt_heap_ent {
	int64_t		count;
	uint32_t	pair;
};

struct bt_merge {
	char		**tok;		/* [n_tok] raw bytes */
	size_t		 *tok_len;
	size_t		  n_tok, cap_tok;
	int32_t		 *merges;	/* 2 per merge */
	size_t		  n_merges;
	/* words */
	uint32_t	 *w_off;	/* into sym */
	uint32_t	 *w_len;	/* symbols now */
	int64_t		 *w_count;
	uint32_t	 *w_stamp;	/* last merge that touched it */
	size_t		  n_words;
	int32_t		 *sym;
	/* pairs */
	struct bt_pair	 *pair;
	size_t		  n_pair, cap_pair;
	uint32_t	 *pmap;		/* [pcap] pair index + 1; 0 empty */
	size_t		  pcap;
	uint32_t	 *dirty;	/* pairs changed this merge */
	size_t		  n_dirty, cap_dirty;
	struct bt_heap_ent *heap;
	size_t		  n_heap, cap_heap;
};

static int32_t
bt_add_token(struct bt_merge *m, const char *s, size_t len)
{
	if (m->n_tok == m->cap_tok) {
		m->cap_tok = m->cap_tok ? 2 * m->cap_tok : 1024;
		m->tok = xreallocarray(m->tok, m->cap_tok, sizeof *m->tok);
		m->tok_len = xreallocarray(m->tok_len, m->cap_tok,
		    sizeof *m->tok_len);
	}
	m->tok[m->n_tok] = xstrndup(s, len);
	m->tok_len[m->n_tok] = len;
	return (int32_t)m->n_tok++;
}

/* Is pair x greater than pair y in the reference's order? */
static int
bt_pair_greater(const struct bt_merge *m, const struct bt_heap_ent *x,
    const struct bt_heap_ent *y)
{
	const struct bt_pair *p = &m->pair[x->pair], *q = &m->pair[y->pair];
	int32_t ids[2][2] = { { p->a, p->b }, { q->a, q->b } };

	if (x->count != y->count)
		return x->count > y->count;
	for (int k = 0; k < 2; k++) {
		size_t	la = m->tok_len[ids[0][k]], lb = m->tok_len[ids[1][k]];
		int	c = memcmp(m->tok[ids[0][k]], m->tok[ids[1][k]],
			    la < lb ? la : lb);

		if (c != 0)
			return c > 0;
		if (la != lb)
			return la > lb;
	}
	return 0;
}

static void
bt_heap_push(struct bt_merge *m, uint32_t pi)
{
	struct bt_heap_ent	e = { m->pair[pi].count, pi };
	size_t			i;

	if (m->n_heap == m->cap_heap) {
		m->cap_heap = m->cap_heap ? 2 * m->cap_heap : 4096;
		m->heap = xreallocarray(m->heap, m->cap_heap, sizeof *m->heap);
	}
	m->pair[pi].pushed = e.count;
	for (i = m->n_heap++; i > 0 &&
	    bt_pair_greater(m, &e, &m->heap[(i - 1) / 2]); i = (i - 1) / 2)
		m->heap[i] = m->heap[(i - 1) / 2];
	m->heap[i] = e;
}

static struct bt_heap_ent
bt_heap_pop(struct bt_merge *m)
{
	struct bt_heap_ent	top = m->heap[0], e = m->heap[--m->n_heap];
	size_t			i = 0, n = m->n_heap;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && bt_pair_greater(m, &m->heap[c + 1], &m->heap[c]))
			c++;
		if (!bt_pair_greater(m, &m->heap[c], &e))
			break;
		m->heap[i] = m->heap[c];
		i = c;
	}
	if (n > 0)
		m->heap[i] = e;
	return top;
}

static uint64_t
bt_pair_hash(int32_t a, int32_t b)
{
	uint64_t k = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;

	k *= 0x9e3779b97f4a7c15ull;
	return k ^ (k >> 31);
}

static void
bt_pmap_grow(struct bt_merge *m)
{
	size_t cap = m->pcap ? 2 * m->pcap : 1 << 16;

	free(m->pmap);
	m->pmap = xcalloc(cap, sizeof *m->pmap);
	m->pcap = cap;
	for (size_t i = 0; i < m->n_pair; i++) {
		size_t h = bt_pair_hash(m->pair[i].a, m->pair[i].b) & (cap - 1);

		while (m->pmap[h] != 0)
			h = (h + 1) & (cap - 1);
		m->pmap[h] = (uint32_t)i + 1;
	}
}

/* The index of pair (a, b), created with count 0 if new. */
static uint32_t
bt_pair_get(struct bt_merge *m, int32_t a, int32_t b)
{
	size_t		h, mask;
	uint32_t	pi;

	if (2 * (m->n_pair + 1) > m->pcap)
		bt_pmap_grow(m);
	mask = m->pcap - 1;
	for (h = bt_pair_hash(a, b) & mask; m->pmap[h] != 0; h = (h + 1) & mask) {
		pi = m->pmap[h] - 1;
		if (m->pair[pi].a == a && m->pair[pi].b == b)
			return pi;
	}
	if (m->n_pair == m->cap_pair) {
		m->cap_pair = m->cap_pair ? 2 * m->cap_pair : 4096;
		m->pair = xreallocarray(m->pair, m->cap_pair, sizeof *m->pair);
	}
	pi = (uint32_t)m->n_pair++;
	memset(&m->pair[pi], 0, sizeof m->pair[pi]);
	m->pair[pi].a = a;
	m->pair[pi].b = b;
	m->pmap[h] = pi + 1;
	return pi;
}

/* Change a pair's count; word w (if not UINT32_MAX) now contains it. */
static void
bt_pair_add(struct bt_merge *m, int32_t a, int32_t b, int64_t d, uint32_t w)
{
	uint32_t	 pi = bt_pair_get(m, a, b);
	struct bt_pair	*p = &m->pair[pi];

	p->count += d;
	if (!p->dirty) {
		p->dirty = 1;
		if (m->n_dirty == m->cap_dirty) {
			m->cap_dirty = m->cap_dirty ? 2 * m->cap_dirty : 1024;
			m->dirty = xreallocarray(m->dirty, m->cap_dirty,
			    sizeof *m->dirty);
		}
		m->dirty[m->n_dirty++] = pi;
	}
	if (w != UINT32_MAX && (p->n_w == 0 || p->w[p->n_w - 1] != w)) {
		if (p->n_w == p->cap_w) {
			p->cap_w = p->cap_w ? 2 * p->cap_w : 4;
			p->w = xreallocarray(p->w, p->cap_w, sizeof *p->w);
		}
		p->w[p->n_w++] = w;
	}
}

/* Push a heap entry for each pair whose count moved. */
static void
bt_flush_dirty(struct bt_merge *m)
{
	for (size_t i = 0; i < m->n_dirty; i++) {
		struct bt_pair *p = &m->pair[m->dirty[i]];

		p->dirty = 0;
		if (p->count > 0 && p->count != p->pushed)
			bt_heap_push(m, m->dirty[i]);
	}
	m->n_dirty = 0;
}

/* Turn the counted pre-tokens into words of byte ids and count pairs. */
static void
bt_setup(struct bt_merge *m, const struct bt_wtab *t, const int32_t *byte_id)
{
	size_t n_sym = 0, k = 0;

	m->n_words = t->n;
	m->w_off = xcalloc(t->n + 1, sizeof *m->w_off);
	m->w_len = xcalloc(t->n + 1, sizeof *m->w_len);
	m->w_count = xcalloc(t->n + 1, sizeof *m->w_count);
	m->w_stamp = xcalloc(t->n + 1, sizeof *m->w_stamp);
	m->sym = xcalloc(t->bytes.len + 1, sizeof *m->sym);
	for (size_t i = 0; i < t->cap; i++) {
		const struct bt_went *e = &t->slot[i];

		if (e->count == 0)
			continue;
		m->w_off[k] = (uint32_t)n_sym;
		m->w_len[k] = (uint32_t)e->len;
		m->w_count[k] = e->count;
		for (size_t j = 0; j < e->len; j++)
			m->sym[n_sym++] = byte_id[(unsigned char)
			    t->bytes.data[e->off + j]];
		for (size_t j = 0; j + 1 < e->len; j++)
			bt_pair_add(m, m->sym[m->w_off[k] + j],
			    m->sym[m->w_off[k] + j + 1], e->count, (uint32_t)k);
		k++;
	}
	bt_flush_dirty(m);
}

/* Apply merge (a, b) -> c to word w if it holds the pair. */
static void
bt_merge_word(struct bt_merge *m, uint32_t w, int32_t a, int32_t b, int32_t c)
{
	int32_t		*s = m->sym + m->w_off[w];
	uint32_t	 n = m->w_len[w], o = 0, i;
	int64_t		 f = m->w_count[w];
	int		 found = 0;

	for (i = 0; i + 1 < n && !found; i++)
		found = s[i] == a && s[i + 1] == b;
	if (!found)
		return;
	for (i = 0; i + 1 < n; i++)
		bt_pair_add(m, s[i], s[i + 1], -f, UINT32_MAX);
	for (i = 0; i < n; i++) {
		if (i + 1 < n && s[i] == a && s[i + 1] == b) {
			s[o++] = c;
			i++;
		} else
			s[o++] = s[i];
	}
	m->w_len[w] = o;
	for (i = 0; i + 1 < o; i++)
		bt_pair_add(m, s[i], s[i + 1], f, w);
}

/* The best current pair, or UINT32_MAX when none is left. */
static uint32_t
bt_pick(struct bt_merge *m)
{
	while (m->n_heap > 0) {
		struct bt_heap_ent e = bt_heap_pop(m);

		if (e.count > 0 && e.count == m->pair[e.pair].count)
			return e.pair;
	}
	return UINT32_MAX;
}

static void
bt_merge_fini(struct bt_merge *m)
{
	for (size_t i = 0; i < m->n_tok; i++)
		free(m->tok[i]);
	free(m->tok);
	free(m->tok_len);
	free(m->merges);
	free(m->w_off);
	free(m->w_len);
	free(m->w_count);
	free(m->w_stamp);
	free(m->sym);
	for (size_t i = 0; i < m->n_pair; i++)
		free(m->pair[i].w);
	free(m->pair);
	free(m->pmap);
	free(m->dirty);
	free(m->heap);
}

/* Merge until the vocabulary is full or no pair is left; build the bpe. */
static struct bpe *
bt_merge_all(struct bt_ctx *c, struct err *err)
{
	struct bt_merge	 m;
	struct bt_wtab	 merged;	/* bytes of merged tokens -> id + 1 */
	int32_t		 byte_id[256], *specials;
	size_t		 S = c->o->n_special, want = c->o->vocab_size, step = 0;
	size_t		 total;
	struct bpe	*b;

	memset(&m, 0, sizeof m);
	bt_wtab_init(&merged);
	for (size_t k = 0; k < S; k++)
		bt_add_token(&m, c->o->special[k], strlen(c->o->special[k]));
	/* bytes by code point, the order GPT-2's vocabulary lists them */
	for (unsigned cp = 0; cp < 324; cp++)
		for (unsigned by = 0; by < 256; by++)
			if (bpe_byte_to_cp((unsigned char)by) == cp) {
				char ch = (char)by;
				byte_id[by] = bt_add_token(&m, &ch, 1);
			}
	total = want > m.n_tok ? want - m.n_tok : 0;
	m.merges = xreallocarray(NULL, total + 1, 2 * sizeof *m.merges);
	bt_setup(&m, &c->words, byte_id);
	bt_wtab_fini(&c->words);
	memset(&c->words, 0, sizeof c->words);
	while (m.n_tok < want) {
		uint32_t	 pi = bt_pick(&m), nw;
		int32_t		 a, bb, id;
		char		*cat;
		size_t		 la, lb;
		uint64_t	 h;

		if (pi == UINT32_MAX)
			break;
		a = m.pair[pi].a;
		bb = m.pair[pi].b;
		la = m.tok_len[a];
		lb = m.tok_len[bb];
		cat = xmalloc(la + lb + 1);
		memcpy(cat, m.tok[a], la);
		memcpy(cat + la, m.tok[bb], lb);
		/* two pairs can spell the same bytes; keep one token (the
		 * table maps a merged token's bytes to its id + 1) */
		h = bt_hash(cat, la + lb);
		id = (int32_t)bt_wtab_find(&merged, h, cat, la + lb) - 1;
		if (id < 0) {
			id = bt_add_token(&m, cat, la + lb);
			bt_wtab_add(&merged, h, cat, la + lb, (int64_t)id + 1);
		}
		free(cat);
		if (m.n_merges == total) {
			total *= 2;
			m.merges = xreallocarray(m.merges, total + 1,
			    2 * sizeof *m.merges);
		}
		m.merges[2 * m.n_merges] = a;
		m.merges[2 * m.n_merges + 1] = bb;
		m.n_merges++;
		step++;
		nw = m.pair[pi].n_w;
		for (uint32_t k = 0; k < nw; k++) {
			uint32_t w = m.pair[pi].w[k];

			if (m.w_stamp[w] == step)
				continue;
			m.w_stamp[w] = (uint32_t)step;
			bt_merge_word(&m, w, a, bb, id);
		}
		bt_flush_dirty(&m);
		if (c->o->progress != NULL && step % 64 == 0)
			c->o->progress(c->o->progress_arg, "merging",
			    (double)(m.n_tok - S - 256), (double)(want - S - 256));
	}
	if (c->o->progress != NULL)
		c->o->progress(c->o->progress_arg, "merging",
		    (double)(m.n_tok - S - 256), (double)(m.n_tok - S - 256));
	specials = xcalloc(S + 1, sizeof *specials);
	for (size_t k = 0; k < S; k++)
		specials[k] = (int32_t)k;
	b = bpe_build(m.n_tok, (const char *const *)m.tok, m.tok_len, m.merges,
	    m.n_merges, specials, S, err);
	free(specials);
	bt_wtab_fini(&merged);
	bt_merge_fini(&m);
	return b;
}

/* ---- entry points ----------------------------------------------------- */

static int
bt_init(struct bt_ctx *c, const struct bpe_train_opts *o, struct err *err)
{
	memset(c, 0, sizeof *c);
	c->o = o;
	if (o->vocab_size < 256 + o->n_special) {
		err_set(err, "vocabulary size %zu is less than 256 bytes + %zu "
		    "special tokens", o->vocab_size, o->n_special);
		return -1;
	}
	for (size_t k = 0; k < o->n_special; k++) {
		for (size_t j = 0; j < k; j++) {
			if (strcmp(o->special[j], o->special[k]) == 0) {
				err_set(err, "special token \"%s\" given twice",
				    o->special[k]);
				return -1;
			}
		}
		if (o->special[k][0] == '\0' || !utf8_is_valid(o->special[k],
		    strlen(o->special[k]), NULL)) {
			err_set(err, "special token %zu is empty or not UTF-8",
			    k + 1);
			return -1;
		}
	}
	if ((c->split = bpe_splitter_new(err)) == NULL)
		return -1;
	for (size_t k = 0; k < o->n_special; k++)
		bpe_splitter_add_special(c->split, o->special[k],
		    strlen(o->special[k]), (int32_t)k);
	c->threads = o->threads;
#ifdef _OPENMP
	if (c->threads <= 0)
		c->threads = omp_get_max_threads();
#endif
	if (c->threads <= 0)
		c->threads = 1;
	bt_wtab_init(&c->words);
	return 0;
}

static void
bt_fini(struct bt_ctx *c)
{
	bpe_splitter_free(c->split);
	if (c->words.slot != NULL)
		bt_wtab_fini(&c->words);
}

/*
 * Train a tokenizer on the files (each read in blocks, never whole).
 * Caller frees the result with bpe_free(); NULL with err set on an
 * unreadable file, bad UTF-8 (under BPE_UTF8_STRICT) or bad options.
 */
struct bpe *
bpe_train_files(const char *const *paths, size_t n_paths,
    const struct bpe_train_opts *o, struct err *err)
{
	struct bt_ctx	 c;
	struct bpe	*b = NULL;

	if (bt_init(&c, o, err) != 0)
		goto out;
	for (size_t i = 0; i < n_paths; i++) {
		struct stat st;

		if (stat(paths[i], &st) == 0)
			c.total += (double)st.st_size;
	}
	for (size_t i = 0; i < n_paths; i++)
		if (bt_read_file(&c, paths[i], err) != 0)
			goto out;
	b = bt_merge_all(&c, err);
out:
	bt_fini(&c);
	return b;
}

/*
 * Train a tokenizer on text in memory; as bpe_train_files.
 */
struct bpe *
bpe_train_text(const char *text, size_t len, const struct bpe_train_opts *o,
    struct err *err)
{
	struct bt_ctx	 c;
	struct bpe	*b = NULL;

	if (bt_init(&c, o, err) != 0)
		goto out;
	c.total = (double)len;
	if (bt_feed(&c, "text", 0, text, len, err) != 0)
		goto out;
	b = bt_merge_all(&c, err);
out:
	bt_fini(&c);
	return b;
}
