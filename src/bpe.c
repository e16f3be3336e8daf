/*
 * bpe.c: byte-level BPE as GPT-2 defines it.
 *
 * A token is a byte string.  tok[id] holds its raw bytes; the files write
 * them through the GPT-2 byte-to-unicode mapping (each byte one printable
 * code point).  Two open-addressing tables make encoding fast: vocab_map
 * finds an id by bytes (it stores ids, the keys live in tok[]), and
 * merge_map maps a pair of ids to (rank, merged id).  merges[] keeps the
 * pairs in rank order so that bpe_save writes them back unchanged.
 *
 * Encoding runs the splitter of bpe_split.c (special tokens, then the GPT-2
 * pattern between them), merges each pre-token by lowest rank first (leftmost
 * on ties) and remembers the ids of each distinct pre-token for the rest of
 * the call.  Everything here is read-only after loading, so one struct bpe
 * may encode in several threads at once.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpe.h"
#include "bpe_int.h"
#include "bpe_split.h"
#include "util.h"

#define BPE_NO_RANK	INT32_MAX
#define BPE_SMALL_PIECE	48	/* longer pieces merge through a heap */
#define BPE_CACHE_MAX	(1u << 20) /* distinct pre-tokens cached per call */

/* GPT-2 byte-to-unicode: printable Latin-1 stands for itself, the other 68
 * bytes take U+0100 onwards in byte order. */
static int
bpe_byte_printable(unsigned b)
{
	return (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) ||
	    (b >= 0xae && b <= 0xff);
}

/*
 * The code point that stands for byte b in vocab.json and merges.txt.
 */
unsigned
bpe_byte_to_cp(unsigned char b)
{
	/* the unprintable bytes are 0..32, 127..160 and 173, in that order */
	if (bpe_byte_printable(b))
		return b;
	if (b <= 32)
		return 256 + b;
	if (b <= 160)
		return 256 + 33 + (b - 127);
	return 256 + 67;
}

/* The byte a code point stands for, or -1. */
int
bpe_cp_to_byte(unsigned cp)
{
	if (cp < 256)
		return bpe_byte_printable(cp) ? (int)cp : -1;
	cp -= 256;
	if (cp < 33)
		return (int)cp;
	if (cp < 67)
		return (int)(127 + cp - 33);
	return cp == 67 ? 173 : -1;
}

static uint64_t
bpe_hash_bytes(const void *p, size_t len)
{
	const unsigned char	*s = p;
	uint64_t		 h = 1469598103934665603ull;

	for (size_t i = 0; i < len; i++) {
		h ^= s[i];
		h *= 1099511628211ull;
	}
	return h ^ (h >> 29);
}

static uint64_t
bpe_hash_pair(uint64_t key)
{
	key *= 0x9e3779b97f4a7c15ull;
	return key ^ (key >> 31);
}

/* ---- UTF-8 ---------------------------------------------------------- */

/*
 * Length of the ill-formed sequence at p (1 to 3: the maximal subpart of a
 * valid sequence, as Unicode recommends for U+FFFD); *need gets the length
 * the lead byte announces (1 if it is no lead byte).
 */
static size_t
bpe_utf8_bad_len(const unsigned char *p, size_t n, size_t *need)
{
	unsigned	c = p[0], lo = 0x80, hi = 0xbf;
	size_t		k;

	*need = 1;
	if (c >= 0xc2 && c <= 0xdf)
		*need = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		*need = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		*need = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 1;
	for (k = 1; k < *need && k < n; k++) {
		if (p[k] < lo || p[k] > hi)
			break;
		lo = 0x80;
		hi = 0xbf;
	}
	return k;
}

/*
 * Copy s, replacing each ill-formed sequence with U+FFFD.  Caller frees.
 */
char *
bpe_utf8_repair(const char *s, size_t len, size_t *out_len)
{
	struct buf	b;
	size_t		i = 0;

	buf_init(&b);
	buf_append(&b, "", 0);
	while (i < len) {
		size_t ok = utf8_valid_prefix(s + i, len - i), need;

		buf_append(&b, s + i, ok);
		i += ok;
		if (i < len) {
			buf_append(&b, "\xef\xbf\xbd", 3);
			i += bpe_utf8_bad_len((const unsigned char *)s + i,
			    len - i, &need);
		}
	}
	*out_len = b.len;
	return b.data;
}

/* ---- tables ----------------------------------------------------------- */

struct bpe *
bpe_new(void)
{
	struct bpe	*b = xcalloc(1, sizeof *b);
	struct err	 err;

	if ((b->split = bpe_splitter_new(&err)) == NULL)
		util_fatal("%s", err.msg);
	for (int i = 0; i < 256; i++)
		b->byte_id[i] = -1;
	return b;
}

/*
 * Release a tokenizer; NULL is allowed.
 */
void
bpe_free(struct bpe *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->n_vocab; i++)
		free(b->tok[i]);
	free(b->tok);
	free(b->tok_len);
	free(b->special);
	free(b->vocab_map);
	free(b->merges);
	free(b->merge_map);
	bpe_splitter_free(b->split);
	free(b);
}

static void
bpe_map_put(struct bpe *b, int32_t id)
{
	size_t mask = b->map_cap - 1;
	size_t h = bpe_hash_bytes(b->tok[id], b->tok_len[id]) & mask;

	while (b->vocab_map[h] >= 0)
		h = (h + 1) & mask;
	b->vocab_map[h] = id;
}

void
bpe_map_grow(struct bpe *b, size_t want)
{
	size_t cap = 64;

	if (b->map_cap >= 2 * want)
		return;
	while (cap < 2 * want)
		cap *= 2;
	free(b->vocab_map);
	b->vocab_map = xreallocarray(NULL, cap, sizeof *b->vocab_map);
	b->map_cap = cap;
	for (size_t i = 0; i < cap; i++)
		b->vocab_map[i] = -1;
	for (size_t i = 0; i < b->n_vocab; i++)
		bpe_map_put(b, (int32_t)i);
}

/*
 * Id of the token with exactly these bytes, or -1.
 */
int32_t
bpe_token_id(const struct bpe *b, const char *s, size_t len)
{
	size_t mask, h;

	if (b->map_cap == 0)
		return -1;
	mask = b->map_cap - 1;
	h = bpe_hash_bytes(s, len) & mask;
	for (int32_t id; (id = b->vocab_map[h]) >= 0; h = (h + 1) & mask)
		if (b->tok_len[id] == len && memcmp(b->tok[id], s, len) == 0)
			return id;
	return -1;
}

/* Append a token (bytes copied); its id is the old n_vocab. */
int32_t
bpe_push_token(struct bpe *b, const char *s, size_t len, int special)
{
	int32_t id = (int32_t)b->n_vocab;

	if (b->n_vocab == b->vocab_cap) {
		b->vocab_cap = b->vocab_cap ? 2 * b->vocab_cap : 512;
		b->tok = xreallocarray(b->tok, b->vocab_cap, sizeof *b->tok);
		b->tok_len = xreallocarray(b->tok_len, b->vocab_cap,
		    sizeof *b->tok_len);
		b->special = xreallocarray(b->special, b->vocab_cap, 1);
	}
	b->tok[id] = xmalloc(len + 1);
	memcpy(b->tok[id], s, len);
	b->tok[id][len] = '\0';
	b->tok_len[id] = len;
	b->special[id] = (unsigned char)special;
	b->n_vocab++;
	if (len == 1 && !special && b->byte_id[(unsigned char)*s] < 0)
		b->byte_id[(unsigned char)*s] = id;
	if (b->map_cap < 2 * b->n_vocab)
		bpe_map_grow(b, b->n_vocab);
	else
		bpe_map_put(b, id);
	return id;
}

static const struct bpe_merge_slot *
bpe_merge_find(const struct bpe *b, int32_t l, int32_t r)
{
	uint64_t	key = (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
	size_t		mask = b->merge_cap - 1, h;

	if (b->merge_cap == 0)
		return NULL;
	for (h = bpe_hash_pair(key) & mask; b->merge_map[h].key != UINT64_MAX;
	    h = (h + 1) & mask)
		if (b->merge_map[h].key == key)
			return &b->merge_map[h];
	return NULL;
}

/* Build merge_map from merges[]; a repeated pair keeps its first rank. */
void
bpe_merge_index(struct bpe *b)
{
	size_t cap = 64;

	while (cap < 2 * b->n_merges)
		cap *= 2;
	free(b->merge_map);
	b->merge_map = xreallocarray(NULL, cap, sizeof *b->merge_map);
	b->merge_cap = cap;
	for (size_t i = 0; i < cap; i++)
		b->merge_map[i].key = UINT64_MAX;
	for (size_t r = 0; r < b->n_merges; r++) {
		int32_t		 l = b->merges[2 * r], rt = b->merges[2 * r + 1];
		uint64_t	 key = (uint64_t)(uint32_t)l << 32 | (uint32_t)rt;
		size_t		 h = bpe_hash_pair(key) & (cap - 1);
		char		 small[256], *cat = small;
		size_t		 n = b->tok_len[l] + b->tok_len[rt];

		while (b->merge_map[h].key != UINT64_MAX &&
		    b->merge_map[h].key != key)
			h = (h + 1) & (cap - 1);
		if (b->merge_map[h].key == key)
			continue;
		if (n > sizeof small)
			cat = xmalloc(n);
		memcpy(cat, b->tok[l], b->tok_len[l]);
		memcpy(cat + b->tok_len[l], b->tok[rt], b->tok_len[rt]);
		b->merge_map[h].key = key;
		b->merge_map[h].rank = (int32_t)r;
		b->merge_map[h].id = bpe_token_id(b, cat, n);
		if (cat != small)
			free(cat);
	}
}

/* Every byte needs a token, or some text could not be encoded. */
int
bpe_check_bytes(const struct bpe *b, const char *path, struct err *err)
{
	for (int i = 0; i < 256; i++) {
		if (b->byte_id[i] < 0) {
			err_set(err, "%s: no token for byte 0x%02x", path, i);
			return -1;
		}
	}
	return 0;
}

/*
 * Build a tokenizer from raw token bytes (ids 0..n_vocab-1) and merges
 * given as id pairs in rank order; each merge's concatenation must be a
 * token.  Copies its arguments.  NULL with err set on bad input.
 */
struct bpe *
bpe_build(size_t n_vocab, const char *const *tok, const size_t *tok_len,
    const int32_t *merges, size_t n_merges, const int32_t *specials,
    size_t n_specials, struct err *err)
{
	struct bpe *b = bpe_new();

	for (size_t i = 0; i < n_vocab; i++) {
		int sp = 0;

		for (size_t k = 0; k < n_specials; k++)
			sp |= specials[k] == (int32_t)i;
		if (bpe_token_id(b, tok[i], tok_len[i]) >= 0) {
			err_set(err, "token %zu repeats an earlier token", i);
			goto fail;
		}
		bpe_push_token(b, tok[i], tok_len[i], sp);
		if (sp)
			bpe_splitter_add_special(b->split, tok[i], tok_len[i],
			    (int32_t)i);
	}
	if (bpe_check_bytes(b, "vocabulary", err) != 0)
		goto fail;
	b->merges = xreallocarray(NULL, n_merges + 1, 2 * sizeof *b->merges);
	for (size_t r = 0; r < n_merges; r++) {
		int32_t l = merges[2 * r], rt = merges[2 * r + 1];

		if (l < 0 || rt < 0 || (size_t)l >= n_vocab ||
		    (size_t)rt >= n_vocab) {
			err_set(err, "merge %zu: id outside the vocabulary", r);
			goto fail;
		}
		b->merges[2 * r] = l;
		b->merges[2 * r + 1] = rt;
	}
	b->n_merges = n_merges;
	bpe_merge_index(b);
	for (size_t h = 0; h < b->merge_cap; h++) {
		if (b->merge_map[h].key != UINT64_MAX && b->merge_map[h].id < 0) {
			err_set(err, "merge %d: result is not in the vocabulary",
			    (int)b->merge_map[h].rank);
			goto fail;
		}
	}
	return b;
fail:
	bpe_free(b);
	return NULL;
}

/*
 * Make tok a special token: an existing token with these bytes is marked,
 * otherwise it is appended with the next id.  0, or -1 with err set.
 */
int
bpe_add_special(struct bpe *b, const char *tok, struct err *err)
{
	size_t	len = strlen(tok);
	int32_t	id;

	if (len == 0) {
		err_set(err, "empty special token");
		return -1;
	}
	if (!utf8_is_valid(tok, len, NULL)) {
		err_set(err, "special token is not valid UTF-8");
		return -1;
	}
	if ((id = bpe_token_id(b, tok, len)) < 0)
		id = bpe_push_token(b, tok, len, 1);
	b->special[id] = 1;
	return bpe_splitter_add_special(b->split, tok, len, id);
}

/* ---- queries ---------------------------------------------------------- */

/*
 * Number of tokens, special tokens included (ids are 0..n-1).
 */
size_t
bpe_n_vocab(const struct bpe *b)
{
	return b->n_vocab;
}

/*
 * Number of merges, in rank order as merges.txt lists them.
 */
size_t
bpe_n_merges(const struct bpe *b)
{
	return b->n_merges;
}

/*
 * Raw bytes of token id; NULL (and *len 0) for an id outside the
 * vocabulary.
 */
const char *
bpe_token_bytes(const struct bpe *b, int32_t id, size_t *len)
{
	if (id < 0 || (size_t)id >= b->n_vocab) {
		if (len != NULL)
			*len = 0;
		return NULL;
	}
	if (len != NULL)
		*len = b->tok_len[id];
	return b->tok[id];
}

/*
 * 1 if id is a special token, 0 otherwise (also for ids outside the
 * vocabulary).
 */
int
bpe_is_special(const struct bpe *b, int32_t id)
{
	return id >= 0 && (size_t)id < b->n_vocab && b->special[id];
}

/* ---- encoding --------------------------------------------------------- */

static int32_t
bpe_rank(const struct bpe *b, int32_t l, int32_t r, int32_t *id)
{
	const struct bpe_merge_slot *m = bpe_merge_find(b, l, r);

	if (m == NULL)
		return BPE_NO_RANK;
	*id = m->id;
	return m->rank;
}

/* Merge n symbols in place by scanning for the lowest rank each round;
 * quadratic, and the fastest for short pieces. */
static size_t
bpe_merge_small(const struct bpe *b, int32_t *sym, size_t n)
{
	int32_t rank[BPE_SMALL_PIECE], mid[BPE_SMALL_PIECE];

	for (size_t i = 0; i + 1 < n; i++)
		rank[i] = bpe_rank(b, sym[i], sym[i + 1], &mid[i]);
	while (n > 1) {
		size_t m = 0;

		for (size_t i = 1; i + 1 < n; i++)
			if (rank[i] < rank[m])
				m = i;
		if (rank[m] == BPE_NO_RANK)
			break;
		sym[m] = mid[m];
		memmove(&sym[m + 1], &sym[m + 2], (n - m - 2) * sizeof *sym);
		if (m + 2 < n) {
			memmove(&rank[m + 1], &rank[m + 2],
			    (n - m - 3) * sizeof *rank);
			memmove(&mid[m + 1], &mid[m + 2],
			    (n - m - 3) * sizeof *mid);
		}
		n--;
		if (m > 0)
			rank[m - 1] = bpe_rank(b, sym[m - 1], sym[m], &mid[m - 1]);
		if (m + 1 < n)
			rank[m] = bpe_rank(b, sym[m], sym[m + 1], &mid[m]);
	}
	return n;
}

struct bpe_heap_ent {
	int32_t		rank;
	uint32_t	pos;	/* left symbol of the pair */
};

static int
bpe_heap_less(struct bpe_heap_ent a, struct bpe_heap_ent b)
{
	return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos);
}

static void
bpe_heap_push(struct bpe_heap_ent *h, size_t *n, struct bpe_heap_ent e)
{
	size_t i = (*n)++;

	while (i > 0 && bpe_heap_less(e, h[(i - 1) / 2])) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = e;
}

static struct bpe_heap_ent
bpe_heap_pop(struct bpe_heap_ent *h, size_t *n)
{
	struct bpe_heap_ent	top = h[0], e = h[--*n];
	size_t			i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= *n)
			break;
		if (c + 1 < *n && bpe_heap_less(h[c + 1], h[c]))
			c++;
		if (!bpe_heap_less(h[c], e))
			break;
		h[i] = h[c];
		i = c;
	}
	if (*n > 0)
		h[i] = e;
	return top;
}

/* The same merges for long pieces in O(n log n): a linked list of symbols
 * and a heap of candidate pairs, stale entries skipped when popped. */
static size_t
bpe_merge_heap(const struct bpe *b, int32_t *sym, size_t n)
{
	uint32_t		*next = xreallocarray(NULL, n, sizeof *next);
	uint32_t		*prev = xreallocarray(NULL, n, sizeof *prev);
	struct bpe_heap_ent	*h = xreallocarray(NULL, 3 * n, sizeof *h);
	size_t			 nh = 0, out = 0;
	int32_t			 id;
	const uint32_t		 end = UINT32_MAX;

	for (size_t i = 0; i < n; i++) {
		next[i] = i + 1 < n ? (uint32_t)(i + 1) : end;
		prev[i] = i > 0 ? (uint32_t)(i - 1) : end;
		if (i + 1 < n) {
			int32_t r = bpe_rank(b, sym[i], sym[i + 1], &id);
			if (r != BPE_NO_RANK)
				bpe_heap_push(h, &nh, (struct bpe_heap_ent){ r,
				    (uint32_t)i });
		}
	}
	while (nh > 0) {
		struct bpe_heap_ent	e = bpe_heap_pop(h, &nh);
		uint32_t		p = e.pos, r = next[p];

		if (sym[p] < 0 || r == end ||
		    bpe_rank(b, sym[p], sym[r], &id) != e.rank)
			continue;
		sym[p] = id;
		sym[r] = -1;
		next[p] = next[r];
		if (next[r] != end)
			prev[next[r]] = p;
		if (prev[p] != end) {
			int32_t rk = bpe_rank(b, sym[prev[p]], sym[p], &id);
			if (rk != BPE_NO_RANK)
				bpe_heap_push(h, &nh, (struct bpe_heap_ent){ rk,
				    prev[p] });
		}
		if (next[p] != end) {
			int32_t rk = bpe_rank(b, sym[p], sym[next[p]], &id);
			if (rk != BPE_NO_RANK)
				bpe_heap_push(h, &nh, (struct bpe_heap_ent){ rk,
				    p });
		}
	}
	for (uint32_t i = 0; i != end; i = next[i])
		sym[out++] = sym[i];
	free(h);
	free(prev);
	free(next);
	return out;
}

/* BPE one pre-token into sym (room for len ids); returns the count. */
static size_t
bpe_merge_piece(const struct bpe *b, const char *p, size_t len, int32_t *sym)
{
	for (size_t i = 0; i < len; i++)
		sym[i] = b->byte_id[(unsigned char)p[i]];
	if (len < BPE_SMALL_PIECE)
		return bpe_merge_small(b, sym, len);
	return bpe_merge_heap(b, sym, len);
}

struct bpe_cache_ent {
	uint64_t	hash;
	uint32_t	key_off;	/* into keys */
	uint32_t	key_len;
	uint32_t	ids_off;	/* into ids */
	uint32_t	n_ids;		/* UINT32_MAX: empty slot */
};

struct bpe_enc {
	const struct bpe	*b;
	int32_t			*ids;		/* output */
	size_t			 n_ids, cap;
	int32_t			*sym;		/* scratch */
	size_t			 sym_cap;
	struct bpe_cache_ent	*cache;		/* pre-token -> ids */
	size_t			 cache_cap, n_cache;
	struct buf		 keys;		/* cached pre-token bytes */
	int32_t			*cids;		/* cached ids */
	size_t			 n_cids, cids_cap;
};

static void
bpe_enc_out(struct bpe_enc *e, const int32_t *ids, size_t n)
{
	if (e->cap - e->n_ids < n) {
		while (e->cap - e->n_ids < n)
			e->cap = e->cap ? 2 * e->cap : 256;
		e->ids = xreallocarray(e->ids, e->cap, sizeof *e->ids);
	}
	memcpy(e->ids + e->n_ids, ids, n * sizeof *ids);
	e->n_ids += n;
}

static void
bpe_enc_cache_grow(struct bpe_enc *e)
{
	size_t			 cap = e->cache_cap ? 2 * e->cache_cap : 4096;
	struct bpe_cache_ent	*c = xreallocarray(NULL, cap, sizeof *c);

	for (size_t i = 0; i < cap; i++)
		c[i].n_ids = UINT32_MAX;
	for (size_t i = 0; i < e->cache_cap; i++) {
		size_t h;

		if (e->cache[i].n_ids == UINT32_MAX)
			continue;
		for (h = e->cache[i].hash & (cap - 1); c[h].n_ids != UINT32_MAX;
		    h = (h + 1) & (cap - 1))
			;
		c[h] = e->cache[i];
	}
	free(e->cache);
	e->cache = c;
	e->cache_cap = cap;
}

/* Remember ids for the pre-token p (bounded: past the cap, stop adding). */
static void
bpe_enc_cache_put(struct bpe_enc *e, uint64_t hash, const char *p,
    size_t len, const int32_t *ids, size_t n)
{
	size_t h;

	if (e->n_cache >= BPE_CACHE_MAX || len > 256 ||
	    e->keys.len > UINT32_MAX / 2 || e->n_cids > UINT32_MAX / 2)
		return;
	if (2 * (e->n_cache + 1) > e->cache_cap)
		bpe_enc_cache_grow(e);
	for (h = hash & (e->cache_cap - 1); e->cache[h].n_ids != UINT32_MAX;
	    h = (h + 1) & (e->cache_cap - 1))
		;
	if (e->cids_cap - e->n_cids < n) {
		while (e->cids_cap - e->n_cids < n)
			e->cids_cap = e->cids_cap ? 2 * e->cids_cap : 4096;
		e->cids = xreallocarray(e->cids, e->cids_cap, sizeof *e->cids);
	}
	e->cache[h] = (struct bpe_cache_ent){ hash, (uint32_t)e->keys.len,
	    (uint32_t)len, (uint32_t)e->n_cids, (uint32_t)n };
	buf_append(&e->keys, p, len);
	memcpy(e->cids + e->n_cids, ids, n * sizeof *ids);
	e->n_cids += n;
	e->n_cache++;
}

static const struct bpe_cache_ent *
bpe_enc_cache_get(const struct bpe_enc *e, uint64_t hash, const char *p,
    size_t len)
{
	size_t mask = e->cache_cap - 1;

	if (e->cache_cap == 0)
		return NULL;
	for (size_t h = hash & mask; e->cache[h].n_ids != UINT32_MAX;
	    h = (h + 1) & mask) {
		const struct bpe_cache_ent *c = &e->cache[h];

		if (c->hash == hash && c->key_len == len &&
		    memcmp(e->keys.data + c->key_off, p, len) == 0)
			return c;
	}
	return NULL;
}

static int
bpe_enc_piece(void *arg, const char *p, size_t len, int32_t special)
{
	struct bpe_enc			*e = arg;
	const struct bpe_cache_ent	*c;
	uint64_t			 hash;
	size_t				 n;

	if (special >= 0) {
		bpe_enc_out(e, &special, 1);
		return 0;
	}
	if (len == 1) {
		bpe_enc_out(e, &e->b->byte_id[(unsigned char)*p], 1);
		return 0;
	}
	hash = bpe_hash_bytes(p, len);
	if ((c = bpe_enc_cache_get(e, hash, p, len)) != NULL) {
		bpe_enc_out(e, e->cids + c->ids_off, c->n_ids);
		return 0;
	}
	if (e->sym_cap < len) {
		e->sym_cap = len;
		e->sym = xreallocarray(e->sym, len, sizeof *e->sym);
	}
	n = bpe_merge_piece(e->b, p, len, e->sym);
	bpe_enc_out(e, e->sym, n);
	bpe_enc_cache_put(e, hash, p, len, e->sym, n);
	return 0;
}

/*
 * Encode text into token ids: special tokens are matched first (longest
 * wins), the text between them is pre-tokenized and merged.  Text that is
 * not valid UTF-8 is an error naming the byte offset (BPE_UTF8_STRICT), or
 * has each bad sequence replaced by U+FFFD first (BPE_UTF8_REPLACE).
 * Caller frees *ids.  0, or -1 with err set.
 */
int
bpe_encode(const struct bpe *b, const char *text, size_t len,
    enum bpe_utf8_policy pol, int32_t **ids, size_t *n_ids, struct err *err)
{
	struct bpe_enc	 e;
	char		*fixed = NULL;
	size_t		 bad;
	int		 rc;

	*ids = NULL;
	*n_ids = 0;
	if (!utf8_is_valid(text, len, &bad)) {
		if (pol == BPE_UTF8_STRICT) {
			err_set(err, "invalid UTF-8 at byte offset %zu", bad);
			return -1;
		}
		fixed = bpe_utf8_repair(text, len, &len);
		text = fixed;
	}
	memset(&e, 0, sizeof e);
	e.b = b;
	buf_init(&e.keys);
	rc = bpe_splitter_run(b->split, text, len, bpe_enc_piece, &e, err);
	free(fixed);
	free(e.sym);
	free(e.cache);
	free(e.cids);
	buf_fini(&e.keys);
	if (rc != 0) {
		free(e.ids);
		return -1;
	}
	*ids = e.ids != NULL ? e.ids : xmalloc(sizeof **ids);
	*n_ids = e.n_ids;
	return 0;
}

/* ---- decoding --------------------------------------------------------- */

static int
bpe_check_id(const struct bpe *b, int32_t id, struct err *err)
{
	if (id < 0 || (size_t)id >= b->n_vocab) {
		err_set(err, "token id %lld is outside the vocabulary (0..%zu)",
		    (long long)id, b->n_vocab - 1);
		return -1;
	}
	return 0;
}

/*
 * Decode ids into text (NUL-terminated; caller frees *out).  Bytes that do
 * not form valid UTF-8 are an error naming the byte offset
 * (BPE_UTF8_STRICT) or become U+FFFD (BPE_UTF8_REPLACE).  An id outside
 * the vocabulary is an error.
 */
int
bpe_decode(const struct bpe *b, const int32_t *ids, size_t n,
    enum bpe_utf8_policy pol, char **out, size_t *out_len, struct err *err)
{
	struct buf	bu;
	size_t		bad;

	*out = NULL;
	*out_len = 0;
	buf_init(&bu);
	buf_append(&bu, "", 0);
	for (size_t i = 0; i < n; i++) {
		if (bpe_check_id(b, ids[i], err) != 0) {
			buf_fini(&bu);
			return -1;
		}
		buf_append(&bu, b->tok[ids[i]], b->tok_len[ids[i]]);
	}
	if (!utf8_is_valid(bu.data, bu.len, &bad)) {
		if (pol == BPE_UTF8_STRICT) {
			err_set(err, "decoded text: invalid UTF-8 at byte "
			    "offset %zu", bad);
			buf_fini(&bu);
			return -1;
		}
		*out = bpe_utf8_repair(bu.data, bu.len, out_len);
		buf_fini(&bu);
		return 0;
	}
	*out = bu.data;
	*out_len = bu.len;
	return 0;
}

struct bpe_stream {
	const struct bpe	*b;
	enum bpe_utf8_policy	 pol;
	struct buf		 held;	/* bytes of an unfinished character */
	struct buf		 out;	/* the piece handed out last */
	size_t			 done;	/* bytes of the stream released */
};

/*
 * A streaming decoder for b (borrowed; must outlive the stream).  Caller
 * frees with bpe_stream_free().
 */
struct bpe_stream *
bpe_stream_new(const struct bpe *b, enum bpe_utf8_policy pol)
{
	struct bpe_stream *s = xcalloc(1, sizeof *s);

	s->b = b;
	s->pol = pol;
	buf_init(&s->held);
	buf_init(&s->out);
	return s;
}

/* Move held bytes to out up to the last whole character; at_end also
 * settles an unfinished one. */
static int
bpe_stream_drain(struct bpe_stream *s, int at_end, struct err *err)
{
	const char	*h = s->held.data;
	size_t		 n = s->held.len, i = 0;
	int		 rc = 0;

	s->out.len = 0;
	buf_append(&s->out, "", 0);
	while (i < n) {
		size_t ok = utf8_valid_prefix(h + i, n - i), k, need;

		buf_append(&s->out, h + i, ok);
		i += ok;
		if (i == n)
			break;
		k = bpe_utf8_bad_len((const unsigned char *)h + i, n - i, &need);
		if (!at_end && k == n - i && k < need)
			break;	/* maybe the next token finishes it */
		if (s->pol == BPE_UTF8_STRICT) {
			err_set(err, "decoded text: invalid UTF-8 at byte "
			    "offset %zu", s->done + i);
			rc = -1;
		} else
			buf_append(&s->out, "\xef\xbf\xbd", 3);
		i += k;
		if (rc != 0)
			break;
	}
	s->done += i;
	if (i < n)	/* held.data is NULL until the first byte is held */
		memmove(s->held.data, h + i, n - i);
	s->held.len = n - i;
	return rc;
}

/*
 * Feed one token; *piece gets the text completed by it (possibly empty),
 * borrowed until the next call.  A character split over tokens comes out
 * once, whole.  -1 with err set for an id outside the vocabulary, or for
 * bytes that can never be valid UTF-8 under BPE_UTF8_STRICT (those bytes
 * are dropped, so the stream can go on).
 */
int
bpe_stream_push(struct bpe_stream *s, int32_t id, const char **piece,
    size_t *len, struct err *err)
{
	int rc;

	*piece = "";
	*len = 0;
	if (bpe_check_id(s->b, id, err) != 0)
		return -1;
	buf_append(&s->held, s->b->tok[id], s->b->tok_len[id]);
	rc = bpe_stream_drain(s, 0, err);
	*piece = s->out.data;
	*len = s->out.len;
	return rc;
}

/*
 * Release what is held back: an unfinished character is an error naming
 * its offset (BPE_UTF8_STRICT) or one U+FFFD (BPE_UTF8_REPLACE).
 */
int
bpe_stream_flush(struct bpe_stream *s, const char **piece, size_t *len,
    struct err *err)
{
	int rc = bpe_stream_drain(s, 1, err);

	*piece = s->out.data;
	*len = s->out.len;
	return rc;
}

/*
 * Drop held bytes and start offsets from zero, for a new text.
 */
void
bpe_stream_reset(struct bpe_stream *s)
{
	s->held.len = 0;
	s->out.len = 0;
	s->done = 0;
}

/*
 * Release a stream; NULL is allowed.
 */
void
bpe_stream_free(struct bpe_stream *s)
{
	if (s == NULL)
		return;
	buf_fini(&s->held);
	buf_fini(&s->out);
	free(s);
}
