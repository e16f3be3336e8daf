/*
 * model_load.c: a struct lm_model from its files.  config.json is read and
 * written here only (jansson), and every field bounds-checked.  The CS336
 * variant (2025 default, its ablations, the 2024 layout) comes from the
 * config's switches and, where they are not stated, from which tensors the
 * checkpoint holds.  The checkpoint's tensors are matched to the
 * model's slots by name (a missing, unexpected or wrongly shaped tensor is
 * an error that names it, with expected and actual shapes), and scanned for
 * NaN and infinities.
 *
 * The layout in memory: every linear weight is packed for the kernels
 * (blas_mat_pack) into one anonymous mapping, in the dtype the file
 * stores, so a bf16 model takes half the memory and bandwidth of fp32.
 * Once a matrix is packed its pages in the file mapping are given back
 * (weights_release), so the copy replaces the mapping instead of doubling
 * it.  The token embeddings stay where they lie in the mapping, as stored
 * (a decode step reads a few rows); norm gains are converted to fp32
 * buffers the model owns.  The weights object stays open until
 * model_close().
 * Also a model with random weights (tests, benchmarks) and saving a model
 * as safetensors with its config.json.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "model.h"
#include "model_int.h"
#include "util.h"
#include "weights.h"

#define LM_DIM_MAX		(1 << 20)	/* sanity bound on config ints */
#define LM_LAYERS_MAX		4096

/* --- config ---------------------------------------------------------------- */

/*
 * config.json is read and written here only, through jansson.  The keys are
 * the CS336 ones: the shape, rope_theta, and the four ablation switches of
 * the 2025 handout (remove_rmsnorm, use_post_norm, remove_rope, ffn_type).
 */

/* Keys that only training reads: accepted in silence (listed in lmsh(1)). */
static const char *const model_train_keys[] = {
	"attn_pdrop", "residual_pdrop", "dropout", "batch_size",
	"learning_rate", "lr", "max_learning_rate", "min_learning_rate",
	"lr_max", "lr_min", "weight_decay", "betas", "beta1", "beta2",
	"warmup_iters", "max_iters", "cosine_cycle_iters", "total_iters",
	"grad_clip", "max_grad_norm", "seed", "device", "dtype", "compile",
	"log_interval", "eval_interval", "eval_iters", "checkpoint_interval",
	"train_path", "valid_path", "wandb_project", "wandb_run_name",
};

/* ffn_type values, by enum lm_ffn. */
static const char *const model_ffn_names[] = {
	NULL, "swiglu", "silu", "gelu"
};

static const struct {
	const char	*key;
	size_t		 off;
} model_int_keys[] = {
	{ "vocab_size", offsetof(struct lm_config, vocab_size) },
	{ "context_length", offsetof(struct lm_config, context_length) },
	{ "d_model", offsetof(struct lm_config, d_model) },
	{ "num_layers", offsetof(struct lm_config, num_layers) },
	{ "num_heads", offsetof(struct lm_config, num_heads) },
	{ "d_ff", offsetof(struct lm_config, d_ff) },
}, model_switch_keys[] = {
	{ "remove_rmsnorm", offsetof(struct lm_config, remove_rmsnorm) },
	{ "use_post_norm", offsetof(struct lm_config, use_post_norm) },
	{ "remove_rope", offsetof(struct lm_config, remove_rope) },
};

#define MODEL_N(a)	(sizeof (a) / sizeof (a)[0])
#define MODEL_FIELD(c, off)	((int *)(void *)((char *)(c) + (off)))
#define MODEL_CFIELD(c, off)	(*(const int *)(const void *)	\
				    ((const char *)(c) + (off)))

static int
model_json_int(json_t *v, const char *key, int *out, const char *what,
    struct err *err)
{
	double d;

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
	err_set(err, "%s: %s: not a positive integer", what, key);
	return -1;
}

/* A switch: true or false; null says nothing. */
static int
model_json_switch(json_t *v, const char *key, int *out, const char *what,
    struct err *err)
{
	if (json_is_boolean(v))
		*out = json_is_true(v) ? LM_YES : LM_NO;
	else if (!json_is_null(v)) {
		err_set(err, "%s: %s: not true or false", what, key);
		return -1;
	}
	return 0;
}

/* ffn_type: "swiglu" (or null, the course's default), "silu", "gelu". */
static int
model_json_ffn(json_t *v, int *out, const char *what, struct err *err)
{
	if (json_is_null(v)) {
		*out = LM_FFN_SWIGLU;
		return 0;
	}
	for (int i = LM_FFN_SWIGLU; json_is_string(v) &&
	    i < (int)MODEL_N(model_ffn_names); i++)
		if (strcmp(json_string_value(v), model_ffn_names[i]) == 0) {
			*out = i;
			return 0;
		}
	if (json_is_string(v))
		err_set(err, "%s: ffn_type \"%s\" is not supported (swiglu, "
		    "silu or gelu)", what, json_string_value(v));
	else
		err_set(err, "%s: ffn_type: not a string", what);
	return -1;
}

static int
model_key_in(const char *key, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(key, list[i]) == 0)
			return 1;
	return 0;
}

/* One key of a config object into *cfg; unknown keys go to warn. */
static int
model_config_key(const char *key, json_t *v, const char *what,
    struct lm_config *cfg, struct buf *warn, struct err *err)
{
	for (size_t i = 0; i < MODEL_N(model_int_keys); i++)
		if (strcmp(key, model_int_keys[i].key) == 0)
			return model_json_int(v, key,
			    MODEL_FIELD(cfg, model_int_keys[i].off), what, err);
	for (size_t i = 0; i < MODEL_N(model_switch_keys); i++)
		if (strcmp(key, model_switch_keys[i].key) == 0)
			return model_json_switch(v, key,
			    MODEL_FIELD(cfg, model_switch_keys[i].off), what,
			    err);
	if (strcmp(key, "ffn_type") == 0)
		return model_json_ffn(v, &cfg->ffn_type, what, err);
	if (strcmp(key, "rope_theta") == 0) {
		if (!json_is_number(v) || !(json_number_value(v) > 1)) {
			err_set(err, "%s: rope_theta: not a number above 1",
			    what);
			return -1;
		}
		cfg->rope_theta = (float)json_number_value(v);
		return 0;
	}
	if (!model_key_in(key, model_train_keys, MODEL_N(model_train_keys)) &&
	    warn != NULL)
		buf_printf(warn, "%s%s: unknown key \"%s\" ignored",
		    warn->len ? "; " : "", what, key);
	return 0;
}

static int
model_config_object(json_t *root, const char *what, struct lm_config *cfg,
    struct buf *warn, struct err *err)
{
	const char *key;
	json_t *v;

	if (!json_is_object(root)) {
		err_set(err, "%s: not a json object", what);
		return -1;
	}
	json_object_foreach(root, key, v)
		if (model_config_key(key, v, what, cfg, warn, err) == -1)
			return -1;
	return 0;
}

static void
model_json_error(const char *what, const json_error_t *jerr, struct err *err)
{
	if (jerr->line < 0)
		err_set(err, "%s: %s", what, jerr->text);
	else
		err_set(err, "%s:%d: %s", what, jerr->line, jerr->text);
}

/* Read a parsed config (NULL: jansson's error is in jerr) and free it. */
static int
model_config_take(json_t *root, const json_error_t *jerr, const char *what,
    struct lm_config *cfg, struct buf *warn, struct err *err)
{
	int rc;

	if (root == NULL) {
		model_json_error(what, jerr, err);
		return -1;
	}
	rc = model_config_object(root, what, cfg, warn, err);
	json_decref(root);
	return rc;
}

/*
 * Read the CS336 hyper-parameters from a config.json (or model_config.json)
 * into *cfg.  Keys that are absent leave their field as it was; training
 * keys are skipped; any other key adds "PATH: unknown key "K" ignored" to
 * warn (if not NULL).  A known key with a value lmsh cannot run is an
 * error.  Call model_config_check() once everything is filled.  Returns 0,
 * or -1 with err naming the file and key.
 */
int
model_config_load(const char *path, struct lm_config *cfg, struct buf *warn,
    struct err *err)
{
	json_error_t jerr;

	return model_config_take(json_load_file(path, 0, &jerr), &jerr, path,
	    cfg, warn, err);
}

/*
 * See model.h.  Keys that are not numbers or booleans (a version string,
 * a list of EOS ids) are skipped; the caller decides which keys it knows.
 * Returns 0, fn's nonzero result, or -1 with err set for a file that is
 * not a JSON object.
 */
int
model_generation_config(const char *dir, int (*fn)(void *, const char *,
    double), void *arg, struct err *err)
{
	char		*path = xasprintf("%s/generation_config.json", dir);
	json_error_t	 jerr;
	json_t		*root, *v;
	const char	*key;
	struct stat	 sb;
	int		 rc = 0;

	if (stat(path, &sb) != 0) {
		free(path);
		return 0;
	}
	if ((root = json_load_file(path, 0, &jerr)) == NULL ||
	    !json_is_object(root)) {
		if (root == NULL)
			model_json_error(path, &jerr, err);
		else
			err_set(err, "%s: not a JSON object", path);
		json_decref(root);
		free(path);
		return -1;
	}
	json_object_foreach(root, key, v) {
		if (json_is_number(v))
			rc = fn(arg, key, json_number_value(v));
		else if (json_is_boolean(v))
			rc = fn(arg, key, json_is_true(v) ? 1 : 0);
		if (rc != 0)
			break;
	}
	json_decref(root);
	free(path);
	return rc;
}

/* The same for a config held in a string; what names it in messages. */
int
model_config_parse(const char *json, const char *what, struct lm_config *cfg,
    struct buf *warn, struct err *err)
{
	json_error_t jerr;

	return model_config_take(json_loads(json, 0, &jerr), &jerr, what, cfg,
	    warn, err);
}

/*
 * The config as a JSON object in key order: the shape, then each variant
 * switch that differs from the 2025 default, so a default model's config
 * reads as it always has.
 */
static json_t *
model_config_to_json(const struct lm_config *c)
{
	json_t *o = json_object();
	double th = c->rope_theta != 0 ? c->rope_theta : 10000;

	for (size_t i = 0; i < MODEL_N(model_int_keys); i++)
		json_object_set_new(o, model_int_keys[i].key, json_integer(
		    MODEL_CFIELD(c, model_int_keys[i].off)));
	/* whole numbers as integers: 10000, not 10000.0 */
	json_object_set_new(o, "rope_theta", th == floor(th) && th < 1e15 ?
	    json_integer((json_int_t)th) : json_real(th));
	for (size_t i = 0; i < MODEL_N(model_switch_keys); i++)
		if (MODEL_CFIELD(c, model_switch_keys[i].off) == LM_YES)
			json_object_set_new(o, model_switch_keys[i].key,
			    json_true());
	if (c->ffn_type > LM_FFN_SWIGLU &&
	    c->ffn_type < (int)MODEL_N(model_ffn_names))
		json_object_set_new(o, "ffn_type",
		    json_string(model_ffn_names[c->ffn_type]));
	return o;
}

/*
 * The config as one line of JSON with config.json's keys (the form the
 * history records).  Caller frees with free().
 */
char *
model_config_json(const struct lm_config *c)
{
	json_t *o = model_config_to_json(c);
	char *s = json_dumps(o, JSON_PRESERVE_ORDER | JSON_INDENT(0) |
	    JSON_REAL_PRECISION(9));

	json_decref(o);
	if (s == NULL)
		util_fatal("model config: out of memory");
	return s;
}

/*
 * Check that a config describes a model we can run: every field set and
 * positive, d_model divisible by num_heads into an even head size, the
 * variant switches in range (0, not stated, is fine).  rope_theta 0 becomes
 * the default 10000.  Returns 0 or -1 with err.
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
	for (size_t i = 0; i < MODEL_N(model_switch_keys); i++)
		if ((unsigned)MODEL_CFIELD(cfg, model_switch_keys[i].off) >
		    LM_YES) {
			err_set(err, "model config: %s: bad value",
			    model_switch_keys[i].key);
			return -1;
		}
	if ((unsigned)cfg->ffn_type > LM_FFN_GELU ||
	    (unsigned)cfg->pos_emb > LM_YES) {
		err_set(err, "model config: ffn_type: bad value");
		return -1;
	}
	return 0;
}

/*
 * Settle the switches a config left unstated: what the tensors show (norm
 * weights, w3, position embeddings), else the 2025 default.  w NULL (a
 * random model) shows the 2025 layout.  A stated switch that the tensors
 * contradict is an error naming both.
 */
static int
model_resolve_variant(const struct weights *w, struct lm_config *c,
    const char *cfg_name, const char *path, struct err *err)
{
	int has_ln = w == NULL ? c->remove_rmsnorm != LM_YES :
	    weights_find(w, "layers.0.ln1.weight") != NULL;
	int has_w3 = w == NULL ? c->ffn_type <= LM_FFN_SWIGLU :
	    weights_find(w, "layers.0.ffn.w3.weight") != NULL;

	if (w != NULL)
		c->pos_emb = weights_find(w, "position_embeddings.weight") ?
		    LM_YES : LM_NO;
	else if (c->pos_emb == 0)
		c->pos_emb = LM_NO;
	if (c->remove_rmsnorm == 0)
		c->remove_rmsnorm = has_ln ? LM_NO : LM_YES;
	else if ((c->remove_rmsnorm == LM_YES) == has_ln) {
		err_set(err, "%s says remove_rmsnorm: %s, but %s has %s",
		    cfg_name, has_ln ? "true" : "false", path, has_ln ?
		    "layers.0.ln1.weight" : "no layers.0.ln1.weight");
		return -1;
	}
	if (c->ffn_type == 0)
		c->ffn_type = has_w3 ? LM_FFN_SWIGLU : c->pos_emb == LM_YES ?
		    LM_FFN_GELU : LM_FFN_SILU;
	else if ((c->ffn_type == LM_FFN_SWIGLU) != has_w3) {
		err_set(err, "%s says ffn_type: \"%s\", but %s has %s",
		    cfg_name, model_ffn_names[c->ffn_type], path, has_w3 ?
		    "layers.0.ffn.w3.weight" : "no layers.0.ffn.w3.weight");
		return -1;
	}
	/* learned positions (2024) replace RoPE */
	if (c->remove_rope == 0)
		c->remove_rope = c->pos_emb == LM_YES ? LM_YES : LM_NO;
	if (c->use_post_norm == 0)
		c->use_post_norm = LM_NO;
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
	m->thr_auto = 1;
	m->thr_cur = m->n_threads;
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

	if (m->cfg.remove_rope == LM_YES)
		return 0;
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
	if (m->pack != NULL)
		munmap(m->pack, m->pack_len);
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
 * depend on it.  Without this call the model starts with all cores and
 * uses fewer while that is faster (another program busy on a core).
 */
void
model_set_threads(struct lm_model *m, int n)
{
	m->n_threads = n < 1 ? 1 : n;
	m->thr_auto = 0;
	m->thr_cur = m->n_threads;
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
	const struct lm_config *c = &m->cfg;
	size_t d = (size_t)c->d_model, f = (size_t)c->d_ff;
	size_t es = m->dtype == BLAS_F32 ? 4 : 2;
	size_t n_ffn = c->ffn_type == LM_FFN_SWIGLU ? 3 : 2;
	size_t n_norm = c->remove_rmsnorm == LM_YES ? 0 : 2;
	size_t per_layer = (4 * d * d + n_ffn * d * f) * es + n_norm * d * 4;

	return (size_t)c->num_layers * per_layer +
	    (m->ln_final != NULL ? d * 4 : 0) + (size_t)c->vocab_size * d * es;
}

/*
 * The kernels and weight dtype this model runs, e.g. "mv avx512 bf16, blis
 * skx", for the history (a turn replayed under other kernels may round
 * differently).  Static string, valid until the next call.
 */
const char *
model_engine_desc(const struct lm_model *m)
{
	return blas_kernel_desc(m->dtype);
}

/* The packed weights' dtype as the checkpoint stores it (static). */
const char *
model_dtype_name(const struct lm_model *m)
{
	return m->dtype == BLAS_BF16 ? "bf16" : m->dtype == BLAS_F16 ?
	    "f16" : "f32";
}

/* --- tensors --------------------------------------------------------------- */

/* Fill the pointer table from a name lookup: one entry per CS336 tensor,
 * bound in one of three ways. */
struct model_slot {
	char		 name[64];	/* CS336 tensor name */
	const float	**dst;		/* fp32 copy or borrow, or NULL */
	struct blas_mat	*mat;		/* packed matrix, or NULL */
	const void	**emb;		/* embeddings, as stored, or NULL */
	enum blas_dtype	*emb_dtype;	/* their dtype */
	int		 n_dims;	/* 1 or 2 */
	int64_t		 shape[2];	/* expected */
};

/*
 * The tensors of the model's variant: position embeddings only in the 2024
 * layout, norm weights only with RMSNorm (ln_final when with_final), w3
 * only in SwiGLU.
 */
static size_t
model_slots(struct lm_model *m, int with_final, struct model_slot **out)
{
	const struct lm_config *c = &m->cfg;
	size_t n = (size_t)c->num_layers * 9 + 4, i = 0;
	struct model_slot *s = xcalloc(n, sizeof *s);
	int64_t d = c->d_model, f = c->d_ff, v = c->vocab_size;
	int norms = c->remove_rmsnorm != LM_YES;

#define MODEL_SLOT(dst_, nd_, a_, b_, ...) do {				\
	snprintf(s[i].name, sizeof s[i].name, __VA_ARGS__);		\
	s[i].dst = (dst_);						\
	s[i].n_dims = (nd_);						\
	s[i].shape[0] = (a_);						\
	s[i].shape[1] = (b_);						\
	i++;								\
} while (0)
#define MODEL_MAT(mat_, a_, b_, ...) do {				\
	s[i].mat = (mat_);						\
	MODEL_SLOT(NULL, 2, a_, b_, __VA_ARGS__);			\
} while (0)
#define MODEL_EMB(emb_, dt_, a_, b_, ...) do {				\
	s[i].emb = (emb_);						\
	s[i].emb_dtype = (dt_);						\
	MODEL_SLOT(NULL, 2, a_, b_, __VA_ARGS__);			\
} while (0)
	MODEL_EMB(&m->tok_emb, &m->emb_dtype, v, d,
	    "token_embeddings.weight");
	if (c->pos_emb == LM_YES)
		MODEL_EMB(&m->pos_emb, &m->pos_dtype,
		    (int64_t)c->context_length, d,
		    "position_embeddings.weight");
	for (int l = 0; l < c->num_layers; l++) {
		struct lm_layer *L = &m->layers[l];

		MODEL_MAT(&L->wq, d, d, "layers.%d.attn.q_proj.weight", l);
		MODEL_MAT(&L->wk, d, d, "layers.%d.attn.k_proj.weight", l);
		MODEL_MAT(&L->wv, d, d, "layers.%d.attn.v_proj.weight", l);
		MODEL_MAT(&L->wo, d, d, "layers.%d.attn.output_proj.weight",
		    l);
		if (norms) {
			MODEL_SLOT(&L->ln1, 1, d, 0, "layers.%d.ln1.weight", l);
			MODEL_SLOT(&L->ln2, 1, d, 0, "layers.%d.ln2.weight", l);
		}
		MODEL_MAT(&L->w1, f, d, "layers.%d.ffn.w1.weight", l);
		MODEL_MAT(&L->w2, d, f, "layers.%d.ffn.w2.weight", l);
		if (c->ffn_type == LM_FFN_SWIGLU)
			MODEL_MAT(&L->w3, f, d, "layers.%d.ffn.w3.weight", l);
	}
	if (with_final)
		MODEL_SLOT(&m->ln_final, 1, d, 0, "ln_final.weight");
	MODEL_MAT(&m->lm_head, v, d, "lm_head.weight");
#undef MODEL_EMB
#undef MODEL_MAT
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

/* Count NaN and infinite values as stored, for the warning: those whose
 * exponent bits are all ones (a vector loop). */
static size_t
model_count_nonfinite(enum weights_dtype t, const void *p, size_t n)
{
	size_t bad = 0;

	if (t == WEIGHTS_F32) {
		const uint32_t *u = p;

		#pragma omp simd reduction(+:bad)
		for (size_t i = 0; i < n; i++)
			bad += (u[i] & 0x7f800000u) == 0x7f800000u;
	} else {
		const uint16_t *h = p;
		uint16_t e = t == WEIGHTS_BF16 ? 0x7f80 : 0x7c00;

		#pragma omp simd reduction(+:bad)
		for (size_t i = 0; i < n; i++)
			bad += (h[i] & e) == e;
	}
	return bad;
}

static enum blas_dtype
model_blas_dtype(enum weights_dtype t)
{
	return t == WEIGHTS_BF16 ? BLAS_BF16 : t == WEIGHTS_F16 ? BLAS_F16 :
	    BLAS_F32;
}

/*
 * One mapping for every packed matrix (bytes in all), asking for huge
 * pages: 440 MB of 4 KiB pages cost 110,000 faults at load.
 */
static int
model_pack_alloc(struct lm_model *m, size_t bytes, struct err *err)
{
	void *p;

	if (bytes == 0)
		return 0;
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		err_set(err, "packed weights: %zu MiB: %s", bytes >> 20,
		    errno == ENOMEM ? "out of memory" : strerror(errno));
		return -1;
	}
#ifdef MADV_HUGEPAGE
	madvise(p, bytes, MADV_HUGEPAGE);
#endif
	m->pack = p;
	m->pack_len = bytes;
	return 0;
}

/* The next part of m->pack, for an [n_out][n_in] matrix of dtype t. */
static void
model_pack_next(struct lm_model *m, struct blas_mat *mat, size_t n_out,
    size_t n_in, enum blas_dtype t)
{
	size_t bytes = blas_mat_bytes(n_out, n_in, t);

	assert(m->pack_used + bytes <= m->pack_len);
	if (m->pack_used == 0)
		m->dtype = t;	/* what model_engine_desc() reports */
	blas_mat_init(mat, (char *)m->pack + m->pack_used, n_out, n_in, t);
	m->pack_used += bytes;
}

#define MODEL_PACK_SLICE	(1u << 20)	/* source bytes per step */

/*
 * Pack tensor t into mat, counting its non-finite values, a slice at a
 * time: each slice's pages in the file go back as soon as it is packed, so
 * resident memory grows by about one slice, not one tensor.
 */
static size_t
model_pack_tensor(struct lm_model *m, struct blas_mat *mat,
    const struct weights_tensor *t)
{
	size_t n_out = (size_t)t->shape[0], n_in = (size_t)t->shape[1];
	size_t es = t->dtype == WEIGHTS_F32 ? 4 : 2, bad = 0;
	size_t rows = MODEL_PACK_SLICE / (n_in * es) + 1;

	model_pack_next(m, mat, n_out, n_in, model_blas_dtype(t->dtype));
	/* page faults and zeroing huge pages dominate: share them out */
	#pragma omp parallel for num_threads(m->n_threads) schedule(static) \
	    reduction(+:bad) if (n_out * n_in * es > 4 * MODEL_PACK_SLICE)
	for (size_t r0 = 0; r0 < n_out; r0 += rows) {
		size_t r1 = r0 + rows < n_out ? r0 + rows : n_out;
		struct weights_tensor part = *t;

		part.data = (const char *)t->data + r0 * n_in * es;
		part.n_elems = (r1 - r0) * n_in;
		blas_mat_pack_rows(mat, part.data, r0, r1);
		bad += model_count_nonfinite(t->dtype, part.data,
		    part.n_elems);
		weights_release(m->w, &part);
	}
	return bad;
}

/* Bytes the packed matrices of slots s[0..n) take, in the dtypes of w's
 * tensors (fp32 without w); 0 with err on overflow. */
static size_t
model_pack_bytes(const struct model_slot *s, size_t n, const struct weights *w,
    struct err *err)
{
	size_t sum = 0, b;

	for (size_t i = 0; i < n; i++) {
		const struct weights_tensor *t;
		enum blas_dtype dt = BLAS_F32;

		if (s[i].mat == NULL)
			continue;
		if (w != NULL && (t = weights_find(w, s[i].name)) != NULL)
			dt = model_blas_dtype(t->dtype);
		b = blas_mat_bytes((size_t)s[i].shape[0], (size_t)s[i].shape[1],
		    dt);
		if (b == 0 || sum + b < sum) {
			err_set(err, "%s: too large", s[i].name);
			return 0;
		}
		sum += b;
	}
	return sum;
}

/* Point one slot at its data: packed, borrowed or converted. */
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
	if (s->mat != NULL)
		bad = model_pack_tensor(m, s->mat, t);
	else
		bad = model_count_nonfinite(t->dtype, t->data, t->n_elems);
	if (bad > 0)
		buf_printf(&m->warnings, "%s%s: %s has %zu nan or infinite "
		    "values", m->warnings.len ? "; " : "", path, s->name, bad);
	if (s->mat != NULL)
		return 0;
	/* a decode step reads a few rows: let the rest go for now */
	if (s->emb != NULL)
		weights_release(m->w, t);
	if (s->emb != NULL && ((uintptr_t)t->data %
	    (t->dtype == WEIGHTS_F32 ? 4 : 2)) == 0) {
		*s->emb = t->data;
		*s->emb_dtype = model_blas_dtype(t->dtype);
		return 0;
	}
	if (t->dtype == WEIGHTS_F32 &&
	    ((uintptr_t)t->data % sizeof(float)) == 0) {
		*s->dst = t->data;
		return 0;
	}
	if ((p = model_own(m, t->n_elems, s->name, err)) == NULL)
		return -1;
	weights_to_f32(t->dtype, t->data, p, t->n_elems);
	if (s->emb != NULL) {
		*s->emb = p;
		*s->emb_dtype = BLAS_F32;
	} else
		*s->dst = p;
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
	/* learned positions fix the context */
	if (c->context_length == 0 && (t = weights_find(w,
	    "position_embeddings.weight")) != NULL && t->n_dims == 2 &&
	    t->shape[0] <= LM_DIM_MAX)
		c->context_length = (int)t->shape[0];
	if (c->d_ff == 0 && (t = weights_find(w, "layers.0.ffn.w1.weight")) !=
	    NULL && t->n_dims == 2 && t->shape[0] <= LM_DIM_MAX)
		c->d_ff = (int)t->shape[0];
	if (c->num_layers == 0) {
		for (;;) {
			snprintf(name, sizeof name,
			    "layers.%d.attn.q_proj.weight", n);
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
	for (size_t i = 0; i < MODEL_N(model_int_keys); i++)
		if (MODEL_CFIELD(o, model_int_keys[i].off) != 0)
			*MODEL_FIELD(c, model_int_keys[i].off) =
			    MODEL_CFIELD(o, model_int_keys[i].off);
	if (o->rope_theta != 0)
		c->rope_theta = o->rope_theta;
	for (size_t i = 0; i < MODEL_N(model_switch_keys); i++)
		if (MODEL_CFIELD(o, model_switch_keys[i].off) != 0)
			*MODEL_FIELD(c, model_switch_keys[i].off) =
			    MODEL_CFIELD(o, model_switch_keys[i].off);
	if (o->ffn_type != 0)
		c->ffn_type = o->ffn_type;
}

/*
 * The shape fields still unknown after the config and the tensors, as one
 * error that names them and the ways to give them.
 */
static int
model_check_known(const struct lm_config *c, const char *path,
    struct err *err)
{
	struct buf names, flags;
	int n = 0;

	buf_init(&names);
	buf_init(&flags);
	for (size_t i = 0; i < MODEL_N(model_int_keys); i++)
		if (MODEL_CFIELD(c, model_int_keys[i].off) == 0) {
			buf_printf(&names, "%s%s", n ? ", " : "",
			    model_int_keys[i].key);
			buf_printf(&flags, "%s--%s N", n ? " " : "",
			    model_int_keys[i].key);
			n++;
		}
	if (n > 0)
		err_set(err, "%s: %s unknown: no model config gives %s and the "
		    "tensors do not show %s; give %s, or --config FILE", path,
		    names.data, n > 1 ? "them" : "it", n > 1 ? "them" : "it",
		    flags.data);
	buf_fini(&names);
	buf_fini(&flags);
	return n > 0 ? -1 : 0;
}

/* Match the checkpoint's tensors to the model's slots and bind them. */
static int
model_bind_all(struct lm_model *m, const struct weights *w, const char *path,
    struct err *err)
{
	struct model_slot *slots;
	size_t n = model_slots(m, m->cfg.remove_rmsnorm != LM_YES ||
	    weights_find(w, "ln_final.weight") != NULL, &slots);
	size_t pack_bytes;
	int rc = model_check_names(w, slots, n, path, err);

	if (rc == 0 && ((pack_bytes = model_pack_bytes(slots, n, w, err)) ==
	    0 || model_pack_alloc(m, pack_bytes, err) == -1))
		rc = -1;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = model_bind(m, &slots[i], weights_find(w, slots[i].name),
		    path, err);
	free(slots);
	return rc;
}

/*
 * Open a model: a directory (config.json + model.safetensors) or a
 * checkpoint (.pt or .safetensors) whose shape comes from config_path,
 * config_json and the non-zero fields of src->cfg (each overriding the one
 * before); fields still
 * missing are read off the tensor shapes where they can be, and so are the
 * variant switches no config states (missing norm weights, no w3, learned
 * position embeddings).  Tensors are checked against the config: missing,
 * unexpected and misshapen ones are errors that name them, and so is a
 * switch the tensors contradict.  NaN or infinite weights and unknown
 * config keys are not errors; see model_warnings().  Caller frees with
 * model_close().  NULL with err on failure.
 */
struct lm_model *
model_open(const struct lm_model_source *src, struct err *err)
{
	struct lm_config cfg = { 0 };
	struct lm_model *m = NULL;
	struct weights *w = NULL;
	char *cfg_path = NULL, *wpath = NULL;
	struct stat st;
	struct buf warn;

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
	buf_init(&warn);
	if ((cfg_path != NULL && model_config_load(cfg_path, &cfg, &warn,
	    err) == -1) || (src->config_json != NULL && model_config_parse(
	    src->config_json, "recorded config", &cfg, &warn, err) == -1))
		goto fail;
	model_apply_overrides(&cfg, &src->cfg);
	if ((w = weights_open(wpath, err)) == NULL)
		goto fail;
	model_infer_config(w, &cfg);
	if (model_check_known(&cfg, wpath, err) == -1 ||
	    model_resolve_variant(w, &cfg, src->config_json != NULL ?
	    "the recorded config" : cfg_path != NULL ? cfg_path :
	    "the model config", wpath, err) == -1)
		goto fail;
	if (model_config_check(&cfg, err) == -1) {
		err_prefix(err, "%s", cfg_path != NULL ? cfg_path : wpath);
		goto fail;
	}
	m = model_alloc(&cfg);
	m->w = w;
	if (warn.len > 0)
		buf_puts(&m->warnings, warn.data);
	if (model_bind_all(m, w, wpath, err) == -1 ||
	    model_rope_init(m, err) == -1)
		goto fail;
	buf_fini(&warn);
	free(cfg_path);
	free(wpath);
	return m;
fail:
	if (m != NULL)
		model_close(m);
	else
		weights_close(w);
	buf_fini(&warn);
	free(cfg_path);
	free(wpath);
	return NULL;
}

/*
 * A model with random weights of the given shape and variant (switches not
 * stated take the 2025 default; pos_emb LM_YES adds learned positions):
 * uniform with the CS336 initialisation's standard deviation (sqrt(2 /
 * (d_in + d_out)) for linear weights, 1 for embeddings), norm gains 1.
 * The same config and seed give the same weights.  Caller frees with
 * model_close(); NULL with err if the config is bad or memory runs out.
 */
struct lm_model *
model_new_random(const struct lm_config *cfg, uint64_t seed, struct err *err)
{
	struct lm_model *m;
	struct model_slot *slots;
	struct lm_config c = *cfg;
	size_t n, pack_bytes;
	uint64_t s = seed;

	if (model_config_check(&c, err) == -1 ||
	    model_resolve_variant(NULL, &c, "the model config", "random "
	    "weights", err) == -1)
		return NULL;
	m = model_alloc(&c);
	n = model_slots(m, c.remove_rmsnorm != LM_YES, &slots);
	if ((pack_bytes = model_pack_bytes(slots, n, NULL, err)) == 0 ||
	    model_pack_alloc(m, pack_bytes, err) == -1) {
		free(slots);
		model_close(m);
		return NULL;
	}
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
			p[j] = sd == 0 ? 1.0f : a * (float)((double)
			    (util_splitmix64(&s) >> 11) * 0x1.0p-52 - 1.0);
		if (slots[i].mat != NULL) {
			/* packed, and the row-major draft goes */
			model_pack_next(m, slots[i].mat,
			    (size_t)slots[i].shape[0],
			    (size_t)slots[i].shape[1], BLAS_F32);
			blas_mat_pack_rows(slots[i].mat, p, 0,
			    (size_t)slots[i].shape[0]);
			free(m->owned[--m->n_owned]);
		} else if (slots[i].emb != NULL) {
			*slots[i].emb = p;
			*slots[i].emb_dtype = BLAS_F32;
		} else
			*slots[i].dst = p;
	}
	free(slots);
	if (model_rope_init(m, err) == -1) {
		model_close(m);
		return NULL;
	}
	return m;
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
	size_t n = model_slots(m, m->ln_final != NULL, &slots);
	float **tmp = xcalloc(n, sizeof *tmp);
	int rc = -1;

	o = xcalloc(n, sizeof *o);
	for (size_t i = 0; i < n; i++) {
		size_t cnt = (size_t)slots[i].shape[0] *
		    (size_t)slots[i].shape[1];

		o[i].name = slots[i].name;
		o[i].n_dims = slots[i].n_dims;
		o[i].shape[0] = slots[i].shape[0];
		o[i].shape[1] = slots[i].shape[1];
		if (slots[i].dst != NULL) {
			o[i].data = *slots[i].dst;
			continue;
		}
		/* packed or 2-byte tensors, back to row-major fp32 */
		if ((tmp[i] = calloc(cnt, sizeof(float))) == NULL) {
			err_set(err, "%s: %s: out of memory", path,
			    slots[i].name);
			goto out;
		}
		if (slots[i].mat != NULL)
			blas_mat_unpack(slots[i].mat, 0, slots[i].mat->n_out,
			    tmp[i]);
		else if (*slots[i].emb_dtype == BLAS_F32)
			memcpy(tmp[i], *slots[i].emb, cnt * sizeof(float));
		else
			weights_to_f32(*slots[i].emb_dtype == BLAS_BF16 ?
			    WEIGHTS_BF16 : WEIGHTS_F16, *slots[i].emb, tmp[i],
			    cnt);
		o[i].data = tmp[i];
	}
	rc = weights_write_safetensors(path, o, n, (enum weights_dtype)dtype,
	    err);
out:
	for (size_t i = 0; i < n; i++)
		free(tmp[i]);
	free(tmp);
	free(o);
	free(slots);
	return rc;
}

/*
 * Write a config as config.json (the CS336 keys, the variant's switches
 * among them), atomically.  Returns 0 or -1 with err.
 */
int
model_config_save(const struct lm_config *c, const char *path,
    struct err *err)
{
	json_t *o = model_config_to_json(c);
	char *s = json_dumps(o, JSON_PRESERVE_ORDER | JSON_INDENT(2) |
	    JSON_REAL_PRECISION(9));
	char *text;
	int rc;

	json_decref(o);
	if (s == NULL)
		util_fatal("model config: out of memory");
	text = xasprintf("%s\n", s);
	rc = util_write_file_atomic(path, text, strlen(text), err);
	free(text);
	free(s);
	return rc;
}
