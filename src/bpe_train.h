#ifndef LMSH_BPE_TRAIN_H
#define LMSH_BPE_TRAIN_H

#include <stddef.h>

#include "bpe.h"

struct err;

/* What to train; zero-filled plus vocab_size is a valid start. */
struct bpe_train_opts {
	size_t			 vocab_size;	/* specials + 256 bytes + merges */
	const char *const	*special;	/* special tokens, ids 0.. */
	size_t			 n_special;
	int			 threads;	/* pre-tokenizing threads; 0 = all */
	enum bpe_utf8_policy	 utf8;		/* corpus bytes that are not UTF-8 */
	size_t			 chunk_bytes;	/* read size per thread; 0 = 4 MiB */
	/* Called now and then: stage "reading" (bytes of total) or
	 * "merging" (merges of total). */
	void			(*progress)(void *arg, const char *stage,
				    double done, double total);
	void			*progress_arg;
};

/* Train on files (streamed, each file its own text); caller frees the
 * result with bpe_free().  NULL with err set. */
struct bpe	*bpe_train_files(const char *const *paths, size_t n_paths,
		    const struct bpe_train_opts *, struct err *);
/* The same on text in memory. */
struct bpe	*bpe_train_text(const char *text, size_t len,
		    const struct bpe_train_opts *, struct err *);

#endif
