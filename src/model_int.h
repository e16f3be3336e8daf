#ifndef LMSH_MODEL_INT_H
#define LMSH_MODEL_INT_H
/* Shared between model_load.c (config, binding the tensors, saving) and
 * model.c (the KV cache and the forward passes); not for other modules. */

#include <stddef.h>

#include "model.h"
#include "util.h"

struct weights;

/* A norm weight or w3 the variant lacks is NULL (see model.c). */
struct lm_layer {
	const float	*ln1;	/* [d_model] */
	const float	*wq;	/* [d_model][d_model] */
	const float	*wk;	/* [d_model][d_model] */
	const float	*wv;	/* [d_model][d_model] */
	const float	*wo;	/* [d_model][d_model] */
	const float	*ln2;	/* [d_model] */
	const float	*w1;	/* [d_ff][d_model] */
	const float	*w2;	/* [d_model][d_ff] */
	const float	*w3;	/* [d_ff][d_model] */
};

struct lm_model {
	struct lm_config cfg;		/* checked shape */
	int		 n_threads;	/* for BLIS and our loops */
	struct weights	*w;		/* open checkpoint, or NULL */
	float		**owned;	/* converted or random buffers */
	size_t		 n_owned;
	const float	*tok_emb;	/* [vocab][d_model] */
	const float	*pos_emb;	/* [context_length][d_model] or NULL */
	struct lm_layer	*layers;	/* [num_layers] */
	const float	*ln_final;	/* [d_model] or NULL */
	const float	*lm_head;	/* [vocab][d_model] */
	float		*rope_cos;	/* [context_length][d_k/2]; NULL
					 * without RoPE */
	float		*rope_sin;	/* [context_length][d_k/2] */
	struct buf	 warnings;	/* "; "-joined, empty if none */
};

#endif
