#ifndef LMSH_MODEL_INT_H
#define LMSH_MODEL_INT_H
/* Shared between model_load.c (config, binding the tensors, saving) and
 * model.c (the KV cache and the forward passes); not for other modules. */

#include <stddef.h>

#include "blas.h"
#include "model.h"
#include "util.h"

struct weights;

#define LM_THREADS_MAX	64	/* counts the adaptive choice may try */

/* Linear weights are packed blas_mat handles (see blas.c), in the dtype
 * the checkpoint stores; the forward code passes them to the kernels and
 * never looks inside.  A norm weight the variant lacks is NULL (the
 * identity), and so is w3.data when the FFN is SiLU or GELU (see model.c). */
struct lm_layer {
	const float	*ln1;	/* [d_model] */
	struct blas_mat	 wq;	/* [d_model][d_model] */
	struct blas_mat	 wk;	/* [d_model][d_model] */
	struct blas_mat	 wv;	/* [d_model][d_model] */
	struct blas_mat	 wo;	/* [d_model][d_model] */
	const float	*ln2;	/* [d_model] */
	struct blas_mat	 w1;	/* [d_ff][d_model] */
	struct blas_mat	 w2;	/* [d_model][d_ff] */
	struct blas_mat	 w3;	/* [d_ff][d_model]; data NULL: no w3 */
};

struct lm_model {
	struct lm_config cfg;		/* checked shape */
	int		 n_threads;	/* for BLIS and our loops, at most */
	int		 thr_auto;	/* n_threads is the default: adapt */
	int		 thr_cur;	/* threads a decode step uses now */
	unsigned long	 thr_steps;	/* decode steps timed */
	int		 thr_backoff;	/* probe interval is doubled this often */
	int		 thr_late;	/* others were running: no early probes */
	int		 thr_slow;	/* steps in a row far slower than one
					   thread fewer */
	int		 thr_seen;	/* other programs' threads running */
	double		 thr_seen_t;	/* when thr_seen was read; 0: never */
	size_t		 thr_nb;	/* batch size the times are for */
	double		 thr_t[LM_THREADS_MAX + 1]; /* s per step; 0: unknown */
	struct weights	*w;		/* open checkpoint, or NULL */
	float		**owned;	/* converted or random buffers */
	size_t		 n_owned;
	void		*pack;		/* every packed matrix, one mapping */
	size_t		 pack_len;	/* its bytes */
	size_t		 pack_used;	/* bytes handed out so far */
	enum blas_dtype	 dtype;		/* of the packed matrices */
	const void	*tok_emb;	/* [vocab][d_model] of emb_dtype */
	const void	*pos_emb;	/* [context_length][d_model] of emb_dtype,
					 * or NULL */
	enum blas_dtype	 emb_dtype;	/* of tok_emb, as stored */
	enum blas_dtype	 pos_dtype;	/* of pos_emb, as stored */
	struct lm_layer	*layers;	/* [num_layers] */
	const float	*ln_final;	/* [d_model] or NULL */
	struct blas_mat	 lm_head;	/* [vocab][d_model] */
	float		*rope_cos;	/* [context_length][d_k/2]; NULL
					 * without RoPE */
	float		*rope_sin;	/* [context_length][d_k/2] */
	struct buf	 warnings;	/* "; "-joined, empty if none */
};

#endif
