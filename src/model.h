#ifndef LMSH_MODEL_H
#define LMSH_MODEL_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct err;
struct lm_model;
struct lm_cache;

/*
 * A variant switch as a config states it.  0 is "not stated": model_open()
 * reads it off the tensors where they show it, else takes the 2025 default,
 * so an opened model's config has every switch set.
 */
enum lm_switch {
	LM_NO = 1,
	LM_YES
};

/* The feed-forward network (config key ffn_type); 0 is "not stated". */
enum lm_ffn {
	LM_FFN_SWIGLU = 1,	/* W2 (SiLU(W1 x) * W3 x), the 2025 default */
	LM_FFN_SILU,		/* W2 SiLU(W1 x), no w3 (2025 ablation) */
	LM_FFN_GELU		/* W2 GELU(W1 x), exact erf, no w3 (2024) */
};

/* The CS336 TransformerLM hyper-parameters (config.json keys). */
struct lm_config {
	int	vocab_size;	/* rows of token_embeddings and lm_head */
	int	context_length;	/* longest sequence, prompt included */
	int	d_model;	/* residual width */
	int	num_layers;	/* transformer blocks */
	int	num_heads;	/* attention heads; d_model % num_heads == 0 */
	int	d_ff;		/* feed-forward hidden width */
	float	rope_theta;	/* RoPE base, default 10000 */
	int	remove_rmsnorm;	/* enum lm_switch: no RMSNorm in the blocks */
	int	use_post_norm;	/* enum lm_switch: norm after each residual add */
	int	remove_rope;	/* enum lm_switch: no RoPE */
	int	ffn_type;	/* enum lm_ffn */
	int	pos_emb;	/* enum lm_switch: learned position_embeddings
				 * (2024), read off the tensors */
};

/* Where a model comes from.  Either dir (a model directory with config.json
 * and model.safetensors) or checkpoint (a .pt or .safetensors file) with
 * config_path, config_json and/or the fields of cfg (0 = not given)
 * supplying the shape, each overriding the one before. */
struct lm_model_source {
	const char		*dir;		/* model directory or NULL */
	const char		*checkpoint;	/* .pt/.safetensors or NULL */
	const char		*config_path;	/* config.json or NULL */
	const char		*config_json;	/* a config's text (as the
						 * history records it) or NULL */
	struct lm_config	 cfg;		/* overrides; 0 fields unset */
};

/* Loading.  warn (may be NULL) collects one "; "-joined line of config
 * keys that were ignored; see model_config_load(). */
int		 model_config_load(const char *path, struct lm_config *,
		    struct buf *warn, struct err *);
int		 model_config_parse(const char *json, const char *what,
		    struct lm_config *, struct buf *warn, struct err *);
int		 model_config_check(const struct lm_config *, struct err *);
/* The generation defaults of a model directory, generation_config.json in
 * Hugging Face's keys: fn gets each number (true and false as 1 and 0);
 * a nonzero return stops and is returned.  No file is 0 with no call. */
int		 model_generation_config(const char *dir,
		    int (*fn)(void *, const char *key, double v), void *arg,
		    struct err *);
struct lm_model	*model_open(const struct lm_model_source *, struct err *);
/* Random weights (benchmarks, tests); seed picks them. */
struct lm_model	*model_new_random(const struct lm_config *, uint64_t seed,
		    struct err *);
void		 model_close(struct lm_model *);
/* Saving (lmsh convert): tensors as safetensors (enum weights_dtype), and
 * config.json. */
int		 model_save(struct lm_model *, const char *path, int dtype,
		    struct err *);
int		 model_config_save(const struct lm_config *, const char *path,
		    struct err *);
/* The config as one line of JSON (history); caller frees. */
char		*model_config_json(const struct lm_config *);
const struct lm_config *model_config(const struct lm_model *);
/* Number of threads for everything the model runs (BLIS and our own). */
void		 model_set_threads(struct lm_model *, int);
int		 model_threads(const struct lm_model *);
/* Threads worth using now: --threads, or by default the cores that no
 * other program is running on (at least 1). */
int		 model_threads_now(struct lm_model *);
/* Non-fatal problems found at load (NaN weights, unknown config keys), or
 * NULL. */
const char	*model_warnings(const struct lm_model *);
/* Bytes of weights one decode step reads (all but the embeddings). */
size_t		 model_weight_bytes(const struct lm_model *);
/* The kernel set and weight dtype in use, for the history. */
const char	*model_engine_desc(const struct lm_model *);
/* The dtype of the packed weights as stored: "f32", "bf16" or "f16". */
const char	*model_dtype_name(const struct lm_model *);

/* KV cache: n_seq independent sequence slots of up to n_ctx positions. */
struct lm_cache	*model_cache_new(const struct lm_model *, int n_seq, int n_ctx,
		    struct err *);
void		 model_cache_free(struct lm_cache *);
void		 model_cache_reset(struct lm_cache *, int seq);
int		 model_cache_pos(const struct lm_cache *, int seq);
/* Drop positions >= pos of slot seq. */
void		 model_cache_truncate(struct lm_cache *, int seq, int pos);
/* Slot dst takes a copy of the first n positions of slot src. */
int		 model_cache_copy(struct lm_cache *, int dst, int src, int n);
int		 model_cache_ctx(const struct lm_cache *);
size_t		 model_cache_bytes(const struct lm_cache *);

/* Run n tokens of slot seq from its current position (batched GEMMs).
 * logits: [n][vocab] when all_logits, else [vocab] for the last token only;
 * may be NULL.  Fails if the slot would pass n_ctx. */
int		 model_prefill(struct lm_model *, struct lm_cache *, int seq,
		    const int32_t *tokens, size_t n, float *logits,
		    int all_logits, struct err *);
/* One decode step for n sequences at once: token[i] goes into slot seqs[i];
 * logits [n][vocab]. */
int		 model_decode(struct lm_model *, struct lm_cache *,
		    const int *seqs, const int32_t *tokens, int n,
		    float *logits, struct err *);

#endif
