/*
 * bpe_files.c: the tokenizer's file formats.  GPT-2's vocab.json (token
 * string -> id, bytes through the byte-to-unicode mapping) with merges.txt
 * (one "left right" pair per line in rank order), Hugging Face's
 * tokenizer.json (byte-level BPE only), and writing vocab.json and
 * merges.txt back.  Every error names the file and, where there is one, the
 * line; nothing is trusted about sizes or ids until checked.
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

/* ---- loading ---------------------------------------------------------- */

/* Is this vocab.json key a special token by its look (<|...|>)? */
static int
bpe_looks_special(const char *s, size_t len)
{
	return len >= 4 && memcmp(s, "<|", 2) == 0 &&
	    memcmp(s + len - 2, "|>", 2) == 0;
}

/* Decode one UTF-8 code point; 0 bytes on malformed input. */
static size_t
bpe_utf8_get(const char *s, size_t n, unsigned *cp)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t k;

	if (utf8_valid_prefix(s, n < 4 ? n : 4) == 0)
		return 0;
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	k = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : 2;
	*cp = p[0] & (0x7f >> k);
	for (size_t i = 1; i < k; i++)
		*cp = (*cp << 6) | (p[i] & 0x3f);
	return k;
}

/* Map a byte-to-unicode string back to bytes; -1 on a foreign character.
 * out needs len bytes. */
static int
bpe_unmap(const char *s, size_t len, char *out, size_t *out_len)
{
	size_t i = 0, n = 0;

	while (i < len) {
		unsigned	cp;
		size_t		k = bpe_utf8_get(s + i, len - i, &cp);
		int		byte;

		if (k == 0 || (byte = bpe_cp_to_byte(cp)) < 0)
			return -1;
		out[n++] = (char)byte;
		i += k;
	}
	*out_len = n;
	return 0;
}

/* Does the JSON string literal t[0..len) (quotes included) spell key? */
static int
bpe_json_key_is(const char *t, size_t len, const char *key)
{
	json_t	*j;
	int	 same;

	if (memchr(t, '\\', len) == NULL)
		return len - 2 == strlen(key) && memcmp(t + 1, key, len - 2) == 0;
	j = json_loadb(t, len, JSON_DECODE_ANY, NULL);
	same = json_is_string(j) && strcmp(json_string_value(j), key) == 0;
	json_decref(j);
	return same;
}

/*
 * Line (1-based) of the top-level member named key in a JSON object's
 * text, or 0.  Only error messages need it, so it scans on demand.
 */
static size_t
bpe_json_key_line(const char *t, size_t len, const char *key)
{
	size_t	line = 1, start = 0, kline = 0;
	int	depth = 0, in_str = 0, want_key = 0, is_key = 0;

	if (t == NULL)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = t[i];

		if (c == '\n')
			line++;
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"') {
				in_str = 0;
				if (is_key && bpe_json_key_is(t + start,
				    i + 1 - start, key))
					return kline;
			}
			continue;
		}
		if (c == '"') {
			in_str = 1;
			is_key = depth == 1 && want_key;
			want_key = 0;
			start = i;
			kline = line;
		} else if (c == '{' || c == '[') {
			if (++depth == 1)
				want_key = 1;
		} else if (c == '}' || c == ']')
			depth--;
		else if (c == ',' && depth == 1)
			want_key = 1;
	}
	return 0;
}

/* "path:line", or "path" when the line is unknown (0). */
static const char *
bpe_where(char *buf, size_t cap, const char *path, size_t line)
{
	if (line > 0)
		snprintf(buf, cap, "%s:%zu", path, line);
	else
		snprintf(buf, cap, "%s", path);
	return buf;
}

/* Parse a JSON file; errors name file:line. */
static json_t *
bpe_json_load(const char *path, const char *text, size_t len, struct err *err)
{
	json_error_t	 je;
	json_t		*j;

	j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL)
		err_set(err, "%s:%d: %s", path, je.line, je.text);
	return j;
}

/*
 * Fill b's tokens from a vocab object {"token": id, ...}.  text (may be
 * NULL) is the file, the object at its top, for line numbers in messages.
 */
static int
bpe_load_vocab_obj(struct bpe *b, const char *path, json_t *obj,
    const char *text, size_t len, struct err *err)
{
	const char	*key;
	json_t		*val;
	size_t		 n = json_object_size(obj);
	const char	**at = xcalloc(n + 1, sizeof *at); /* id -> its key */
	char		**raw = xcalloc(n + 1, sizeof *raw);
	size_t		*raw_len = xcalloc(n + 1, sizeof *raw_len);
	unsigned char	*sp = xcalloc(n + 1, 1);
	int		 rc = -1;

	json_object_foreach(obj, key, val) {
		size_t		klen = strlen(key);
		json_int_t	id;
		char		w[ERR_MSG_CAP / 2];

#define BPE_WHERE(k) bpe_where(w, sizeof w, path, \
	    bpe_json_key_line(text, len, (k)))
		if (!json_is_integer(val)) {
			BPE_WHERE(key);
			err_set(err, "%s: the id of \"%s\" is not an integer",
			    w, key);
			goto out;
		}
		id = json_integer_value(val);
		if (id < 0 || (size_t)id >= n) {
			BPE_WHERE(key);
			err_set(err, "%s: id %lld of \"%s\" leaves a hole: "
			    "ids must be 0..%zu", w, (long long)id, key, n - 1);
			goto out;
		}
		if (at[id] != NULL) {
			size_t first = bpe_json_key_line(text, len, at[id]);

			BPE_WHERE(key);
			err_set(err, "%s: duplicate id %lld (first on line "
			    "%zu)", w, (long long)id, first);
			goto out;
		}
		at[id] = key;
		raw[id] = xmalloc(klen + 1);
		if (bpe_looks_special(key, klen)) {
			memcpy(raw[id], key, klen);
			raw_len[id] = klen;
			sp[id] = 1;
		} else if (bpe_unmap(key, klen, raw[id], &raw_len[id]) != 0) {
			BPE_WHERE(key);
			err_set(err, "%s: token \"%s\" has a character "
			    "outside the byte-level alphabet", w, key);
			goto out;
		}
	}
	bpe_map_grow(b, n);
	for (size_t id = 0; id < n; id++) {
		if (bpe_token_id(b, raw[id], raw_len[id]) >= 0) {
			char w[ERR_MSG_CAP / 2];

			err_set(err, "%s: token %zu repeats the bytes of "
			    "token %d", BPE_WHERE(at[id]), id,
			    (int)bpe_token_id(b, raw[id], raw_len[id]));
			goto out;
		}
		bpe_push_token(b, raw[id], raw_len[id], sp[id]);
		if (sp[id])
			bpe_splitter_add_special(b->split, raw[id], raw_len[id],
			    (int32_t)id);
	}
#undef BPE_WHERE
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(raw[i]);
	free(raw);
	free(raw_len);
	free(sp);
	free(at);
	return rc;
}

/* One merge "a b": look both symbols up and append the pair.  The
 * caller puts the location in front of an error. */
static int
bpe_add_merge(struct bpe *b, const char *a, size_t alen, const char *c,
    size_t clen, struct err *err)
{
	char		 sa[128], sc[128], cat[256];
	char		*ra = alen < sizeof sa ? sa : xmalloc(alen + 1);
	char		*rc = clen < sizeof sc ? sc : xmalloc(clen + 1);
	size_t		 na, nc;
	int32_t		 ia = -1, ic = -1;
	int		 ret = -1;

	if (bpe_unmap(a, alen, ra, &na) == 0)
		ia = bpe_token_id(b, ra, na);
	if (bpe_unmap(c, clen, rc, &nc) == 0)
		ic = bpe_token_id(b, rc, nc);
	if (ia < 0 || ic < 0) {
		err_set(err, "unknown merge symbol \"%.*s\"",
		    ia < 0 ? (int)alen : (int)clen, ia < 0 ? a : c);
		goto out;
	}
	{
		char	*cp = na + nc <= sizeof cat ? cat : xmalloc(na + nc);
		int32_t	 id;

		memcpy(cp, ra, na);
		memcpy(cp + na, rc, nc);
		id = bpe_token_id(b, cp, na + nc);
		if (cp != cat)
			free(cp);
		if (id < 0) {
			err_set(err, "merge \"%.*s %.*s\" makes a token that "
			    "is not in the vocabulary", (int)alen, a, (int)clen,
			    c);
			goto out;
		}
	}
	b->merges[2 * b->n_merges] = ia;
	b->merges[2 * b->n_merges + 1] = ic;
	b->n_merges++;
	ret = 0;
out:
	if (ra != sa)
		free(ra);
	if (rc != sc)
		free(rc);
	return ret;
}

/* Read merges.txt: an optional "#version" line, then "a b" per line. */
static int
bpe_load_merges(struct bpe *b, const char *path, struct err *err)
{
	char	*text = NULL;
	size_t	 len, line = 0, i = 0;
	int	 rc = -1;

	if (util_read_file(path, &text, &len, err) != 0)
		return -1;
	b->merges = xreallocarray(NULL, len / 2 + 1, 2 * sizeof *b->merges);
	while (i < len) {
		const char	*s = text + i, *nl = memchr(s, '\n', len - i);
		size_t		 n = nl ? (size_t)(nl - s) : len - i, sp;

		i += n + 1;
		line++;
		if (n > 0 && s[n - 1] == '\r')
			n--;
		if (n == 0 || (line == 1 && n >= 8 &&
		    memcmp(s, "#version", 8) == 0))
			continue;
		for (sp = 0; sp < n && s[sp] != ' '; sp++)
			;
		if (sp == 0 || sp + 1 >= n || memchr(s + sp + 1, ' ',
		    n - sp - 1) != NULL) {
			err_set(err, "%s:%zu: expected two symbols separated by "
			    "one space", path, line);
			goto out;
		}
		if (bpe_add_merge(b, s, sp, s + sp + 1, n - sp - 1, err) != 0) {
			err_prefix(err, "%s:%zu", path, line);
			goto out;
		}
	}
	bpe_merge_index(b);
	rc = 0;
out:
	free(text);
	return rc;
}

/*
 * Load a GPT-2 style tokenizer: vocab.json ({"token": id} with ids 0..n-1,
 * tokens in byte-to-unicode form) and merges.txt.  Vocabulary entries that
 * look like <|...|> become special tokens.  Caller frees with bpe_free();
 * NULL with err set ("file:line: problem") on bad files.
 */
struct bpe *
bpe_load(const char *vocab_path, const char *merges_path, struct err *err)
{
	struct bpe	*b = bpe_new();
	char		*text = NULL;
	size_t		 len;
	json_t		*j = NULL;

	if (util_read_file(vocab_path, &text, &len, err) != 0)
		goto fail;
	if ((j = bpe_json_load(vocab_path, text, len, err)) == NULL)
		goto fail;
	if (!json_is_object(j)) {
		err_set(err, "%s:1: expected a JSON object of token: id", vocab_path);
		goto fail;
	}
	if (bpe_load_vocab_obj(b, vocab_path, j, text, len, err) != 0 ||
	    bpe_check_bytes(b, vocab_path, err) != 0 ||
	    bpe_load_merges(b, merges_path, err) != 0)
		goto fail;
	json_decref(j);
	free(text);
	return b;
fail:
	json_decref(j);
	free(text);
	bpe_free(b);
	return NULL;
}

/* HF merges: strings "a b" or (newer files) pairs ["a", "b"]. */
static int
bpe_load_hf_merges(struct bpe *b, const char *path, json_t *arr,
    struct err *err)
{
	size_t	 i;
	json_t	*m;

	b->merges = xreallocarray(NULL, json_array_size(arr) + 1,
	    2 * sizeof *b->merges);
	json_array_foreach(arr, i, m) {
		const char	*a, *c, *s, *spc;

		if (json_is_string(m) && (spc = strchr(s = json_string_value(m),
		    ' ')) != NULL && strchr(spc + 1, ' ') == NULL) {
			a = s;
			c = spc + 1;
			if (bpe_add_merge(b, a, (size_t)(spc - s), c,
			    strlen(c), err) != 0)
				goto bad;
		} else if (json_is_array(m) && json_array_size(m) == 2 &&
		    json_is_string(json_array_get(m, 0)) &&
		    json_is_string(json_array_get(m, 1))) {
			a = json_string_value(json_array_get(m, 0));
			c = json_string_value(json_array_get(m, 1));
			if (bpe_add_merge(b, a, strlen(a), c, strlen(c),
			    err) != 0)
				goto bad;
		} else {
			err_set(err, "expected \"a b\" or [\"a\", \"b\"]");
			goto bad;
		}
	}
	bpe_merge_index(b);
	return 0;
bad:
	err_prefix(err, "%s: model.merges[%zu]", path, i);
	return -1;
}

/* HF added_tokens: [{"id": N, "content": "...", "special": bool}]. */
static int
bpe_load_hf_added(struct bpe *b, const char *path, json_t *arr,
    struct err *err)
{
	size_t	 i;
	json_t	*t;

	json_array_foreach(arr, i, t) {
		json_t		*id = json_object_get(t, "id");
		json_t		*ct = json_object_get(t, "content");
		const char	*s;
		size_t		 len;
		int32_t		 have;

		if (!json_is_integer(id) || !json_is_string(ct)) {
			err_set(err, "%s: added_tokens[%zu]: needs id and "
			    "content", path, i);
			return -1;
		}
		s = json_string_value(ct);
		len = json_string_length(ct);
		have = bpe_token_id(b, s, len);
		if (have < 0 && json_integer_value(id) == (json_int_t)b->n_vocab)
			have = bpe_push_token(b, s, len, 1);
		if (have < 0 || (json_int_t)have != json_integer_value(id)) {
			err_set(err, "%s: added_tokens[%zu]: \"%s\" with id %lld "
			    "does not fit the vocabulary", path, i, s,
			    (long long)json_integer_value(id));
			return -1;
		}
		b->special[have] = 1;
		bpe_splitter_add_special(b->split, s, len, have);
	}
	return 0;
}

/*
 * Encoding here is GPT-2's: the ByteLevel pre-tokenizer with its regex, no
 * normalizer, no prefix space.  Anything else would tokenize differently,
 * so it is refused rather than approximated.
 */
static int
bpe_hf_check_pipeline(json_t *j, const char *path, struct err *err)
{
	json_t		*pre = json_object_get(j, "pre_tokenizer");
	json_t		*norm = json_object_get(j, "normalizer");
	const char	*type = json_string_value(json_object_get(pre, "type"));

	if (norm != NULL && !json_is_null(norm)) {
		err_set(err, "%s: a normalizer is not supported", path);
		return -1;
	}
	if (type == NULL || strcmp(type, "ByteLevel") != 0) {
		err_set(err, "%s: pre_tokenizer %s is not supported (only "
		    "GPT-2's ByteLevel)", path, type ? type : "(none)");
		return -1;
	}
	if (json_is_true(json_object_get(pre, "add_prefix_space")) ||
	    json_is_false(json_object_get(pre, "use_regex"))) {
		err_set(err, "%s: ByteLevel with add_prefix_space or without "
		    "use_regex is not supported", path);
		return -1;
	}
	return 0;
}

/*
 * Load a Hugging Face tokenizer.json whose model is byte-level BPE (vocab,
 * merges and added_tokens).  Caller frees with bpe_free(); NULL with err
 * set on a bad or unsupported file.
 */
struct bpe *
bpe_load_hf(const char *path, struct err *err)
{
	struct bpe	*b = bpe_new();
	char		*text = NULL;
	size_t		 len;
	json_t		*j = NULL, *model, *vocab, *merges, *added, *type;

	if (util_read_file(path, &text, &len, err) != 0)
		goto fail;
	if ((j = bpe_json_load(path, text, len, err)) == NULL)
		goto fail;
	model = json_object_get(j, "model");
	type = json_object_get(model, "type");
	vocab = json_object_get(model, "vocab");
	merges = json_object_get(model, "merges");
	if (!json_is_object(model) || (type != NULL && (!json_is_string(type) ||
	    strcmp(json_string_value(type), "BPE") != 0))) {
		err_set(err, "%s: model is not BPE", path);
		goto fail;
	}
	if (!json_is_object(vocab) || !json_is_array(merges)) {
		err_set(err, "%s: model needs a vocab object and a merges array",
		    path);
		goto fail;
	}
	if (bpe_hf_check_pipeline(j, path, err) != 0 ||
	    bpe_load_vocab_obj(b, path, vocab, NULL, 0, err) != 0)
		goto fail;
	if (bpe_check_bytes(b, path, err) != 0 ||
	    bpe_load_hf_merges(b, path, merges, err) != 0)
		goto fail;
	added = json_object_get(j, "added_tokens");
	if (json_is_array(added) && bpe_load_hf_added(b, path, added, err) != 0)
		goto fail;
	json_decref(j);
	free(text);
	return b;
fail:
	json_decref(j);
	free(text);
	bpe_free(b);
	return NULL;
}

/* ---- saving ----------------------------------------------------------- */

/* Append token id in the files' form: byte-to-unicode, specials as is. */
static void
bpe_put_mapped(const struct bpe *b, struct buf *o, int32_t id)
{
	for (size_t i = 0; i < b->tok_len[id]; i++) {
		unsigned	cp = bpe_byte_to_cp((unsigned char)b->tok[id][i]);
		char		u[2];

		if (cp < 0x80) {
			u[0] = (char)cp;
			buf_append(o, u, 1);
		} else {
			u[0] = (char)(0xc0 | (cp >> 6));
			u[1] = (char)(0x80 | (cp & 0x3f));
			buf_append(o, u, 2);
		}
	}
}

/* Append vocab.json's text: one "token": id per line, by id. */
static int
bpe_vocab_json(const struct bpe *b, struct buf *v, struct err *err)
{
	json_t		*o = json_object();
	struct buf	 t;
	char		*s;

	buf_init(&t);
	for (size_t id = 0; id < b->n_vocab; id++) {
		t.len = 0;
		if (b->special[id] && utf8_is_valid(b->tok[id], b->tok_len[id],
		    NULL) && bpe_looks_special(b->tok[id], b->tok_len[id]))
			buf_append(&t, b->tok[id], b->tok_len[id]);
		else
			bpe_put_mapped(b, &t, (int32_t)id);
		json_object_setn_new(o, t.data, t.len,
		    json_integer((json_int_t)id));
	}
	buf_fini(&t);
	/* two tokens with one spelling would lose an id */
	if (json_object_size(o) != b->n_vocab) {
		err_set(err, "vocab.json: two tokens have the same text");
		json_decref(o);
		return -1;
	}
	if ((s = json_dumps(o, JSON_INDENT(2))) == NULL)
		util_fatal("json: out of memory");
	buf_puts(v, s);
	buf_puts(v, "\n");
	free(s);
	json_decref(o);
	return 0;
}

/*
 * Write vocab.json (one "token": id per line, by id) and merges.txt (a
 * "#version: 0.2" line, then one merge per line in rank order), both
 * atomically.  0, or -1 with err set.
 */
int
bpe_save(const struct bpe *b, const char *vocab_path, const char *merges_path,
    struct err *err)
{
	struct buf	v, m;
	int		rc = -1;

	buf_init(&v);
	buf_init(&m);
	if (bpe_vocab_json(b, &v, err) != 0)
		goto out;
	buf_puts(&m, "#version: 0.2\n");
	for (size_t r = 0; r < b->n_merges; r++) {
		bpe_put_mapped(b, &m, b->merges[2 * r]);
		buf_puts(&m, " ");
		bpe_put_mapped(b, &m, b->merges[2 * r + 1]);
		buf_puts(&m, "\n");
	}
	if (util_write_file_atomic(vocab_path, v.data, v.len, err) == 0 &&
	    util_write_file_atomic(merges_path, m.data, m.len, err) == 0)
		rc = 0;
out:
	buf_fini(&v);
	buf_fini(&m);
	return rc;
}
