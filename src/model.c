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
 * at a time with BLIS GEMMs and attention threaded over heads;
 * model_decode() runs one token for each of n slots with blas_matvec(), whose
 * results do not depend on n, the slot's place in the batch or the thread
 * count (see blas.h), so a sequence decodes to the same bits alone or in any
 * batch.  Both share the scratch buffers that the cache owns.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "blas.h"
#include "model.h"
#include "model_int.h"
#include "util.h"

#define LM_RMS_EPS		1e-5f
#define LM_PREFILL_CHUNK	256	/* tokens per prefill pass */
#define LM_ATT_QBLOCK		64	/* query rows per attention task */

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

/* The same, shared by the enclosing team. */
static const float *
model_norm_team(const float *x, const float *g, float *out, size_t n,
    size_t d)
{
	if (g == NULL)
		return x;
	model_rmsnorm_team(x, g, out, n, d);
	return out;
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

/*
 * The feed-forward activation in place, shared by the enclosing team:
 * a = SiLU(a) * b (SwiGLU), SiLU(a), or GELU(a) = a/2 (1 + erf(a/sqrt 2)).
 */
static void
model_ffn_act_team(int ffn_type, float *a, const float *b, size_t n)
{
	switch (ffn_type) {
	case LM_FFN_SILU:
		#pragma omp for schedule(static)
		for (size_t i = 0; i < n; i++)
			a[i] = a[i] / (1.0f + expf(-a[i]));
		break;
	case LM_FFN_GELU:
		#pragma omp for schedule(static)
		for (size_t i = 0; i < n; i++)
			a[i] = 0.5f * a[i] * (1.0f + erff(a[i] *
			    0.70710678118654752f));
		break;
	default:
		#pragma omp for schedule(static)
		for (size_t i = 0; i < n; i++)
			a[i] = a[i] / (1.0f + expf(-a[i])) * b[i];
		break;
	}
}

/* The same on nt threads of its own. */
static void
model_ffn_act(int nt, int ffn_type, float *a, const float *b, size_t n)
{
	#pragma omp parallel num_threads(nt) if (n > 65536)
	model_ffn_act_team(ffn_type, a, b, n);
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

/* x[i] = token_embeddings[t[i]] (+ position_embeddings[p0 + i]). */
static void
model_embed(const struct lm_model *m, const int32_t *t, size_t n, int p0,
    float *x)
{
	size_t d = (size_t)m->cfg.d_model;

	for (size_t i = 0; i < n; i++) {
		memcpy(x + i * d, m->tok_emb + (size_t)t[i] * d,
		    d * sizeof(float));
		if (m->pos_emb != NULL)
			for (size_t j = 0; j < d; j++)
				x[i * d + j] += m->pos_emb[((size_t)p0 + i) *
				    d + j];
	}
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
	int post = c->use_post_norm == LM_YES;
	const float *in;

	model_embed(m, tokens, n, p0, kc->x);
	for (int l = 0; l < c->num_layers; l++) {
		const struct lm_layer *L = &m->layers[l];
		float *K = model_cache_k(kc, l, s) + (size_t)p0 * d;
		float *Vc = model_cache_v(kc, l, s) + (size_t)p0 * d;

		/* attention rmsnorm, qkv (k and v straight into the cache) */
		in = model_norm(nt, kc->x, post ? NULL : L->ln1, kc->h, n, d);
		blas_gemm(nt, 1, n, d, d, 1, in, d, L->wq, d, 0, kc->q, d);
		blas_gemm(nt, 1, n, d, d, 1, in, d, L->wk, d, 0, K, d);
		blas_gemm(nt, 1, n, d, d, 1, in, d, L->wv, d, 0, Vc, d);
		/* RoPE */
		for (size_t i = 0; i < n && m->rope_cos != NULL; i++) {
			model_rope_row(m, kc->q + i * d, p0 + (int)i);
			model_rope_row(m, K + i * d, p0 + (int)i);
		}
		/* attention, output projection added to the residual */
		model_prefill_attention(m, kc, l, s, p0, n, nt);
		blas_gemm(nt, 1, n, d, d, 1, kc->att, d, L->wo, d, 1, kc->x, d);
		/* post-norm: z = RMSNorm1(x + attn(x)) */
		if (post && L->ln1 != NULL)
			model_rmsnorm(nt, kc->x, L->ln1, kc->x, n, d);
		/* ffn */
		in = model_norm(nt, kc->x, post ? NULL : L->ln2, kc->h, n, d);
		blas_gemm(nt, 1, n, f, d, 1, in, d, L->w1, d, 0, kc->g, f);
		if (L->w3 != NULL)
			blas_gemm(nt, 1, n, f, d, 1, in, d, L->w3, d, 0, kc->u,
			    f);
		model_ffn_act(nt, c->ffn_type, kc->g, kc->u, n * f);
		blas_gemm(nt, 1, n, d, f, 1, kc->g, f, L->w2, f, 1, kc->x, d);
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
		blas_gemm(nt, 1, n, V, d, 1, in, d, m->lm_head, d, 0, logits,
		    V);
	} else {
		in = model_norm(nt, kc->x + (n - 1) * d, m->ln_final, kc->h, 1,
		    d);
		blas_matvec(nt, m->lm_head, V, d, in, 1, logits);
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
	int post = c->use_post_norm == LM_YES;
	const float *in;

	#pragma omp single
	for (size_t b = 0; b < nb; b++)
		model_embed(m, tokens + b, 1, kc->pos[seqs[b]], kc->x + b * d);
	for (int l = 0; l < c->num_layers; l++) {
		const struct lm_layer *L = &m->layers[l];

		/* attention rmsnorm, qkv */
		in = model_norm_team(kc->x, post ? NULL : L->ln1, kc->h, nb, d);
		blas_matvec_team(L->wq, d, d, in, nb, kc->q, 1);
		blas_matvec_team(L->wk, d, d, in, nb, kc->kv1, 1);
		blas_matvec_team(L->wv, d, d, in, nb, kc->kv2, 0);
		/* RoPE, k and v into the cache */
		#pragma omp for schedule(static)
		for (size_t b = 0; b < nb; b++) {
			int s = seqs[b], p = kc->pos[s];

			if (m->rope_cos != NULL) {
				model_rope_row(m, kc->q + b * d, p);
				model_rope_row(m, kc->kv1 + b * d, p);
			}
			memcpy(model_cache_k(kc, l, s) + (size_t)p * d,
			    kc->kv1 + b * d, d * sizeof(float));
			memcpy(model_cache_v(kc, l, s) + (size_t)p * d,
			    kc->kv2 + b * d, d * sizeof(float));
		}
		/* attention, output projection, residual */
		model_decode_attention(m, kc, l, seqs, n);
		blas_matvec_team(L->wo, d, d, kc->att, nb, kc->h, 0);
		model_add_team(kc->x, kc->h, nb * d);
		/* post-norm: z = RMSNorm1(x + attn(x)) */
		if (post && L->ln1 != NULL)
			model_rmsnorm_team(kc->x, L->ln1, kc->x, nb, d);
		/* ffn */
		in = model_norm_team(kc->x, post ? NULL : L->ln2, kc->h, nb, d);
		blas_matvec_team(L->w1, f, d, in, nb, kc->g, L->w3 != NULL);
		if (L->w3 != NULL)
			blas_matvec_team(L->w3, f, d, in, nb, kc->u, 0);
		model_ffn_act_team(c->ffn_type, kc->g, kc->u, nb * f);
		blas_matvec_team(L->w2, d, f, kc->g, nb, kc->h, 0);
		model_add_team(kc->x, kc->h, nb * d);
		/* post-norm: y = RMSNorm2(z + ffn(z)) */
		if (post && L->ln2 != NULL)
			model_rmsnorm_team(kc->x, L->ln2, kc->x, nb, d);
	}
	/* final norm, lm_head */
	in = model_norm_team(kc->x, m->ln_final, kc->h, nb, d);
	if (logits != NULL)
		blas_matvec_team(m->lm_head, (size_t)c->vocab_size, d, in,
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
