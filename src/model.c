/*
 * model.c: the CS336 TransformerLM, run in fp32.
 *
 * x = token_embeddings[t]; for each layer: x += attn(RMSNorm(x, ln1)),
 * x += W2(SiLU(W1 h) * W3 h) with h = RMSNorm(x, ln2); logits =
 * lm_head(RMSNorm(x, ln_final)).  Attention is causal with RoPE on q and k,
 * rotating interleaved pairs (x[2j], x[2j+1]) by pos * theta^(-2j/d_k).
 * Every linear weight is stored (d_out, d_in), as PyTorch keeps it.
 *
 * Weights: F32 tensors of a safetensors file are used where they lie in the
 * mapping; BF16/F16 ones (and any misaligned F32) are converted into buffers
 * the model owns.  The weights object stays open until model_close().
 *
 * KV cache layout (struct lm_cache): k and v are each
 *   [n_layers][n_seq][n_ctx][d_model]
 * so the keys of one layer and slot are a row-major [n_ctx][d_model] matrix
 * whose head h occupies columns h*d_k .. h*d_k+d_k-1.  A prefill writes its
 * rows with one GEMM straight into the cache; RoPE is applied to keys before
 * they are stored.  pos[s] counts the positions of slot s already filled.
 *
 * Two paths: model_prefill() runs up to LM_PREFILL_CHUNK tokens of one slot
 * at a time with BLIS GEMMs and attention threaded over heads;
 * model_decode() runs one token for each of n slots with blas_matvec(), whose
 * results do not depend on n, the slot's place in the batch or the thread
 * count (see blas.h), so a sequence decodes to the same bits alone or in any
 * batch.  Both share the scratch buffers that the cache owns.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "blas.h"
#include "model.h"
#include "util.h"
#include "weights.h"

#define LM_RMS_EPS		1e-5f
#define LM_PREFILL_CHUNK	256	/* tokens per prefill pass */
#define LM_ATT_QBLOCK		64	/* query rows per attention task */
#define LM_DIM_MAX		(1 << 20)	/* sanity bound on config ints */
#define LM_LAYERS_MAX		4096

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
	struct lm_layer	*layers;	/* [num_layers] */
	const float	*ln_final;	/* [d_model] */
	const float	*lm_head;	/* [vocab][d_model] */
	float		*rope_cos;	/* [context_length][d_k/2] */
	float		*rope_sin;	/* [context_length][d_k/2] */
	struct buf	 warnings;	/* "; "-joined, empty if none */
};

struct lm_cache {
	const struct lm_model *m;	/* borrowed */
	int		 n_seq;		/* slots */
	int		 n_ctx;		/* positions per slot */
	int		*pos;		/* [n_seq] filled positions */
	float		*k;		/* [n_layers][n_seq][n_ctx][d_model] */
	float		*v;		/* same layout as k */
	size_t		 kv_bytes;	/* of k and v together */
	size_t		 n_rows;	/* rows of the scratch below */
	float		*x;		/* [n_rows][d_model] residual */
	float		*h;		/* [n_rows][d_model] normed */
	float		*q;		/* [n_rows][d_model] */
	float		*att;		/* [n_rows][d_model] */
	float		*kv1;		/* [n_rows][d_model] decode k */
	float		*kv2;		/* [n_rows][d_model] decode v */
	float		*g;		/* [n_rows][d_ff] */
	float		*u;		/* [n_rows][d_ff] */
	float		*scores;	/* [n_score_thr][LM_ATT_QBLOCK][n_ctx] */
	int		 n_score_thr;	/* threads scores has room for */
};

/* --- config ---------------------------------------------------------------- */

static int
model_json_int(json_t *root, const char *key, int *out, const char *path,
    struct err *err)
{
	json_t *v = json_object_get(root, key);
	double d;

	if (v == NULL)
		return 0;
	if (json_is_integer(v) && json_integer_value(v) > 0 &&
	    json_integer_value(v) <= INT32_MAX) {
		*out = (int)json_integer_value(v);
		return 0;
	}
	/* Some writers store whole numbers as 512.0. */
	if (json_is_real(v) && (d = json_real_value(v)) >= 1 &&
	    d <= INT32_MAX && d == floor(d)) {
		*out = (int)d;
		return 0;
	}
	err_set(err, "%s: %s: not a positive integer", path, key);
	return -1;
}

/*
 * Read the CS336 hyper-parameters from a config.json (or model_config.json)
 * into *cfg.  Keys that are absent leave their field as it was, other keys
 * are ignored; call model_config_check() once everything is filled.
 * Returns 0, or -1 with err naming the file and key.
 */
int
model_config_load(const char *path, struct lm_config *cfg, struct err *err)
{
	static const struct {
		const char	*key;
		size_t		 off;
	} keys[] = {
		{ "vocab_size", offsetof(struct lm_config, vocab_size) },
		{ "context_length", offsetof(struct lm_config, context_length) },
		{ "d_model", offsetof(struct lm_config, d_model) },
		{ "num_layers", offsetof(struct lm_config, num_layers) },
		{ "num_heads", offsetof(struct lm_config, num_heads) },
		{ "d_ff", offsetof(struct lm_config, d_ff) },
	};
	json_error_t jerr;
	json_t *root, *v;
	int rc = -1;

	if ((root = json_load_file(path, 0, &jerr)) == NULL) {
		if (jerr.line < 0)
			err_set(err, "%s: %s", path, jerr.text);
		else
			err_set(err, "%s:%d: %s", path, jerr.line, jerr.text);
		return -1;
	}
	if (!json_is_object(root)) {
		err_set(err, "%s: not a json object", path);
		goto out;
	}
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (model_json_int(root, keys[i].key,
		    (int *)((char *)cfg + keys[i].off), path, err) == -1)
			goto out;
	if ((v = json_object_get(root, "rope_theta")) != NULL) {
		if (!json_is_number(v) || !(json_number_value(v) > 1)) {
			err_set(err, "%s: rope_theta: not a number above 1",
			    path);
			goto out;
		}
		cfg->rope_theta = (float)json_number_value(v);
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/*
 * Check that a config describes a model we can run: every field set and
 * positive, d_model divisible by num_heads into an even head size.
 * rope_theta 0 becomes the default 10000.  Returns 0 or -1 with err.
 */
int
model_config_check(const struct lm_config *cfg, struct err *err)
{
	const struct {
		const char	*name;
		int		 v;
	} f[] = {
		{ "vocab_size", cfg->vocab_size },
		{ "context_length", cfg->context_length },
		{ "d_model", cfg->d_model },
		{ "num_layers", cfg->num_layers },
		{ "num_heads", cfg->num_heads },
		{ "d_ff", cfg->d_ff },
	};

	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
		if (f[i].v <= 0) {
			err_set(err, "model config: %s is not set", f[i].name);
			return -1;
		}
		if (f[i].v > LM_DIM_MAX) {
			err_set(err, "model config: %s %d is too large",
			    f[i].name, f[i].v);
			return -1;
		}
	}
	if (cfg->num_layers > LM_LAYERS_MAX) {
		err_set(err, "model config: num_layers %d is too large",
		    cfg->num_layers);
		return -1;
	}
	if (cfg->d_model % cfg->num_heads != 0 ||
	    (cfg->d_model / cfg->num_heads) % 2 != 0) {
		err_set(err, "model config: d_model %d does not split into %d "
		    "heads of even size", cfg->d_model, cfg->num_heads);
		return -1;
	}
	if (cfg->rope_theta != 0 && !(cfg->rope_theta > 1)) {
		err_set(err, "model config: rope_theta %g is not above 1",
		    (double)cfg->rope_theta);
		return -1;
	}
	return 0;
}

/* --- model object ---------------------------------------------------------- */

static struct lm_model *
model_alloc(const struct lm_config *cfg)
{
	struct lm_model *m = xcalloc(1, sizeof *m);

	m->cfg = *cfg;
	if (m->cfg.rope_theta == 0)
		m->cfg.rope_theta = 10000;
	m->layers = xcalloc((size_t)cfg->num_layers, sizeof *m->layers);
	buf_init(&m->warnings);
#ifdef _OPENMP
	m->n_threads = omp_get_max_threads();
#else
	m->n_threads = 1;
#endif
	return m;
}

/* A zeroed float buffer the model frees; NULL with err if out of memory. */
static float *
model_own(struct lm_model *m, size_t n, const char *what, struct err *err)
{
	float *p = calloc(n, sizeof *p);

	if (p == NULL) {
		err_set(err, "%s: %zu MiB: out of memory", what,
		    n * sizeof *p >> 20);
		return NULL;
	}
	m->owned = xreallocarray(m->owned, m->n_owned + 1, sizeof *m->owned);
	m->owned[m->n_owned++] = p;
	return p;
}

/* cos/sin of pos * theta^(-2j/d_k), in double before rounding to fp32. */
static int
model_rope_init(struct lm_model *m, struct err *err)
{
	size_t half = (size_t)(m->cfg.d_model / m->cfg.num_heads / 2);
	size_t n = (size_t)m->cfg.context_length * half;
	double dk = (double)(half * 2);

	if ((m->rope_cos = model_own(m, n, "rope table", err)) == NULL ||
	    (m->rope_sin = model_own(m, n, "rope table", err)) == NULL)
		return -1;
	for (size_t p = 0; p < (size_t)m->cfg.context_length; p++)
		for (size_t j = 0; j < half; j++) {
			double a = (double)p * pow(m->cfg.rope_theta,
			    -2.0 * (double)j / dk);

			m->rope_cos[p * half + j] = (float)cos(a);
			m->rope_sin[p * half + j] = (float)sin(a);
		}
	return 0;
}

/*
 * Free a model and everything it owns; NULL is fine.  Caches made from it
 * must be freed first.
 */
void
model_close(struct lm_model *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n_owned; i++)
		free(m->owned[i]);
	free(m->owned);
	free(m->layers);
	buf_fini(&m->warnings);
	weights_close(m->w);
	free(m);
}

/* The model's config (rope_theta filled in); valid until model_close(). */
const struct lm_config *
model_config(const struct lm_model *m)
{
	return &m->cfg;
}

/*
 * Threads for everything the model runs; n < 1 means one.  Results do not
 * depend on it.
 */
void
model_set_threads(struct lm_model *m, int n)
{
	m->n_threads = n < 1 ? 1 : n;
}

/* The thread count in use. */
int
model_threads(const struct lm_model *m)
{
	return m->n_threads;
}

/*
 * Problems with the weights that do not stop the model from running (NaN or
 * infinite values), as one line, or NULL if there are none.  Valid until
 * model_close().
 */
const char *
model_warnings(const struct lm_model *m)
{
	return m->warnings.len > 0 ? m->warnings.data : NULL;
}

/* Bytes of weights a decode step reads: everything but the embeddings. */
size_t
model_weight_bytes(const struct lm_model *m)
{
	size_t d = (size_t)m->cfg.d_model, f = (size_t)m->cfg.d_ff;
	size_t per_layer = 4 * d * d + 3 * d * f + 2 * d;

	return ((size_t)m->cfg.num_layers * per_layer + d +
	    (size_t)m->cfg.vocab_size * d) * sizeof(float);
}

/* --- tensors --------------------------------------------------------------- */

/* Fill the pointer table from a name lookup: one entry per CS336 tensor. */
struct model_slot {
	char		 name[64];	/* CS336 tensor name */
	const float	**dst;		/* where the fp32 data goes */
	int		 n_dims;	/* 1 or 2 */
	int64_t		 shape[2];	/* expected */
};

static size_t
model_slots(struct lm_model *m, struct model_slot **out)
{
	const struct lm_config *c = &m->cfg;
	size_t n = (size_t)c->num_layers * 9 + 3, i = 0;
	struct model_slot *s = xcalloc(n, sizeof *s);
	int64_t d = c->d_model, f = c->d_ff, v = c->vocab_size;

#define MODEL_SLOT(dst_, nd_, a_, b_, ...) do {				\
	snprintf(s[i].name, sizeof s[i].name, __VA_ARGS__);		\
	s[i].dst = (dst_);						\
	s[i].n_dims = (nd_);						\
	s[i].shape[0] = (a_);						\
	s[i].shape[1] = (b_);						\
	i++;								\
} while (0)
	MODEL_SLOT(&m->tok_emb, 2, v, d, "token_embeddings.weight");
	for (int l = 0; l < c->num_layers; l++) {
		struct lm_layer *L = &m->layers[l];

		MODEL_SLOT(&L->wq, 2, d, d, "layers.%d.attn.q_proj.weight", l);
		MODEL_SLOT(&L->wk, 2, d, d, "layers.%d.attn.k_proj.weight", l);
		MODEL_SLOT(&L->wv, 2, d, d, "layers.%d.attn.v_proj.weight", l);
		MODEL_SLOT(&L->wo, 2, d, d,
		    "layers.%d.attn.output_proj.weight", l);
		MODEL_SLOT(&L->ln1, 1, d, 0, "layers.%d.ln1.weight", l);
		MODEL_SLOT(&L->ln2, 1, d, 0, "layers.%d.ln2.weight", l);
		MODEL_SLOT(&L->w1, 2, f, d, "layers.%d.ffn.w1.weight", l);
		MODEL_SLOT(&L->w2, 2, d, f, "layers.%d.ffn.w2.weight", l);
		MODEL_SLOT(&L->w3, 2, f, d, "layers.%d.ffn.w3.weight", l);
	}
	MODEL_SLOT(&m->ln_final, 1, d, 0, "ln_final.weight");
	MODEL_SLOT(&m->lm_head, 2, v, d, "lm_head.weight");
#undef MODEL_SLOT
	*out = s;
	return i;
}

static void
model_shape_str(char *b, size_t len, int n_dims, const int64_t *shape)
{
	size_t o = 0;

	o += (size_t)snprintf(b + o, len - o, "[");
	for (int i = 0; i < n_dims && o < len; i++)
		o += (size_t)snprintf(b + o, len - o, "%s%lld", i ? ", " : "",
		    (long long)shape[i]);
	if (o < len)
		snprintf(b + o, len - o, "]");
}

/* Append name to a list held in b, at most 4 names then a count. */
static void
model_list_add(struct buf *b, int *n, const char *name)
{
	if (*n < 4)
		buf_printf(b, "%s%s", *n ? ", " : "", name);
	(*n)++;
}

static void
model_list_end(struct buf *b, int n)
{
	if (n > 4)
		buf_printf(b, " and %d more", n - 4);
}

static int
model_slot_known(const struct model_slot *s, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s[i].name, name) == 0)
			return 1;
	return 0;
}

/* Error if tensors are missing or unexpected, naming them. */
static int
model_check_names(const struct weights *w, const struct model_slot *s,
    size_t n, const char *path, struct err *err)
{
	struct buf missing, extra;
	int n_missing = 0, n_extra = 0, rc = 0;

	buf_init(&missing);
	buf_init(&extra);
	for (size_t i = 0; i < n; i++)
		if (weights_find(w, s[i].name) == NULL)
			model_list_add(&missing, &n_missing, s[i].name);
	for (size_t i = 0; i < weights_count(w); i++) {
		const char *name = weights_get(w, i)->name;

		if (!model_slot_known(s, n, name))
			model_list_add(&extra, &n_extra, name);
	}
	model_list_end(&missing, n_missing);
	model_list_end(&extra, n_extra);
	if (n_missing || n_extra) {
		err_set(err, "%s: not a CS336 TransformerLM of this config:"
		    "%s%s%s%s%s", path, n_extra ? " unexpected tensors: " : "",
		    n_extra ? extra.data : "", n_extra && n_missing ? ";" : "",
		    n_missing ? " missing tensors: " : "",
		    n_missing ? missing.data : "");
		rc = -1;
	}
	buf_fini(&missing);
	buf_fini(&extra);
	return rc;
}

/* Count NaN and infinite values, for the warning. */
static size_t
model_count_nonfinite(const float *p, size_t n)
{
	size_t bad = 0;

	for (size_t i = 0; i < n; i++)
		bad += !isfinite(p[i]);
	return bad;
}

/* Point one slot at fp32 data: borrowed if possible, else converted. */
static int
model_bind(struct lm_model *m, const struct model_slot *s,
    const struct weights_tensor *t, const char *path, struct err *err)
{
	char want[64], got[64];
	float *p;
	size_t bad;

	if (t->n_dims != s->n_dims || t->shape[0] != s->shape[0] ||
	    (s->n_dims == 2 && t->shape[1] != s->shape[1])) {
		model_shape_str(want, sizeof want, s->n_dims, s->shape);
		model_shape_str(got, sizeof got, t->n_dims, t->shape);
		err_set(err, "%s: %s: expected shape %s, got %s", path,
		    s->name, want, got);
		return -1;
	}
	if (t->dtype == WEIGHTS_F32 &&
	    ((uintptr_t)t->data % sizeof(float)) == 0) {
		*s->dst = t->data;
	} else {
		if ((p = model_own(m, t->n_elems, s->name, err)) == NULL)
			return -1;
		weights_to_f32(t->dtype, t->data, p, t->n_elems);
		*s->dst = p;
	}
	if ((bad = model_count_nonfinite(*s->dst, t->n_elems)) > 0)
		buf_printf(&m->warnings, "%s%s: %s has %zu nan or infinite "
		    "values", m->warnings.len ? "; " : "", path, s->name, bad);
	return 0;
}

/* Fill config fields the user left 0 from the tensor shapes. */
static void
model_infer_config(const struct weights *w, struct lm_config *c)
{
	const struct weights_tensor *t;
	char name[64];
	int n = 0;

	if ((t = weights_find(w, "token_embeddings.weight")) != NULL &&
	    t->n_dims == 2) {
		if (c->vocab_size == 0 && t->shape[0] <= LM_DIM_MAX)
			c->vocab_size = (int)t->shape[0];
		if (c->d_model == 0 && t->shape[1] <= LM_DIM_MAX)
			c->d_model = (int)t->shape[1];
	}
	if (c->d_ff == 0 && (t = weights_find(w, "layers.0.ffn.w1.weight")) !=
	    NULL && t->n_dims == 2 && t->shape[0] <= LM_DIM_MAX)
		c->d_ff = (int)t->shape[0];
	if (c->num_layers == 0) {
		for (;;) {
			snprintf(name, sizeof name, "layers.%d.ln1.weight", n);
			if (n >= LM_LAYERS_MAX || weights_find(w, name) == NULL)
				break;
			n++;
		}
		c->num_layers = n;
	}
}

static void
model_apply_overrides(struct lm_config *c, const struct lm_config *o)
{
	if (o->vocab_size)
		c->vocab_size = o->vocab_size;
	if (o->context_length)
		c->context_length = o->context_length;
	if (o->d_model)
		c->d_model = o->d_model;
	if (o->num_layers)
		c->num_layers = o->num_layers;
	if (o->num_heads)
		c->num_heads = o->num_heads;
	if (o->d_ff)
		c->d_ff = o->d_ff;
	if (o->rope_theta != 0)
		c->rope_theta = o->rope_theta;
}

/*
 * Open a model: a directory (config.json + model.safetensors) or a
 * checkpoint (.pt or .safetensors) whose shape comes from config_path and
 * the non-zero fields of src->cfg (which override the file); fields still
 * missing are read off the tensor shapes where they can be.  Tensors are
 * checked against the config: missing, unexpected and misshapen ones are
 * errors that name them.  NaN or infinite weights are not errors; see
 * model_warnings().  Caller frees with model_close().  NULL with err on
 * failure.
 */
struct lm_model *
model_open(const struct lm_model_source *src, struct err *err)
{
	struct lm_config cfg = { 0 };
	struct lm_model *m = NULL;
	struct weights *w = NULL;
	struct model_slot *slots = NULL;
	char *cfg_path = NULL, *wpath = NULL;
	const char *path;
	struct stat st;
	size_t n;

	if (src->dir != NULL) {
		cfg_path = xasprintf("%s/config.json", src->dir);
		wpath = xasprintf("%s/model.safetensors", src->dir);
	} else if (src->checkpoint != NULL) {
		wpath = xstrdup(src->checkpoint);
		/* A model directory given as the checkpoint brings its config. */
		if (stat(wpath, &st) == 0 && S_ISDIR(st.st_mode))
			cfg_path = xasprintf("%s/config.json", wpath);
	} else {
		err_set(err, "no model given");
		return NULL;
	}
	if (src->config_path != NULL) {
		free(cfg_path);
		cfg_path = xstrdup(src->config_path);
	}
	path = wpath;
	if (cfg_path != NULL && model_config_load(cfg_path, &cfg, err) == -1)
		goto fail;
	model_apply_overrides(&cfg, &src->cfg);
	if ((w = weights_open(path, err)) == NULL)
		goto fail;
	model_infer_config(w, &cfg);
	if (model_config_check(&cfg, err) == -1) {
		err_prefix(err, "%s", cfg_path != NULL ? cfg_path : path);
		goto fail;
	}
	m = model_alloc(&cfg);
	m->w = w;
	n = model_slots(m, &slots);
	if (model_check_names(w, slots, n, path, err) == -1)
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (model_bind(m, &slots[i], weights_find(w, slots[i].name),
		    path, err) == -1)
			goto fail;
	if (model_rope_init(m, err) == -1)
		goto fail;
	free(slots);
	free(cfg_path);
	free(wpath);
	return m;
fail:
	free(slots);
	if (m != NULL)
		model_close(m);
	else
		weights_close(w);
	free(cfg_path);
	free(wpath);
	return NULL;
}

/* splitmix64: a documented generator, so a seed means the same weights. */
static uint64_t
model_rng(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/*
 * A model with random weights of the given shape: uniform with the CS336
 * initialisation's standard deviation (sqrt(2 / (d_in + d_out)) for linear
 * weights, 1 for embeddings), norm gains 1.  The same config and seed give
 * the same weights.  Caller frees with model_close(); NULL with err if the
 * config is bad or memory runs out.
 */
struct lm_model *
model_new_random(const struct lm_config *cfg, uint64_t seed, struct err *err)
{
	struct lm_model *m;
	struct model_slot *slots;
	size_t n;
	uint64_t s = seed;

	if (model_config_check(cfg, err) == -1)
		return NULL;
	m = model_alloc(cfg);
	n = model_slots(m, &slots);
	for (size_t i = 0; i < n; i++) {
		size_t cnt = (size_t)slots[i].shape[0] *
		    (size_t)(slots[i].n_dims == 2 ? slots[i].shape[1] : 1);
		double sd = slots[i].n_dims == 1 ? 0 : i == 0 ? 1 :
		    sqrt(2.0 / (double)(slots[i].shape[0] + slots[i].shape[1]));
		float *p = model_own(m, cnt, slots[i].name, err), a;

		if (p == NULL) {
			free(slots);
			model_close(m);
			return NULL;
		}
		/* Uniform on [-a, a] has standard deviation a / sqrt(3). */
		a = (float)(sd * sqrt(3.0));
		for (size_t j = 0; j < cnt; j++)
			p[j] = sd == 0 ? 1.0f : a * (float)((double)(model_rng(
			    &s) >> 11) * 0x1.0p-52 - 1.0);
		*slots[i].dst = p;
	}
	free(slots);
	if (model_rope_init(m, err) == -1) {
		model_close(m);
		return NULL;
	}
	return m;
}

/* --- KV cache -------------------------------------------------------------- */

/*
 * A KV cache with n_seq slots of n_ctx positions each (n_ctx 0: the model's
 * context length, which is also the most allowed), and the scratch the
 * forward passes use.  Caller frees with model_cache_free() before the
 * model.  NULL with err when memory runs out.
 */
struct lm_cache *
model_cache_new(const struct lm_model *m, int n_seq, int n_ctx,
    struct err *err)
{
	const struct lm_config *c = &m->cfg;
	struct lm_cache *kc;
	size_t n, d = (size_t)c->d_model, f = (size_t)c->d_ff;

	if (n_ctx <= 0 || n_ctx > c->context_length)
		n_ctx = c->context_length;
	if (n_seq <= 0 || n_seq > 65536) {
		err_set(err, "kv cache: %d sequences: out of range", n_seq);
		return NULL;
	}
	kc = xcalloc(1, sizeof *kc);
	kc->m = m;
	kc->n_seq = n_seq;
	kc->n_ctx = n_ctx;
	kc->pos = xcalloc((size_t)n_seq, sizeof *kc->pos);
	if (util_mul_size((size_t)c->num_layers * (size_t)n_seq, (size_t)n_ctx,
	    &n) == -1 || util_mul_size(n, d, &n) == -1 ||
	    util_mul_size(n, 2 * sizeof(float), &kc->kv_bytes) == -1)
		goto oom;
	if ((kc->k = calloc(n, sizeof(float))) == NULL ||
	    (kc->v = calloc(n, sizeof(float))) == NULL)
		goto oom;
	kc->n_rows = (size_t)(n_ctx < LM_PREFILL_CHUNK ? n_ctx :
	    LM_PREFILL_CHUNK);
	if (kc->n_rows < (size_t)n_seq)
		kc->n_rows = (size_t)n_seq;
	if ((kc->x = calloc(kc->n_rows * d * 6, sizeof(float))) == NULL ||
	    (kc->g = calloc(kc->n_rows * f * 2, sizeof(float))) == NULL)
		goto oom;
	kc->h = kc->x + kc->n_rows * d;
	kc->q = kc->h + kc->n_rows * d;
	kc->att = kc->q + kc->n_rows * d;
	kc->kv1 = kc->att + kc->n_rows * d;
	kc->kv2 = kc->kv1 + kc->n_rows * d;
	kc->u = kc->g + kc->n_rows * f;
	return kc;
oom:
	err_set(err, "kv cache for %d x %d positions: %zu MiB: out of memory",
	    n_seq, n_ctx, kc->kv_bytes >> 20);
	model_cache_free(kc);
	return NULL;
}

/* Free a cache; NULL is fine. */
void
model_cache_free(struct lm_cache *kc)
{
	if (kc == NULL)
		return;
	free(kc->scores);
	free(kc->g);
	free(kc->x);
	free(kc->v);
	free(kc->k);
	free(kc->pos);
	free(kc);
}

/* Empty slot seq (its old keys are simply overwritten later). */
void
model_cache_reset(struct lm_cache *kc, int seq)
{
	if (seq >= 0 && seq < kc->n_seq)
		kc->pos[seq] = 0;
}

/*
 * Forget the positions of slot seq from pos on, so that decoding resumes
 * there (e.g. to re-run the end of a prompt).  pos beyond the filled ones
 * changes nothing.
 */
void
model_cache_truncate(struct lm_cache *kc, int seq, int pos)
{
	if (seq >= 0 && seq < kc->n_seq && pos >= 0 && pos < kc->pos[seq])
		kc->pos[seq] = pos;
}

/* Positions filled in slot seq (0 for a bad slot). */
int
model_cache_pos(const struct lm_cache *kc, int seq)
{
	return seq >= 0 && seq < kc->n_seq ? kc->pos[seq] : 0;
}

/* Positions a slot can hold. */
int
model_cache_ctx(const struct lm_cache *kc)
{
	return kc->n_ctx;
}

/* Bytes of keys and values the cache holds (scratch not counted). */
size_t
model_cache_bytes(const struct lm_cache *kc)
{
	return kc->kv_bytes;
}

static float *
model_cache_k(const struct lm_cache *kc, int l, int s)
{
	return kc->k + (((size_t)l * (size_t)kc->n_seq + (size_t)s) *
	    (size_t)kc->n_ctx) * (size_t)kc->m->cfg.d_model;
}

static float *
model_cache_v(const struct lm_cache *kc, int l, int s)
{
	return kc->v + (((size_t)l * (size_t)kc->n_seq + (size_t)s) *
	    (size_t)kc->n_ctx) * (size_t)kc->m->cfg.d_model;
}

/*
 * Make slot dst hold the first n positions of slot src, as if the same
 * tokens had been run in it: the keys and values are copied, not
 * recomputed, so the two slots are bitwise alike.  Returns -1 (and changes
 * nothing) for a bad slot or n beyond what src holds.
 */
int
model_cache_copy(struct lm_cache *kc, int dst, int src, int n)
{
	size_t	 bytes;

	if (dst < 0 || dst >= kc->n_seq || src < 0 || src >= kc->n_seq ||
	    n < 0 || n > kc->pos[src])
		return -1;
	if (dst == src) {
		kc->pos[dst] = n;
		return 0;
	}
	bytes = (size_t)n * (size_t)kc->m->cfg.d_model * sizeof(float);
	for (int l = 0; l < kc->m->cfg.num_layers; l++) {
		memcpy(model_cache_k(kc, l, dst), model_cache_k(kc, l, src),
		    bytes);
		memcpy(model_cache_v(kc, l, dst), model_cache_v(kc, l, src),
		    bytes);
	}
	kc->pos[dst] = n;
	return 0;
}

/* Room for per-thread attention scores. */
static int
model_cache_scores(struct lm_cache *kc, int nt, struct err *err)
{
	float *p;

	if (kc->n_score_thr >= nt)
		return 0;
	p = realloc(kc->scores, (size_t)nt * LM_ATT_QBLOCK *
	    (size_t)kc->n_ctx * sizeof(float));
	if (p == NULL) {
		err_set(err, "attention scores: out of memory");
		return -1;
	}
	kc->scores = p;
	kc->n_score_thr = nt;
	return 0;
}

/* --- building blocks ------------------------------------------------------- */

static int
model_thread_id(void)
{
#ifdef _OPENMP
	return omp_get_thread_num();
#else
	return 0;
#endif
}

/*
 * out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * g, in fp32, for n rows shared
 * by the threads of the enclosing parallel region (if any).
 */
static void
model_rmsnorm_team(const float *x, const float *g, float *out, size_t n,
    size_t d)
{
	#pragma omp for schedule(static)
	for (size_t r = 0; r < n; r++) {
		const float *xr = x + r * d;
		float *o = out + r * d, ss = 0, k;

		#pragma omp simd reduction(+:ss)
		for (size_t i = 0; i < d; i++)
			ss += xr[i] * xr[i];
		k = 1.0f / sqrtf(ss / (float)d + LM_RMS_EPS);
		for (size_t i = 0; i < d; i++)
			o[i] = xr[i] * k * g[i];
	}
}

/* The same on nt threads of its own. */
static void
model_rmsnorm(int nt, const float *x, const float *g, float *out, size_t n,
    size_t d)
{
	#pragma omp parallel num_threads(nt) if (n * d > 65536)
	model_rmsnorm_team(x, g, out, n, d);
}

/* Rotate every head of row x (d_model wide) for position pos. */
static void
model_rope_row(const struct lm_model *m, float *x, int pos)
{
	size_t half = (size_t)(m->cfg.d_model / m->cfg.num_heads / 2);
	const float *c = m->rope_cos + (size_t)pos * half;
	const float *s = m->rope_sin + (size_t)pos * half;

	for (int h = 0; h < m->cfg.num_heads; h++) {
		float *xh = x + (size_t)h * half * 2;

		for (size_t j = 0; j < half; j++) {
			float a = xh[2 * j], b = xh[2 * j + 1];

			xh[2 * j] = a * c[j] - b * s[j];
			xh[2 * j + 1] = a * s[j] + b * c[j];
		}
	}
}

/* In place: p[0..n) = softmax(p[0..n)). */
static void
model_softmax(float *p, size_t n)
{
	float mx = p[0], sum = 0, k;

	for (size_t i = 1; i < n; i++)
		if (p[i] > mx)
			mx = p[i];
	for (size_t i = 0; i < n; i++) {
		p[i] = expf(p[i] - mx);
		sum += p[i];
	}
	k = 1.0f / sum;
	for (size_t i = 0; i < n; i++)
		p[i] *= k;
}

/* a[i] = SiLU(a[i]) * b[i], shared by the enclosing team. */
static void
model_swiglu_team(float *a, const float *b, size_t n)
{
	#pragma omp for schedule(static)
	for (size_t i = 0; i < n; i++)
		a[i] = a[i] / (1.0f + expf(-a[i])) * b[i];
}

/* The same on nt threads of its own. */
static void
model_swiglu(int nt, float *a, const float *b, size_t n)
{
	#pragma omp parallel num_threads(nt) if (n > 65536)
	model_swiglu_team(a, b, n);
}

/* x[i] += y[i], shared by the enclosing team. */
static void
model_add_team(float *x, const float *y, size_t n)
{
	#pragma omp for schedule(static)
	for (size_t i = 0; i < n; i++)
		x[i] += y[i];
}

static int
model_check_tokens(const struct lm_model *m, const int32_t *t, size_t n,
    struct err *err)
{
	for (size_t i = 0; i < n; i++)
		if (t[i] < 0 || t[i] >= m->cfg.vocab_size) {
			err_set(err, "token id %d: outside the vocabulary "
			    "(0..%d)", (int)t[i], m->cfg.vocab_size - 1);
			return -1;
		}
	return 0;
}

static void
model_embed(const struct lm_model *m, const int32_t *t, size_t n, float *x)
{
	size_t d = (size_t)m->cfg.d_model;

	for (size_t i = 0; i < n; i++)
		memcpy(x + i * d, m->tok_emb + (size_t)t[i] * d,
		    d * sizeof(float));
}

/* --- prefill --------------------------------------------------------------- */

/*
 * Causal attention of n new rows (positions p0..p0+n-1) of slot s over the
 * cache, threaded over (head, block of queries).  q: [n][d_model] (RoPE
 * done); result in kc->att.
 */
static void
model_prefill_attention(const struct lm_model *m, struct lm_cache *kc, int l,
    int s, int p0, size_t n, int nt)
{
	size_t d = (size_t)m->cfg.d_model, H = (size_t)m->cfg.num_heads;
	size_t dk = d / H, n_blk = (n + LM_ATT_QBLOCK - 1) / LM_ATT_QBLOCK;
	const float *K = model_cache_k(kc, l, s), *V = model_cache_v(kc, l, s);
	float scale = 1.0f / sqrtf((float)dk);

	#pragma omp parallel for num_threads(nt) schedule(dynamic) \
	    if (n * (size_t)(p0 + (int)n) * d > 65536)
	for (size_t task = 0; task < H * n_blk; task++) {
		size_t h = task % H, i0 = task / H * LM_ATT_QBLOCK;
		size_t i1 = i0 + LM_ATT_QBLOCK < n ? i0 + LM_ATT_QBLOCK : n;
		size_t nk = (size_t)p0 + i1;
		float *S = kc->scores + (size_t)model_thread_id() *
		    LM_ATT_QBLOCK * (size_t)kc->n_ctx;

		/* S = Q K^T / sqrt(d_k) for the keys any of these rows sees */
		blas_gemm(1, 1, i1 - i0, nk, dk, scale, kc->q + i0 * d + h * dk,
		    d, K + h * dk, d, 0, S, nk);
		for (size_t i = i0; i < i1; i++) {
			float *row = S + (i - i0) * nk;
			size_t seen = (size_t)p0 + i + 1;

			model_softmax(row, seen);
			memset(row + seen, 0, (nk - seen) * sizeof(float));
		}
		/* att = P V */
		blas_gemm(1, 0, i1 - i0, dk, nk, 1, S, nk, V + h * dk, d, 0,
		    kc->att + i0 * d + h * dk, d);
	}
}

/* One prefill pass of n <= kc->n_rows tokens of slot s. */
static void
model_prefill_chunk(const struct lm_model *m, struct lm_cache *kc, int s,
    const int32_t *tokens, size_t n, float *logits, int all_logits)
{
	const struct lm_config *c = &m->cfg;
	size_t d = (size_t)c->d_model, f = (size_t)c->d_ff;
	size_t V = (size_t)c->vocab_size;
	int nt = m->n_threads, p0 = kc->pos[s];

	model_embed(m, tokens, n, kc->x);
	for (int l = 0; l < c->num_layers; l++) {
		const struct lm_layer *L = &m->layers[l];
		float *K = model_cache_k(kc, l, s) + (size_t)p0 * d;
		float *Vc = model_cache_v(kc, l, s) + (size_t)p0 * d;

		/* attention rmsnorm, qkv (k and v straight into the cache) */
		model_rmsnorm(nt, kc->x, L->ln1, kc->h, n, d);
		blas_gemm(nt, 1, n, d, d, 1, kc->h, d, L->wq, d, 0, kc->q, d);
		blas_gemm(nt, 1, n, d, d, 1, kc->h, d, L->wk, d, 0, K, d);
		blas_gemm(nt, 1, n, d, d, 1, kc->h, d, L->wv, d, 0, Vc, d);
		/* RoPE */
		for (size_t i = 0; i < n; i++) {
			model_rope_row(m, kc->q + i * d, p0 + (int)i);
			model_rope_row(m, K + i * d, p0 + (int)i);
		}
		/* attention, output projection added to the residual */
		model_prefill_attention(m, kc, l, s, p0, n, nt);
		blas_gemm(nt, 1, n, d, d, 1, kc->att, d, L->wo, d, 1, kc->x, d);
		/* ffn */
		model_rmsnorm(nt, kc->x, L->ln2, kc->h, n, d);
		blas_gemm(nt, 1, n, f, d, 1, kc->h, d, L->w1, d, 0, kc->g, f);
		blas_gemm(nt, 1, n, f, d, 1, kc->h, d, L->w3, d, 0, kc->u, f);
		model_swiglu(nt, kc->g, kc->u, n * f);
		blas_gemm(nt, 1, n, d, f, 1, kc->g, f, L->w2, f, 1, kc->x, d);
	}
	kc->pos[s] += (int)n;
	if (logits == NULL)
		return;
	/* final norm and lm_head, for every row or only the last */
	if (all_logits) {
		model_rmsnorm(nt, kc->x, m->ln_final, kc->h, n, d);
		blas_gemm(nt, 1, n, V, d, 1, kc->h, d, m->lm_head, d, 0, logits,
		    V);
	} else {
		model_rmsnorm(nt, kc->x + (n - 1) * d, m->ln_final, kc->h, 1,
		    d);
		blas_matvec(nt, m->lm_head, V, d, kc->h, 1, logits);
	}
}

/*
 * Run n tokens of slot seq from its current position in batched passes
 * (BLIS GEMMs), appending their keys and values to the cache.  logits gets
 * [n][vocab] if all_logits, else [vocab] for the last token; it may be NULL.
 * Fails, changing nothing, if a token is outside the vocabulary or the slot
 * would pass n_ctx.
 */
int
model_prefill(struct lm_model *m, struct lm_cache *kc, int seq,
    const int32_t *tokens, size_t n, float *logits, int all_logits,
    struct err *err)
{
	size_t V = (size_t)m->cfg.vocab_size;

	if (seq < 0 || seq >= kc->n_seq) {
		err_set(err, "kv cache: no slot %d", seq);
		return -1;
	}
	if (n > (size_t)(kc->n_ctx - kc->pos[seq])) {
		err_set(err, "%zu tokens after %d do not fit the context of %d",
		    n, kc->pos[seq], kc->n_ctx);
		return -1;
	}
	if (model_check_tokens(m, tokens, n, err) == -1 ||
	    model_cache_scores(kc, m->n_threads, err) == -1)
		return -1;
	for (size_t off = 0; off < n; off += kc->n_rows) {
		size_t k = n - off < kc->n_rows ? n - off : kc->n_rows;
		float *lg = logits == NULL ? NULL : all_logits ?
		    logits + off * V : off + k == n ? logits : NULL;

		model_prefill_chunk(m, kc, seq, tokens + off, k, lg,
		    all_logits);
	}
	return 0;
}

/* --- decode ---------------------------------------------------------------- */

/*
 * Attention of one new row per sequence, (sequence, head) pairs shared by
 * the enclosing team.  Every pair runs the same loop whatever the batch,
 * which keeps decode results independent of batch composition.
 */
static void
model_decode_attention(const struct lm_model *m, struct lm_cache *kc, int l,
    const int *seqs, int n)
{
	size_t d = (size_t)m->cfg.d_model, H = (size_t)m->cfg.num_heads;
	size_t dk = d / H;
	float scale = 1.0f / sqrtf((float)dk);

	#pragma omp for schedule(dynamic)
	for (size_t task = 0; task < (size_t)n * H; task++) {
		size_t b = task / H, h = task % H;
		int s = seqs[b];
		size_t np = (size_t)kc->pos[s] + 1;
		const float *K = model_cache_k(kc, l, s) + h * dk;
		const float *V = model_cache_v(kc, l, s) + h * dk;
		const float *q = kc->q + b * d + h * dk;
		float *o = kc->att + b * d + h * dk;
		float *S = kc->scores + (size_t)model_thread_id() *
		    LM_ATT_QBLOCK * (size_t)kc->n_ctx;

		for (size_t j = 0; j < np; j++)
			S[j] = blas_dot(q, K + j * d, dk) * scale;
		model_softmax(S, np);
		memset(o, 0, dk * sizeof(float));
		for (size_t j = 0; j < np; j++)
			for (size_t i = 0; i < dk; i++)
				o[i] += S[j] * V[j * d + i];
	}
}

static int
model_decode_check(const struct lm_model *m, const struct lm_cache *kc,
    const int *seqs, const int32_t *tokens, int n, struct err *err)
{
	if (n <= 0 || (size_t)n > kc->n_rows) {
		err_set(err, "decode batch of %d: the cache has %d slots", n,
		    kc->n_seq);
		return -1;
	}
	for (int b = 0; b < n; b++) {
		if (seqs[b] < 0 || seqs[b] >= kc->n_seq) {
			err_set(err, "kv cache: no slot %d", seqs[b]);
			return -1;
		}
		if (kc->pos[seqs[b]] >= kc->n_ctx) {
			err_set(err, "slot %d: the context of %d is full",
			    seqs[b], kc->n_ctx);
			return -1;
		}
		for (int c = 0; c < b; c++)
			if (seqs[c] == seqs[b]) {
				err_set(err, "decode batch: slot %d twice",
				    seqs[b]);
				return -1;
			}
	}
	return model_check_tokens(m, tokens, (size_t)n, err);
}

/*
 * The body of model_decode(), run by every thread of one parallel region:
 * each step below is a work-shared loop, so a step costs barriers instead
 * of a thread start-up.
 */
static void
model_decode_team(const struct lm_model *m, struct lm_cache *kc,
    const int *seqs, const int32_t *tokens, int n, float *logits)
{
	const struct lm_config *c = &m->cfg;
	size_t d = (size_t)c->d_model, f = (size_t)c->d_ff, nb = (size_t)n;

	#pragma omp single
	model_embed(m, tokens, nb, kc->x);
	for (int l = 0; l < c->num_layers; l++) {
		const struct lm_layer *L = &m->layers[l];

		/* attention rmsnorm, qkv */
		model_rmsnorm_team(kc->x, L->ln1, kc->h, nb, d);
		blas_matvec_team(L->wq, d, d, kc->h, nb, kc->q, 1);
		blas_matvec_team(L->wk, d, d, kc->h, nb, kc->kv1, 1);
		blas_matvec_team(L->wv, d, d, kc->h, nb, kc->kv2, 0);
		/* RoPE, k and v into the cache */
		#pragma omp for schedule(static)
		for (size_t b = 0; b < nb; b++) {
			int s = seqs[b], p = kc->pos[s];

			model_rope_row(m, kc->q + b * d, p);
			model_rope_row(m, kc->kv1 + b * d, p);
			memcpy(model_cache_k(kc, l, s) + (size_t)p * d,
			    kc->kv1 + b * d, d * sizeof(float));
			memcpy(model_cache_v(kc, l, s) + (size_t)p * d,
			    kc->kv2 + b * d, d * sizeof(float));
		}
		/* attention, output projection, residual */
		model_decode_attention(m, kc, l, seqs, n);
		blas_matvec_team(L->wo, d, d, kc->att, nb, kc->h, 0);
		model_add_team(kc->x, kc->h, nb * d);
		/* ffn */
		model_rmsnorm_team(kc->x, L->ln2, kc->h, nb, d);
		blas_matvec_team(L->w1, f, d, kc->h, nb, kc->g, 1);
		blas_matvec_team(L->w3, f, d, kc->h, nb, kc->u, 0);
		model_swiglu_team(kc->g, kc->u, nb * f);
		blas_matvec_team(L->w2, d, f, kc->g, nb, kc->h, 0);
		model_add_team(kc->x, kc->h, nb * d);
	}
	/* final norm, lm_head */
	model_rmsnorm_team(kc->x, m->ln_final, kc->h, nb, d);
	if (logits != NULL)
		blas_matvec_team(m->lm_head, (size_t)c->vocab_size, d, kc->h,
		    nb, logits, 0);
}

/*
 * One decode step for n sequences: tokens[i] is appended to slot seqs[i]
 * (slots distinct) and logits[i] ([n][vocab]) predicts the token after it.
 * The logits of a slot are bitwise the same whatever else is in the batch
 * and whatever the thread count.  Fails, changing nothing, on a bad slot or
 * token or a full context.
 */
int
model_decode(struct lm_model *m, struct lm_cache *kc, const int *seqs,
    const int32_t *tokens, int n, float *logits, struct err *err)
{
	size_t nb = (size_t)n;
	int nt = m->n_threads;

	if (model_decode_check(m, kc, seqs, tokens, n, err) == -1 ||
	    model_cache_scores(kc, nt, err) == -1)
		return -1;
	blas_mv_name();		/* picks the kernel before the threads start */
	#pragma omp parallel num_threads(nt)
	model_decode_team(m, kc, seqs, tokens, n, logits);
	for (size_t b = 0; b < nb; b++)
		kc->pos[seqs[b]]++;
	return 0;
}

/* --- saving ---------------------------------------------------------------- */

/*
 * Write the model's tensors under their CS336 names as a .safetensors file
 * (atomically), converted to dtype.  Returns 0 or -1 with err.
 */
int
model_save(struct lm_model *m, const char *path, int dtype,
    struct err *err)
{
	struct model_slot *slots;
	struct weights_out *o;
	size_t n = model_slots(m, &slots);
	int rc;

	o = xcalloc(n, sizeof *o);
	for (size_t i = 0; i < n; i++) {
		o[i].name = slots[i].name;
		o[i].n_dims = slots[i].n_dims;
		o[i].shape[0] = slots[i].shape[0];
		o[i].shape[1] = slots[i].shape[1];
		o[i].data = *slots[i].dst;
	}
	rc = weights_write_safetensors(path, o, n, (enum weights_dtype)dtype,
	    err);
	free(o);
	free(slots);
	return rc;
}

/*
 * Write a config as config.json (the CS336 keys), atomically.  Returns 0 or
 * -1 with err.
 */
int
model_config_save(const struct lm_config *c, const char *path,
    struct err *err)
{
	struct buf b;
	int rc;

	buf_init(&b);
	buf_printf(&b, "{\n  \"vocab_size\": %d,\n  \"context_length\": %d,\n"
	    "  \"d_model\": %d,\n  \"num_layers\": %d,\n  \"num_heads\": %d,\n"
	    "  \"d_ff\": %d,\n  \"rope_theta\": %.9g\n}\n", c->vocab_size,
	    c->context_length, c->d_model, c->num_layers, c->num_heads, c->d_ff,
	    (double)(c->rope_theta != 0 ? c->rope_theta : 10000));
	rc = util_write_file_atomic(path, b.data, b.len, err);
	buf_fini(&b);
	return rc;
}
