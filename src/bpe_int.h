#ifndef LMSH_BPE_INT_H
#define LMSH_BPE_INT_H
/* Shared between bpe.c (the tables, encoding, decoding) and bpe_files.c
 * (the vocab.json, merges.txt and tokenizer.json formats); not for other
 * modules. */

#include <stddef.h>
#include <stdint.h>

struct err;

struct bpe_merge_slot {
	uint64_t	 key;		/* left << 32 | right; UINT64_MAX empty */
	int32_t		 rank;		/* position in merges.txt */
	int32_t		 id;		/* the merged token */
};

struct bpe {
	size_t			 n_vocab;
	size_t			 vocab_cap;	/* allocated entries of tok */
	char			**tok;		/* [n_vocab] raw bytes, owned */
	size_t			*tok_len;	/* [n_vocab] */
	unsigned char		*special;	/* [n_vocab] 1 for special tokens */
	int32_t			*vocab_map;	/* [map_cap] ids, -1 empty */
	size_t			 map_cap;	/* power of two */
	int32_t			 byte_id[256];	/* single-byte tokens */
	int32_t			*merges;	/* [2 * n_merges] in rank order */
	size_t			 n_merges;
	struct bpe_merge_slot	*merge_map;	/* [merge_cap] */
	size_t			 merge_cap;	/* power of two */
	struct bpe_splitter	*split;		/* owns the special list */
};

/* An empty tokenizer with its splitter. */
struct bpe	*bpe_new(void);
/* Append a token (bytes copied); its id is the old n_vocab. */
int32_t		 bpe_push_token(struct bpe *, const char *, size_t, int special);
/* Make vocab_map room for want tokens and index tok[] in it. */
void		 bpe_map_grow(struct bpe *, size_t want);
/* Build merge_map from merges[]; a repeated pair keeps its first rank. */
void		 bpe_merge_index(struct bpe *);
/* Every byte needs a token: -1 naming path and the byte otherwise. */
int		 bpe_check_bytes(const struct bpe *, const char *path,
		    struct err *);
/* The byte a GPT-2 byte-to-unicode code point stands for, or -1. */
int		 bpe_cp_to_byte(unsigned cp);

#endif
