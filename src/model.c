/*
 * model.c: the CS336 TransformerLM, run in fp32.
 *
 * x = token_embeddings[t]; for each layer: x += attn(RMSNorm(x, ln1)),
 * x += W2(SiLU(W1 h) * W3 h) with h = RMSNorm(x, ln2); logits =
 * lm_head(RMSNorm(x, ln_final)).  Attention is causal with RoPE on q and k,
 * rotating interleaved pairs (x[2j], x[2j+1]) by pos * theta^(-2j/d_k).
 * Every linear weight is stored (d_out, d_in), as PyTorch keeps it.
 *
 * The CS336 variants change single steps (struct lm_config says which):
 *   remove_rmsnorm  a norm whose weight is absent (NULL) is the identity;
 *   use_post_norm   z = RMSNorm1(x + attn(x)), y = RMSNorm2(z + ffn(z));
 *   remove_rope     no rotation: attention sees no positions (NoPE);
 *   ffn_type        silu: W2 SiLU(W1 h); gelu: W2 GELU(W1 h), exact erf;
 *   pos_emb (2024)  x = token_embeddings[t] + position_embeddings[pos].
 * All of them run through the same kernels as the default.
 *
 * Loading, the config and saving are in model_load.c.
 *
 * KV cache layout (struct lm_cache): k and v are each
 *   [n_layers][n_seq][n_ctx][d_model]
 * so the keys of one layer and slot are a row-major [n_ctx][d_model] matrix
 * whose head h occupies columns h*d_k .. h*d_k+d_k-1.  A prefill writes its
 * rows with one GEMM straight into the cache; RoPE is applied to keys before
 * they are stored.  pos[s] counts the positions of slot s already filled.
 *
 * Two paths: model_prefill() runs up to LM_PREFILL_CHUNK tokens of one slot
 * at a time, with BLIS GEMMs (or the matrix-vector kernels for a few
 * tokens, where widening the packed weights for BLIS would cost more than
 * the product) and attention threaded over heads; model_decode() runs one
 * token for each of n slots with blas_matvec(), whose results do not
 * depend on n, the slot's place in the batch or the thread count (see
 * blas.h), so a sequence decodes to the same bits alone or in any batch.
 * Its steps run in one parallel region, q/k/v in one pass and w1/w3 in
 * another.  Both share the scratch buffers that the cache owns.
 */
#include "config.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "lm_exp.h"
#include "model.h"
#include "model_int.h"
#include "util.h"

#define LM_RMS_EPS		1e-5f
#define LM_PREFILL_CHUNK	256	/* tokens per prefill pass */
#define LM_ATT_QBLOCK		64	/* query rows per attention task */
#define LM_MATVEC_ROWS		32	/* prefill rows run as decode runs */

struct lm_cache {
	const struct lm_model *m;	/* borrowed */
	int		 n_seq;		/* slots */
	int		 n_ctx;		/* positions per slot */
	int		*pos;		/* [n_seq] filled positions */
	int		*rseq;		/* [n_rows] slot of each row */
	int		*rpos;		/* [n_rows] position of each row */
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
	float		*scores;	/* [n_thr_bufs][LM_ATT_QBLOCK][n_ctx] */
	float		*own;		/* [n_thr_bufs][2][n_rows][d_model]: each
					   decode thread's residual and norm */
	int		 n_thr_bufs;	/* threads scores and own have room for */
};

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
	kc->rseq = xcalloc(kc->n_rows, sizeof *kc->rseq);
	kc->rpos = xcalloc(kc->n_rows, sizeof *kc->rpos);
	if ((kc->x = calloc(kc->n_rows * d * 6, sizeof(float))) == NULL ||
	    (kc->g = calloc(kc->n_rows * f * 2, sizeof(float))) == NULL)
		goto oom;
	kc->h = kc->x + kc->n_rows * d;
	kc->q = kc->h + kc->n_rows * d;
	kc->att = kc->q + kc->n_rows * d;
	kc->kv1 = kc->att + kc->n_rows * d;
	kc->kv2 = kc->kv1 + kc->n_rows * d;
	kc->u = kc->g + kc->n_rows * f;
	if (kc->n_rows > LM_MATVEC_ROWS &&
	    blas_gemm_reserve(m->n_threads, err) == -1) {
		model_cache_free(kc);
		return NULL;
	}
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
	free(kc->own);
	free(kc->g);
	free(kc->x);
	free(kc->v);
	free(kc->k);
	free(kc->rpos);
	free(kc->rseq);
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

/* Room for nt threads' attention scores and decode rows. */
static int
model_cache_threads(struct lm_cache *kc, int nt, struct err *err)
{
	float *p;

	if (kc->n_thr_bufs >= nt)
		return 0;
	p = realloc(kc->scores, (size_t)nt * LM_ATT_QBLOCK *
	    (size_t)kc->n_ctx * sizeof(float));
	if (p == NULL) {
		err_set(err, "attention scores: out of memory");
		return -1;
	}
	kc->scores = p;
	p = realloc(kc->own, (size_t)nt * 2 * kc->n_rows *
	    (size_t)kc->m->cfg.d_model * sizeof(float));
	if (p == NULL) {
		err_set(err, "decode rows: out of memory");
		return -1;
	}
	kc->own = p;
	kc->n_thr_bufs = nt;
	return 0;
}

/* --- building blocks ------------------------------------------------------- */

/* One row: o = RMSNorm(x) * g (o may be x). */
static inline void
model_rmsnorm_row(const float *x, const float *g, float *o, size_t d)
{
	float ss = 0, k;

	#pragma omp simd reduction(+:ss)
	for (size_t i = 0; i < d; i++)
		ss += x[i] * x[i];
	k = 1.0f / sqrtf(ss / (float)d + LM_RMS_EPS);
	for (size_t i = 0; i < d; i++)
		o[i] = x[i] * k * g[i];
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
	for (size_t r = 0; r < n; r++)
		model_rmsnorm_row(x + r * d, g, out + r * d, d);
}

/* The same on nt threads of its own. */
static void
model_rmsnorm(int nt, const float *x, const float *g, float *out, size_t n,
    size_t d)
{
	#pragma omp parallel num_threads(nt) if (n * d > 65536)
	model_rmsnorm_team(x, g, out, n, d);
}

/*
 * The input of a sub-layer: RMSNorm(x, g) in out, or x itself where the
 * step has no norm (g NULL: no RMSNorm in the variant, or post-norm).
 */
static const float *
model_norm(int nt, const float *x, const float *g, float *out, size_t n,
    size_t d)
{
	if (g == NULL)
		return x;
	model_rmsnorm(nt, x, g, out, n, d);
	return out;
}

/*
 * x[r] += y[r] (y may be NULL), then out[r] = RMSNorm(x[r]) * g (g NULL: no
 * norm, x returned), by one thread alone on its own copy of the rows:
 * every thread of a decode step keeps the residual stream itself (the same
 * numbers in each copy), so that the norms between the matrix passes cost
 * no barrier (two of seven a layer).  out may be x.
 */
static float *
model_add_norm_own(float *x, const float *y, const float *g, float *out,
    size_t n, size_t d)
{
	for (size_t r = 0; r < n; r++) {
		float *xr = x + r * d;

		if (y != NULL)
			for (size_t i = 0; i < d; i++)
				xr[i] += y[r * d + i];
		if (g != NULL)
			model_rmsnorm_row(xr, g, out + r * d, d);
	}
	return g != NULL ? out : x;
}

/* Rotate one head xh (d_k wide) for position pos. */
static void
model_rope_head(const struct lm_model *m, float *xh, int pos)
{
	size_t half = (size_t)(m->cfg.d_model / m->cfg.num_heads / 2);
	const float *c = m->rope_cos + (size_t)pos * half;
	const float *s = m->rope_sin + (size_t)pos * half;

	for (size_t j = 0; j < half; j++) {
		float a = xh[2 * j], b = xh[2 * j + 1];

		xh[2 * j] = a * c[j] - b * s[j];
		xh[2 * j + 1] = a * s[j] + b * c[j];
	}
}

/* Rotate every head of row x (d_model wide) for position pos. */
static void
model_rope_row(const struct lm_model *m, float *x, int pos)
{
	size_t dk = (size_t)(m->cfg.d_model / m->cfg.num_heads);

	for (int h = 0; h < m->cfg.num_heads; h++)
		model_rope_head(m, x + (size_t)h * dk, pos);
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

/* exp(x), 0 below e^-87, inf above e^88: lm_exp.h, whose loops
 * vectorise (libm's expf kept SiLU scalar, a tenth of a 256-token
 * prefill). */
static inline float
model_exp(float x)
{
	return lm_exp_core(x < LM_EXP_MIN ? LM_EXP_MIN : x > LM_EXP_MAX ?
	    LM_EXP_MAX : x);
}

/*
 * The feed-forward activation in place for n values of a (b: the w3
 * product, SwiGLU only): SiLU(a) * b (SwiGLU), SiLU(a), or GELU(a) =
 * a/2 (1 + erf(a/sqrt 2)).  Each value is computed alone, so the result
 * does not depend on where a run of values starts.
 */
UTIL_SIMD_CLONES
static void
model_ffn_act_run(int ffn_type, float *a, const float *b, size_t n)
{
	switch (ffn_type) {
	case LM_FFN_SILU:
		#pragma omp simd
		for (size_t i = 0; i < n; i++)
			a[i] = a[i] / (1.0f + model_exp(-a[i]));
		break;
	case LM_FFN_GELU:
		for (size_t i = 0; i < n; i++)
			a[i] = 0.5f * a[i] * (1.0f + erff(a[i] *
			    0.70710678118654752f));
		break;
	default:
		#pragma omp simd
		for (size_t i = 0; i < n; i++)
			a[i] = a[i] / (1.0f + model_exp(-a[i])) * b[i];
		break;
	}
}

#define LM_ACT_RUN	1024	/* values per work item */

/* The same shared by the enclosing team. */
static void
model_ffn_act_team(int ffn_type, float *a, const float *b, size_t n)
{
	#pragma omp for schedule(static)
	for (size_t i = 0; i < n; i += LM_ACT_RUN)
		model_ffn_act_run(ffn_type, a + i, b == NULL ? NULL : b + i,
		    n - i < LM_ACT_RUN ? n - i : LM_ACT_RUN);
}

/* The same on nt threads of its own. */
static void
model_ffn_act(int nt, int ffn_type, float *a, const float *b, size_t n)
{
	#pragma omp parallel num_threads(nt) if (n > 65536)
	model_ffn_act_team(ffn_type, a, b, n);
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

/* x[0..d) += row r of the [][d] matrix e of dtype t, widened. */
static void
model_add_row(enum blas_dtype t, const void *e, size_t r, size_t d, float *x)
{
	size_t es = t == BLAS_F32 ? 4 : 2;
	float tmp[64];

	for (size_t j = 0; j < d; j += 64) {
		size_t k = d - j < 64 ? d - j : 64;

		blas_widen_row(t, (const char *)e + (r * d + j) * es, tmp, k);
		for (size_t i = 0; i < k; i++)
			x[j + i] += tmp[i];
	}
}

/* x[i] = token_embeddings[t[i]] (+ position_embeddings[p0 + i]). */
static void
model_embed(const struct lm_model *m, const int32_t *t, size_t n, int p0,
    float *x)
{
	size_t d = (size_t)m->cfg.d_model;
	size_t row = d * (m->emb_dtype == BLAS_F32 ? 4 : 2);

	for (size_t i = 0; i < n; i++) {
		blas_widen_row(m->emb_dtype, (const char *)m->tok_emb +
		    (size_t)t[i] * row, x + i * d, d);
		if (m->pos_emb != NULL)
			model_add_row(m->pos_dtype, m->pos_emb,
			    (size_t)p0 + i, d, x + i * d);
	}
}

/*
 * y = x W^T for n rows of x; with tmp, y += x W^T instead (tmp: n rows of
 * scratch).  The decode kernels take any number of rows (tiles of 12), and
 * beat BLIS on widened copies of W at these shapes (256-token prefill, one
 * thread: 15m 4.0-6.1k tok/s against 3.1-4.6k; 110m 402-418 against
 * 292-331); the products are then bitwise those of decode.
 */
static void
model_linear(int nt, const struct blas_mat *w, const float *x, size_t n,
    float *y, float *tmp)
{
	size_t no = w->n_out;

	blas_matvec(nt, w, x, n, tmp ? tmp : y);
	if (tmp != NULL)
		for (size_t i = 0; i < n * no; i++)
			y[i] += tmp[i];
}

/* --- how many threads ------------------------------------------------------ */

/*
 * With the default thread count the model adapts to a busy machine.  A
 * parallel step waits at every barrier for its slowest thread, and a
 * thread whose core another program holds arrives a scheduler time slice
 * late: with one core taken, two threads decoded at well under half the
 * speed of one.  So decode times its steps, and every LM_THR_PROBE steps
 * tries one thread more or fewer than it uses; whichever count has the
 * lower running mean is kept.  Results do not depend on the count, so the
 * switch is invisible but for speed.  A probe costs one step in
 * LM_THR_PROBE at the other speed, a few per cent at worst, and each
 * probe that loses doubles the interval (up to 16 times) so that a step
 * held up by a busy core is paid for rarely.
 */
#define LM_THR_PROBE		64

/* Threads of this process running now (state R), at least 1: OpenMP's
 * workers spin a while after each parallel region, and /proc/stat counts
 * them as running too. */
static int
model_self_running(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return 1;
	while ((e = readdir(d)) != NULL) {
		char path[320], buf[256], *p;
		FILE *fp;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%s/stat",
		    e->d_name);
		if ((fp = fopen(path, "r")) == NULL)
			continue;
		/* "tid (comm) S ...": the state follows the last ')' */
		if (fgets(buf, sizeof buf, fp) != NULL &&
		    (p = strrchr(buf, ')')) != NULL && p[1] == ' ' &&
		    p[2] == 'R')
			n++;
		fclose(fp);
	}
	closedir(d);
	return n > 0 ? n : 1;
}

/* procs_running of /proc/stat less this process's running threads, or
 * 0 if /proc says nothing. */
static int
model_others_now(void)
{
	char line[256];
	FILE *fp = fopen("/proc/stat", "r");
	int n = 0;

	if (fp == NULL)
		return 0;
	while (fgets(line, sizeof line, fp) != NULL)
		if (sscanf(line, "procs_running %d", &n) == 1)
			break;
	fclose(fp);
	n -= model_self_running();
	return n > 0 ? n : 0;
}

/*
 * Threads of other programs running: the fewest of three looks 0.3 ms
 * apart, since a moment's look also catches short-lived ones (a shell
 * reading lmsh's output took half the starts on an idle machine down to
 * one thread).  The wait between looks spins: a sleep hands the core to
 * the others it is looking at, and getting it back could take a
 * scheduler slice (eval beside two busy cores ran 20% longer on one
 * thread by default than with --threads 1).  Kept in m for 0.2 s, since
 * every prefill asks.
 */
static int
model_others_running(struct lm_model *m)
{
	double	now = util_now();
	int	n;

	if (m->thr_seen_t > 0 && now - m->thr_seen_t < 0.2)
		return m->thr_seen;
	n = model_others_now();
	for (int k = 0; k < 2 && n > 0; k++) {
		double t = util_now() + 0.0003;
		int o;

		while (util_now() < t)
			;
		o = model_others_now();
		n = o < n ? o : n;
	}
	m->thr_seen_t = util_now();
	m->thr_seen = n;
	return n;
}

/* Cores that nothing else is running on (at least one). */
static int
model_idle_cores(struct lm_model *m)
{
	int nt = m->n_threads - model_others_running(m);

	return nt < 1 ? 1 : nt;
}

/*
 * Threads for a prefill, or for a caller's own short parallel work beside
 * the model (eval's losses): too short to time, so the cores that nothing
 * else is running on, and not more than decode found worth using.
 */
int
model_threads_now(struct lm_model *m)
{
	int nt;

	if (!m->thr_auto || m->thr_cur <= 1)
		return m->thr_cur;
	nt = model_idle_cores(m);
	return nt < m->thr_cur ? nt : m->thr_cur;
}

/*
 * Threads for the next decode step of nb sequences: the count in use, or
 * one more or fewer as a probe, at steps 2, 4, 8, 16, 32 (unless others
 * were running at the start) and then every LM_THR_PROBE.
 */
static int
model_decode_threads(struct lm_model *m, size_t nb)
{
	int cur = m->thr_cur, max = m->n_threads;
	unsigned long k;

	if (!m->thr_auto || max <= 1)
		return m->n_threads;
	if (max > LM_THREADS_MAX)
		max = LM_THREADS_MAX;
	if (nb != m->thr_nb) {
		/* other work per step: start afresh */
		memset(m->thr_t, 0, sizeof m->thr_t);
		m->thr_nb = nb;
		m->thr_steps = 0;
		m->thr_backoff = 0;
		m->thr_slow = 0;
		cur = model_idle_cores(m);
		cur = m->thr_cur = cur < max ? cur : max;
		/* a probe onto a core another program holds waits a
		 * scheduler slice at some barrier, the time of several
		 * steps: with others running, the first comes late (it
		 * must come: a nice'd neighbour leaves most of its core) */
		m->thr_late = cur < max;
	}
	k = ++m->thr_steps;
	if (k < LM_THR_PROBE ? (k & (k - 1)) != 0 || k == 1 || m->thr_late :
	    k % (LM_THR_PROBE << m->thr_backoff) != 0)
		return cur;
	if (cur == 1 || (cur < max && k / LM_THR_PROBE % 2 == 0))
		return cur + 1;
	return cur - 1;
}

/* A decode step on nt threads took dt seconds: keep the faster count. */
static void
model_decode_timed(struct lm_model *m, int nt, double dt)
{
	double *t = m->thr_t;

	if (!m->thr_auto || nt > LM_THREADS_MAX)
		return;
	/* a probe is rarer, so it weighs more */
	t[nt] = t[nt] == 0 ? dt : nt == m->thr_cur ? 0.75 * t[nt] +
	    0.25 * dt : 0.5 * t[nt] + 0.5 * dt;
	if (nt == m->thr_cur) {
		/* a core taken since the last probe: steps at this count
		 * far slower than one fewer thread took; do not wait for
		 * the next probe (beside a spinning program two threads
		 * ran 2-5 times slower than one, for up to 64 steps) */
		if (nt > 1 && t[nt - 1] > 0 && dt > 1.5 * t[nt - 1]) {
			if (++m->thr_slow >= 2) {
				m->thr_cur = nt - 1;
				m->thr_slow = 0;
				if (m->thr_backoff < 4)
					m->thr_backoff++;
			}
		} else
			m->thr_slow = 0;
		return;
	}
	if (t[nt] < 0.95 * t[m->thr_cur]) {
		m->thr_cur = nt;
		m->thr_backoff = 0;
	} else if (m->thr_steps >= LM_THR_PROBE && m->thr_backoff < 4)
		m->thr_backoff++;	/* a losing probe: try less often */
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
		float *S = kc->scores + (size_t)util_thread() *
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
    const int32_t *tokens, size_t n, float *logits, int all_logits, int nt)
{
	const struct lm_config *c = &m->cfg;
	size_t d = (size_t)c->d_model, f = (size_t)c->d_ff;
	int p0 = kc->pos[s];
	int post = c->use_post_norm == LM_YES;
	const float *in;

	model_embed(m, tokens, n, p0, kc->x);
	for (int l = 0; l < c->num_layers; l++) {
		const struct lm_layer *L = &m->layers[l];
		float *K = model_cache_k(kc, l, s) + (size_t)p0 * d;
		float *Vc = model_cache_v(kc, l, s) + (size_t)p0 * d;

		/* attention rmsnorm, qkv (k and v straight into the cache) */
		in = model_norm(nt, kc->x, post ? NULL : L->ln1, kc->h, n, d);
		{
			const struct blas_mat *qkv[3] = { &L->wq, &L->wk,
			    &L->wv };
			float *out[3] = { kc->q, K, Vc };

			blas_matvec_fused(nt, qkv, out, 3, in, n);
		}
		/* RoPE */
		for (size_t i = 0; i < n && m->rope_cos != NULL; i++) {
			model_rope_row(m, kc->q + i * d, p0 + (int)i);
			model_rope_row(m, K + i * d, p0 + (int)i);
		}
		/* attention, output projection added to the residual */
		model_prefill_attention(m, kc, l, s, p0, n, nt);
		model_linear(nt, &L->wo, kc->att, n, kc->x, kc->h);
		/* post-norm: z = RMSNorm1(x + attn(x)) */
		if (post && L->ln1 != NULL)
			model_rmsnorm(nt, kc->x, L->ln1, kc->x, n, d);
		/* ffn: w1 (and w3 in SwiGLU), the activation, w2 */
		in = model_norm(nt, kc->x, post ? NULL : L->ln2, kc->h, n, d);
		{
			const struct blas_mat *w13[2] = { &L->w1, &L->w3 };
			float *out[2] = { kc->g, kc->u };

			blas_matvec_fused(nt, w13, out, L->w3.data != NULL ?
			    2 : 1, in, n);
		}
		model_ffn_act(nt, c->ffn_type, kc->g, kc->u, n * f);
		model_linear(nt, &L->w2, kc->g, n, kc->x, kc->h);
		/* post-norm: y = RMSNorm2(z + ffn(z)) */
		if (post && L->ln2 != NULL)
			model_rmsnorm(nt, kc->x, L->ln2, kc->x, n, d);
	}
	kc->pos[s] += (int)n;
	if (logits == NULL)
		return;
	/* final norm and lm_head, for every row or only the last */
	if (all_logits) {
		in = model_norm(nt, kc->x, m->ln_final, kc->h, n, d);
		model_linear(nt, &m->lm_head, in, n, logits, NULL);
	} else {
		in = model_norm(nt, kc->x + (n - 1) * d, m->ln_final, kc->h, 1,
		    d);
		blas_matvec(nt, &m->lm_head, in, 1, logits);
	}
}

static void	model_rows_team(const struct lm_model *, struct lm_cache *,
		    const int *, const int *, const int32_t *, int, float *,
		    int);

/* A short prefill chunk: the decode kernels in one parallel region. */
static void
model_prefill_rows(const struct lm_model *m, struct lm_cache *kc, int s,
    const int32_t *tokens, size_t n, float *logits, int all_logits, int nt)
{
	for (size_t i = 0; i < n; i++) {
		kc->rseq[i] = s;
		kc->rpos[i] = kc->pos[s] + (int)i;
	}
	#pragma omp parallel num_threads(nt)
	model_rows_team(m, kc, kc->rseq, kc->rpos, tokens, (int)n, logits,
	    all_logits ? 0 : (int)n - 1);
	kc->pos[s] += (int)n;
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
	int nt = model_threads_now(m);

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
	    model_cache_threads(kc, m->n_threads, err) == -1)
		return -1;
	for (size_t off = 0; off < n; off += kc->n_rows) {
		size_t k = n - off < kc->n_rows ? n - off : kc->n_rows;
		float *lg = logits == NULL ? NULL : all_logits ?
		    logits + off * V : off + k == n ? logits : NULL;

		if (k <= LM_MATVEC_ROWS)
			model_prefill_rows(m, kc, seq, tokens + off, k, lg,
			    all_logits, nt);
		else
			model_prefill_chunk(m, kc, seq, tokens + off, k, lg,
			    all_logits, nt);
	}
	return 0;
}

/* --- decode ---------------------------------------------------------------- */

/*
 * Attention of one new row per sequence, (sequence, head) pairs shared by
 * the enclosing team.  With store (every row in its own slot), each pair
 * first applies RoPE to its head of q and k and stores its head of k and v,
 * which it alone reads; otherwise that was done before.  Every pair runs the same loop whatever the batch,
 * which keeps decode results independent of batch composition.
 */
static void
model_decode_attention(const struct lm_model *m, struct lm_cache *kc, int l,
    const int *seqs, const int *pos, int n, int store)
{
	size_t d = (size_t)m->cfg.d_model, H = (size_t)m->cfg.num_heads;
	size_t dk = d / H;
	float scale = 1.0f / sqrtf((float)dk);

	#pragma omp for schedule(dynamic)
	for (size_t task = 0; task < (size_t)n * H; task++) {
		size_t b = task / H, h = task % H;
		int s = seqs[b];
		size_t np = (size_t)pos[b] + 1;
		float *K = model_cache_k(kc, l, s) + h * dk;
		float *V = model_cache_v(kc, l, s) + h * dk;
		float *q = kc->q + b * d + h * dk;
		float *o = kc->att + b * d + h * dk;
		float *S = kc->scores + (size_t)util_thread() *
		    LM_ATT_QBLOCK * (size_t)kc->n_ctx;

		/* RoPE, this head's key and value into the cache */
		if (store) {
			float *k = kc->kv1 + b * d + h * dk;

			if (m->rope_cos != NULL) {
				model_rope_head(m, q, pos[b]);
				model_rope_head(m, k, pos[b]);
			}
			memcpy(K + (size_t)pos[b] * d, k, dk * sizeof(float));
			memcpy(V + (size_t)pos[b] * d, kc->kv2 + b * d + h * dk,
			    dk * sizeof(float));
		}

		blas_attend(q, K, V, d, dk, np, scale, S, o);
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

/* RoPE on q and k of every row, and k and v into the cache. */
static void
model_rope_store_team(const struct lm_model *m, struct lm_cache *kc, int l,
    const int *seqs, const int *pos, size_t nb)
{
	size_t d = (size_t)m->cfg.d_model;

	#pragma omp for schedule(static)
	for (size_t b = 0; b < nb; b++) {
		int s = seqs[b], p = pos[b];

		if (m->rope_cos != NULL) {
			model_rope_row(m, kc->q + b * d, p);
			model_rope_row(m, kc->kv1 + b * d, p);
		}
		memcpy(model_cache_k(kc, l, s) + (size_t)p * d,
		    kc->kv1 + b * d, d * sizeof(float));
		memcpy(model_cache_v(kc, l, s) + (size_t)p * d,
		    kc->kv2 + b * d, d * sizeof(float));
	}
}

/*
 * g = act(w1 x) for nb rows of x: SiLU(w1 x) * (w3 x) in SwiGLU, SiLU or
 * GELU of w1 x alone without w3.  A block of rows of w1 (and the same of
 * w3) per work item, so that the activation follows at once, in one pass
 * and one barrier.  u: scratch as large as g.
 */
static void
model_ffn_in_team(const struct lm_layer *L, int ffn_type, const float *x,
    size_t nb, size_t f, float *g, float *u)
{
	long n_blk = (long)blas_mat_blocks(&L->w1);

	#pragma omp for schedule(static)
	for (long k = 0; k < n_blk; k++) {
		size_t j0 = (size_t)k * BLAS_MV_ROWS, j1;

		j1 = blas_matvec_block(&L->w1, x, nb, g, (size_t)k);
		if (L->w3.data != NULL)
			blas_matvec_block(&L->w3, x, nb, u, (size_t)k);
		for (size_t b = 0; b < nb; b++)
			model_ffn_act_run(ffn_type, g + b * f + j0,
			    L->w3.data != NULL ? u + b * f + j0 : NULL,
			    j1 - j0);
	}
}

/* y = w x for nb vectors, shared by the enclosing team; ends in a barrier. */
static void
model_matvec_team(const struct blas_mat *w, const float *x, size_t nb,
    float *y)
{
	blas_matvec_team(&w, &y, 1, x, nb, 0);
}

/*
 * n rows, row b being token tokens[b] at position pos[b] of slot seqs[b],
 * run by every thread of one parallel region: each matrix pass and the
 * attention are work-shared loops, so a step costs barriers instead of a
 * thread start-up; the embedding, residuals and norms each thread does
 * alone on its own copy.  A decode step has one row per slot; a short prefill has rows of one slot
 * at consecutive positions, whose keys and values all reach the cache
 * before attention, which lets row b see positions up to pos[b].  Rows
 * lg0.. get logits ([n - lg0][vocab]) unless logits is NULL.
 */
static void
model_rows_team(const struct lm_model *m, struct lm_cache *kc,
    const int *seqs, const int *pos, const int32_t *tokens, int n,
    float *logits, int lg0)
{
	const struct lm_config *c = &m->cfg;
	size_t d = (size_t)c->d_model, f = (size_t)c->d_ff, nb = (size_t)n;
	int post = c->use_post_norm == LM_YES;
	const float *in;
	float *y = NULL;	/* a sub-layer's output not yet in x */
	float *qkv_out[3] = { kc->q, kc->kv1, kc->kv2 };
	int distinct = n == 1 || seqs[0] != seqs[1];	/* slot per row */
	/* this thread's residual stream and norm output */
	float *x = kc->own + (size_t)util_thread() * 2 * kc->n_rows * d;
	float *h = x + kc->n_rows * d;

	for (size_t b = 0; b < nb; b++)
		model_embed(m, tokens + b, 1, pos[b], x + b * d);
	for (int l = 0; l < c->num_layers; l++) {
		const struct lm_layer *L = &m->layers[l];
		const struct blas_mat *qkv[3] = { &L->wq, &L->wk, &L->wv };

		/* attention input: pre-norm, RMSNorm1 after the last residual;
		 * post-norm, x (normed when the residual was added) */
		in = post ? x : model_add_norm_own(x, y, L->ln1, h, nb, d);
		/* qkv in one pass */
		blas_matvec_team(qkv, qkv_out, 3, in, nb, 0);
		/* RoPE, k and v into the cache: rows of one slot see each
		 * other's, so all are stored first; else attention does it */
		if (!distinct)
			model_rope_store_team(m, kc, l, seqs, pos, nb);
		model_decode_attention(m, kc, l, seqs, pos, n, distinct);
		/* output projection, the residual and the norm after it:
		 * pre-norm, the ffn input RMSNorm2(x); post-norm,
		 * z = RMSNorm1(x + attn(x)) */
		model_matvec_team(&L->wo, kc->att, nb, kc->h);
		in = post ? model_add_norm_own(x, kc->h, L->ln1, x, nb, d) :
		    model_add_norm_own(x, kc->h, L->ln2, h, nb, d);
		/* ffn: w1 (and w3) in one pass, the activation on its rows;
		 * w2 */
		model_ffn_in_team(L, c->ffn_type, in, nb, f, kc->g, kc->u);
		model_matvec_team(&L->w2, kc->g, nb, kc->h);
		/* post-norm: y = RMSNorm2(z + ffn(z)); pre-norm: added by
		 * the next norm */
		if (post)
			model_add_norm_own(x, kc->h, L->ln2, x, nb, d);
		else
			y = kc->h;
	}
	/* the last residual, final norm, lm_head */
	in = model_add_norm_own(x, y, m->ln_final, h, nb, d);
	if (logits != NULL)
		model_matvec_team(&m->lm_head, in + (size_t)lg0 * d,
		    nb - (size_t)lg0, logits);
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
	int nt;
	double t0;

	if (model_decode_check(m, kc, seqs, tokens, n, err) == -1 ||
	    model_cache_threads(kc, m->n_threads, err) == -1)
		return -1;
	blas_mv_name();		/* picks the kernel before the threads start */
	for (int b = 0; b < n; b++)
		kc->rpos[b] = kc->pos[seqs[b]];
	nt = model_decode_threads(m, nb);
	t0 = util_now();
	#pragma omp parallel num_threads(nt)
	model_rows_team(m, kc, seqs, kc->rpos, tokens, n, logits, 0);
	model_decode_timed(m, nt, util_now() - t0);
	for (size_t b = 0; b < nb; b++)
		kc->pos[seqs[b]]++;
	return 0;
}
