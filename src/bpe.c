/* Placeholder generated so that everything links; the owner replaces it. */
#include "config.h"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <stdio.h>
#include <stdlib.h>
#include "util.h"
#include "bpe.h"

struct bpe *
bpe_load(const char *vocab_path, const char *merges_path, struct err *a2)
{
	err_set(a2, "bpe_load: not implemented yet");
	return NULL;
}

struct bpe *
bpe_load_hf(const char *tokenizer_json_path, struct err *a1)
{
	err_set(a1, "bpe_load_hf: not implemented yet");
	return NULL;
}

int
bpe_add_special(struct bpe *a0, const char *tok, struct err *a2)
{
	err_set(a2, "bpe_add_special: not implemented yet");
	return -1;
}

void
bpe_free(struct bpe *a0)
{

}

size_t
bpe_n_vocab(const struct bpe *a0)
{
	return -1;
}

int32_t
bpe_token_id(const struct bpe *a0, const char *a1, size_t a2)
{
	return -1;
}

const char *
bpe_token_bytes(const struct bpe *a0, int32_t a1, size_t *len)
{
	return NULL;
}

int
bpe_is_special(const struct bpe *a0, int32_t a1)
{
	return -1;
}

int
bpe_encode(const struct bpe *a0, const char *text, size_t len, enum bpe_utf8_policy a3, int32_t **ids, size_t *n_ids, struct err *a6)
{
	err_set(a6, "bpe_encode: not implemented yet");
	return -1;
}

int
bpe_decode(const struct bpe *a0, const int32_t *ids, size_t n, enum bpe_utf8_policy a3, char **out, size_t *out_len, struct err *a6)
{
	err_set(a6, "bpe_decode: not implemented yet");
	return -1;
}

struct bpe_stream *
bpe_stream_new(const struct bpe *a0, enum bpe_utf8_policy a1)
{
	return NULL;
}

int
bpe_stream_push(struct bpe_stream *a0, int32_t id, const char **piece, size_t *len, struct err *a4)
{
	err_set(a4, "bpe_stream_push: not implemented yet");
	return -1;
}

int
bpe_stream_flush(struct bpe_stream *a0, const char **piece, size_t *len, struct err *a3)
{
	err_set(a3, "bpe_stream_flush: not implemented yet");
	return -1;
}

void
bpe_stream_reset(struct bpe_stream *a0)
{

}

void
bpe_stream_free(struct bpe_stream *a0)
{

}

int
bpe_save(const struct bpe *a0, const char *vocab_path, const char *merges_path, struct err *a3)
{
	err_set(a3, "bpe_save: not implemented yet");
	return -1;
}
