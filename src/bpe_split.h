#ifndef LMSH_BPE_SPLIT_H
#define LMSH_BPE_SPLIT_H

#include <stddef.h>
#include <stdint.h>

struct err;
struct bpe_splitter;

/* Splitting: special tokens (longest match wins), GPT-2 pattern between. */
typedef int	(*bpe_piece_fn)(void *arg, const char *piece, size_t len,
		    int32_t special_id);
struct bpe_splitter *bpe_splitter_new(struct err *);
int		 bpe_splitter_add_special(struct bpe_splitter *, const char *,
		    size_t, int32_t id);
void		 bpe_splitter_free(struct bpe_splitter *);
/* Call fn for each piece of valid UTF-8 text, in order: special_id is the
 * special token's id, or -1 for a pre-token.  fn returning non-zero stops
 * the walk and is returned; -1 with err set on a regex failure. */
int		 bpe_splitter_run(const struct bpe_splitter *, const char *text,
		    size_t len, bpe_piece_fn, void *arg, struct err *);
/* The same walk using PCRE2 only (no ASCII fast path), for tests. */
int		 bpe_splitter_run_pcre(const struct bpe_splitter *,
		    const char *text, size_t len, bpe_piece_fn, void *arg,
		    struct err *);

#endif
