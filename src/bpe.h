#ifndef LMSH_BPE_H
#define LMSH_BPE_H

#include <stddef.h>
#include <stdint.h>

struct err;
struct bpe;
struct bpe_stream;

/* What to do with bytes that are not valid UTF-8 (input text or decoded). */
enum bpe_utf8_policy {
	BPE_UTF8_STRICT,	/* error naming the byte offset */
	BPE_UTF8_REPLACE	/* each bad sequence becomes U+FFFD */
};

/* Loading. Errors read "file:line: problem". */
struct bpe	*bpe_load(const char *vocab_path, const char *merges_path,
		    struct err *);
struct bpe	*bpe_load_hf(const char *tokenizer_json_path, struct err *);
/* Build from raw token bytes and merges (pairs of ids, in rank order);
 * the ids in specials are marked special.  Copies everything. */
struct bpe	*bpe_build(size_t n_vocab, const char *const *tok,
		    const size_t *tok_len, const int32_t *merges,
		    size_t n_merges, const int32_t *specials, size_t n_specials,
		    struct err *);
/* Register a special token (may already be in the vocabulary). */
int		 bpe_add_special(struct bpe *, const char *tok, struct err *);
void		 bpe_free(struct bpe *);

/* Queries. */
size_t		 bpe_n_vocab(const struct bpe *);
size_t		 bpe_n_merges(const struct bpe *);
/* Id of an exact token (regular or special) given as raw bytes, or -1. */
int32_t		 bpe_token_id(const struct bpe *, const char *, size_t);
/* Raw bytes of a token; NULL for an id outside the vocabulary.  Borrowed,
 * valid while the bpe lives. */
const char	*bpe_token_bytes(const struct bpe *, int32_t, size_t *len);
int		 bpe_is_special(const struct bpe *, int32_t);

/* Encode text (special tokens recognised) into ids; caller frees *ids. */
int		 bpe_encode(const struct bpe *, const char *text, size_t len,
		    enum bpe_utf8_policy, int32_t **ids, size_t *n_ids,
		    struct err *);
/* Decode ids into text; caller frees *out (NUL-terminated). */
int		 bpe_decode(const struct bpe *, const int32_t *ids, size_t n,
		    enum bpe_utf8_policy, char **out, size_t *out_len,
		    struct err *);

/* Streaming decode: text is released only at whole UTF-8 characters. */
struct bpe_stream *bpe_stream_new(const struct bpe *, enum bpe_utf8_policy);
/* Feed one id; *piece and *len get the completed text (possibly empty), borrowed
 * until the next call on this stream.  -1 for an id outside the vocabulary
 * (or invalid bytes under BPE_UTF8_STRICT). */
int		 bpe_stream_push(struct bpe_stream *, int32_t id,
		    const char **piece, size_t *len, struct err *);
/* Emit whatever is held back, per the policy; same borrowing rule. */
int		 bpe_stream_flush(struct bpe_stream *, const char **piece,
		    size_t *len, struct err *);
void		 bpe_stream_reset(struct bpe_stream *);
void		 bpe_stream_free(struct bpe_stream *);

/* Write vocab.json + merges.txt in GPT-2 byte-to-unicode form. */
int		 bpe_save(const struct bpe *, const char *vocab_path,
		    const char *merges_path, struct err *);

/* UTF-8 repair: a copy of s with each bad sequence replaced by U+FFFD
 * (maximal subparts, as Python's errors="replace"); caller frees. */
char		*bpe_utf8_repair(const char *s, size_t len, size_t *out_len);

/* GPT-2 byte-to-unicode mapping: the code point that stands for byte b. */
unsigned	 bpe_byte_to_cp(unsigned char b);

#endif
