/*
 * test-model: the model engine against PyTorch (fixtures written by
 * tools/gen-model-fixtures.py from an independent float64 implementation).
 *
 * Covers: logits within 1e-4, mean NLL within 1e-4 and greedy ids for the
 * tiny (d_k 8), h12 (d_k 12, rope_theta 500), bf16 (BF16 storage) and pt
 * (raw state dict, {"model","optimizer","iteration"} with _orig_mod. keys,
 * bfloat16 storages, views with storage offsets) fixtures; prefill in two
 * parts and prefill+decode equal to one forward; decode of a slot bitwise
 * equal alone and at any place in batches of 8 and 32, and with 1 or 2
 * threads; prefill bitwise equal with 1 and 3 threads; every matrix-vector
 * kernel on the h12 and bf16 models; bf16 weights read as stored bitwise
 * equal to their fp32 copy; config errors; missing, extra and
 * misshapen tensors named; NaN weights warned about; bad tokens and a full
 * context refused.
 * The CS336 variants: one fixture each (nonorm with and without ln_final,
 * postnorm, nope, silu, cs336-2024) checked like the others and recognised
 * from config and tensors; saved and reopened (convert) to the same
 * variant, config keys and logits; switches that contradict the tensors,
 * unsupported values, unknown keys warned about and training keys not; no
 * config (read off the tensors) and the error naming the missing flags; a
 * recorded config in a string;
 * the real CS336 2024 checkpoint (../shared) against PyTorch logits;
 * random models of each variant: incremental equal to full, decode
 * bitwise independent of the batch and the threads; each variant fixture
 * under every matrix-vector kernel, and saved as bf16 (position
 * embeddings too) read as stored bitwise equal to its fp32 widening.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "check.h"
#include "blas.h"
#include "model.h"
#include "util.h"
#include "weights.h"

#define TOL 1e-4

struct ref {
	int32_t	*tokens;	/* reference input */
	size_t	 n;
	int32_t	*prompt;	/* greedy prompt */
	size_t	 n_prompt;
	int32_t	*greedy;	/* expected continuation */
	size_t	 n_greedy;
	double	 nll;		/* mean next-token NLL of tokens */
	float	*logits;	/* [n][vocab] */
};

static int32_t *
ids_of(json_t *a, size_t *n)
{
	int32_t *p = xcalloc(json_array_size(a) + 1, sizeof *p);

	*n = json_array_size(a);
	for (size_t i = 0; i < *n; i++)
		p[i] = (int32_t)json_integer_value(json_array_get(a, i));
	return p;
}

static int
ref_load(const char *dir, const char *logits_file, int vocab, struct ref *r)
{
	char *p = xasprintf("%s/%s/ref.json", check_data_dir(), dir);
	json_t *j = json_load_file(p, 0, NULL);
	char *data;
	size_t len;
	struct err err;

	free(p);
	if (j == NULL)
		return -1;
	r->tokens = ids_of(json_object_get(j, "tokens"), &r->n);
	r->prompt = ids_of(json_object_get(j, "prompt"), &r->n_prompt);
	r->greedy = ids_of(json_object_get(j, "greedy"), &r->n_greedy);
	r->nll = json_real_value(json_object_get(j, "nll"));
	json_decref(j);
	p = xasprintf("%s/%s/%s", check_data_dir(), dir, logits_file);
	if (util_read_file(p, &data, &len, &err) == -1) {
		free(p);
		return -1;
	}
	free(p);
	if (len != r->n * (size_t)vocab * sizeof(float)) {
		free(data);
		return -1;
	}
	r->logits = (float *)(void *)data;
	return 0;
}

static void
ref_free(struct ref *r)
{
	free(r->tokens);
	free(r->prompt);
	free(r->greedy);
	free(r->logits);
}

static int
argmax(const float *p, int n)
{
	int best = 0;

	for (int i = 1; i < n; i++)
		if (p[i] > p[best])
			best = i;
	return best;
}

static double
max_diff(const float *a, const float *b, size_t n)
{
	double d = 0;

	for (size_t i = 0; i < n; i++)
		if (!(fabs((double)a[i] - b[i]) <= d))
			d = isnan(a[i]) ? INFINITY : fabs((double)a[i] - b[i]);
	return d;
}

/* Mean NLL of tokens[1..n) under logits[0..n-1), in double. */
static double
mean_nll(const float *lg, const int32_t *t, size_t n, int V)
{
	double tot = 0;

	for (size_t i = 0; i + 1 < n; i++) {
		const float *r = lg + i * (size_t)V;
		double mx = r[0], s = 0;

		for (int k = 1; k < V; k++)
			mx = r[k] > mx ? r[k] : mx;
		for (int k = 0; k < V; k++)
			s += exp(r[k] - mx);
		tot += -(r[t[i + 1]] - mx - log(s));
	}
	return tot / (double)(n - 1);
}

/* Logits, NLL and greedy ids of one fixture. */
static void
check_fixture(const char *name, struct lm_model *m, const char *logits_file)
{
	const struct lm_config *c = model_config(m);
	int V = c->vocab_size;
	struct ref r = { 0 };
	struct lm_cache *kc;
	struct err err;
	float *lg;
	size_t n_ok = 0;
	int fp32;

	CHECK_MSG(ref_load(name, logits_file, V, &r) == 0, "%s: no reference",
	    name);
	if (r.logits == NULL)
		return;
	lg = xcalloc(r.n * (size_t)V, sizeof *lg);
	kc = model_cache_new(m, 1, 0, &err);
	CHECK(kc != NULL);
	CHECK(model_prefill(m, kc, 0, r.tokens, r.n, lg, 1, &err) == 0);
	CHECK_MSG(max_diff(lg, r.logits, r.n * (size_t)V) <= TOL,
	    "%s: logits differ by %g", name,
	    max_diff(lg, r.logits, r.n * (size_t)V));
	/* ref.json's NLL and greedy ids are for the fp32 weights */
	fp32 = strcmp(logits_file, "ref-logits.bin") == 0;
	if (fp32)
		CHECK_NEAR(mean_nll(lg, r.tokens, r.n, V), r.nll, TOL);
	else
		CHECK_NEAR(mean_nll(lg, r.tokens, r.n, V),
		    mean_nll(r.logits, r.tokens, r.n, V), TOL);

	/* greedy: prefill the prompt, then decode step by step */
	model_cache_reset(kc, 0);
	CHECK(model_prefill(m, kc, 0, r.prompt, r.n_prompt, lg, 0, &err) == 0);
	for (size_t i = 0; i < r.n_greedy && fp32; i++) {
		int32_t t = argmax(lg, V);
		int s = 0;

		n_ok += t == r.greedy[i];
		if (model_decode(m, kc, &s, &t, 1, lg, &err) == -1)
			break;
	}
	CHECK_MSG(!fp32 || n_ok == r.n_greedy, "%s: %zu of %zu greedy ids match", name,
	    n_ok, r.n_greedy);
	model_cache_free(kc);
	free(lg);
	ref_free(&r);
}

static struct lm_model *
open_dir(const char *name)
{
	struct lm_model_source src = { 0 };
	struct lm_model *m;
	struct err err;
	char *d = xasprintf("%s/%s", check_data_dir(), name);

	src.dir = d;
	m = model_open(&src, &err);
	CHECK_MSG(m != NULL, "%s: %s", name, err.msg);
	free(d);
	return m;
}

static struct lm_model *
open_pt(const char *file, struct err *err)
{
	struct lm_model_source src = { 0 };
	struct lm_model *m;
	char *p = xasprintf("%s/models/pt/%s", check_data_dir(), file);
	char *c = xasprintf("%s/models/pt/model_config.json", check_data_dir());

	src.checkpoint = p;
	src.config_path = c;
	m = model_open(&src, err);
	free(p);
	free(c);
	return m;
}

static void
test_fixtures(void)
{
	static const char *dirs[] = { "models/tiny", "models/h12",
	    "models/bf16", "models/nonorm", "models/nonorm-final",
	    "models/postnorm", "models/nope", "models/silu",
	    "models/cs336-2024" };
	static const struct {
		const char	*file;
		const char	*ref;
	} pts[] = {
		{ "raw.pt", "ref-logits.bin" },
		{ "train.pt", "ref-logits.bin" },
		{ "bf16.pt", "ref-logits-bf16.bin" },
	};
	struct err err;

	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		struct lm_model *m = open_dir(dirs[i]);

		if (m != NULL) {
			CHECK(model_warnings(m) == NULL);
			check_fixture(dirs[i], m, "ref-logits.bin");
			model_set_threads(m, 1);
			check_fixture(dirs[i], m, "ref-logits.bin");
		}
		model_close(m);
	}
	for (size_t i = 0; i < sizeof pts / sizeof pts[0]; i++) {
		struct lm_model *m = open_pt(pts[i].file, &err);

		CHECK_MSG(m != NULL, "%s: %s", pts[i].file, err.msg);
		if (m != NULL)
			check_fixture("models/pt", m, pts[i].ref);
		model_close(m);
	}
}

/* Prefill in parts and prefill + decode agree with one full prefill. */
static void
test_incremental(struct lm_model *m)
{
	const struct lm_config *c = model_config(m);
	size_t V = (size_t)c->vocab_size, n = (size_t)c->context_length;
	int32_t *t = xcalloc(n, sizeof *t);
	float *full = xcalloc(n * V, sizeof *full);
	float *part = xcalloc(n * V, sizeof *part);
	struct lm_cache *kc;
	struct err err;
	size_t half = n / 3;

	for (size_t i = 0; i < n; i++)
		t[i] = (int32_t)((i * 37 + 11) % V);
	kc = model_cache_new(m, 1, 0, &err);
	CHECK(model_prefill(m, kc, 0, t, n, full, 1, &err) == 0);
	model_cache_reset(kc, 0);
	CHECK(model_prefill(m, kc, 0, t, half, part, 1, &err) == 0);
	CHECK(model_prefill(m, kc, 0, t + half, half, part + half * V, 1,
	    &err) == 0);
	for (size_t i = 2 * half; i < n; i++) {
		int s = 0;

		CHECK(model_decode(m, kc, &s, t + i, 1, part + i * V, &err) ==
		    0);
	}
	CHECK_MSG(max_diff(full, part, n * V) <= TOL,
	    "incremental vs full: %g", max_diff(full, part, n * V));
	/* truncate and redo the last part: the same logits again */
	model_cache_truncate(kc, 0, (int)(2 * half));
	CHECK(model_cache_pos(kc, 0) == (int)(2 * half));
	CHECK(model_prefill(m, kc, 0, t + 2 * half, n - 2 * half, part +
	    2 * half * V, 1, &err) == 0);
	CHECK(max_diff(full, part, n * V) <= TOL);
	/* a full context refuses more */
	CHECK(model_prefill(m, kc, 0, t, 1, NULL, 0, &err) == -1);
	CHECK(strstr(err.msg, "context") != NULL);
	model_cache_free(kc);
	free(t);
	free(full);
	free(part);
}

/*
 * Fill slots 0..n_slot-1 with prompts of different lengths, then decode two
 * steps of target alone or within a batch of size nb starting at slot
 * first; return the second step's logits of target.
 */
static float *
decode_in_batch(struct lm_model *m, int n_slot, int target, int nb, int first)
{
	const struct lm_config *c = model_config(m);
	size_t V = (size_t)c->vocab_size;
	struct lm_cache *kc;
	struct err err;
	int *seqs = xcalloc((size_t)nb, sizeof *seqs);
	int32_t *tok = xcalloc((size_t)nb, sizeof *tok), pr[16];
	float *lg = xcalloc((size_t)nb * V, sizeof *lg);
	float *out = xcalloc(V, sizeof *out);
	int where = -1;

	kc = model_cache_new(m, n_slot, 0, &err);
	for (int s = 0; s < n_slot; s++) {
		for (int i = 0; i < 16; i++)
			pr[i] = (int32_t)((s * 7 + i * 13) % (int)V);
		CHECK(model_prefill(m, kc, s, pr, (size_t)(3 + s % 11), NULL, 0,
		    &err) == 0);
	}
	/* copies from beyond what a slot holds, or between bad slots, are
	 * refused and change nothing */
	if (n_slot > 1) {
		int p0 = model_cache_pos(kc, 0), p1 = model_cache_pos(kc, 1);

		CHECK(model_cache_copy(kc, 0, 1, p1 + 1) == -1);
		CHECK(model_cache_copy(kc, n_slot, 0, 1) == -1);
		CHECK(model_cache_copy(kc, 0, -1, 1) == -1);
		CHECK(model_cache_pos(kc, 0) == p0 && model_cache_pos(kc, 1) == p1);
	}
	for (int b = 0; b < nb; b++) {
		seqs[b] = (first + b) % n_slot;
		if (seqs[b] == target)
			where = b;
	}
	CHECK(where >= 0);
	for (int step = 0; step < 2; step++) {
		for (int b = 0; b < nb; b++)
			tok[b] = (int32_t)((seqs[b] * 5 + step) % (int)V);
		CHECK(model_decode(m, kc, seqs, tok, nb, lg, &err) == 0);
	}
	memcpy(out, lg + (size_t)where * V, V * sizeof *out);
	model_cache_free(kc);
	free(seqs);
	free(tok);
	free(lg);
	return out;
}

/* Prefill logits do not depend on the thread count either. */
static void
test_prefill_threads(struct lm_model *m)
{
	const struct lm_config *c = model_config(m);
	size_t V = (size_t)c->vocab_size, n = (size_t)c->context_length;
	int32_t *t = xcalloc(n, sizeof *t);
	float *a = xcalloc(n * V, sizeof *a), *b = xcalloc(n * V, sizeof *b);
	struct lm_cache *kc = model_cache_new(m, 1, 0, NULL);

	for (size_t i = 0; i < n; i++)
		t[i] = (int32_t)((i * 31 + 7) % V);
	model_set_threads(m, 1);
	CHECK(model_prefill(m, kc, 0, t, n, a, 1, NULL) == 0);
	model_cache_reset(kc, 0);
	model_set_threads(m, 3);
	CHECK(model_prefill(m, kc, 0, t, n, b, 1, NULL) == 0);
	CHECK(memcmp(a, b, n * V * sizeof *a) == 0);
	model_cache_free(kc);
	free(t);
	free(a);
	free(b);
}

static void
test_batch_determinism(struct lm_model *m)
{
	size_t V = (size_t)model_config(m)->vocab_size;
	float *alone, *b8, *b8b, *b32, *t1;

	model_set_threads(m, 2);
	alone = decode_in_batch(m, 32, 5, 1, 5);
	b8 = decode_in_batch(m, 32, 5, 8, 0);		/* 6th of 8 */
	b8b = decode_in_batch(m, 32, 5, 8, 5);		/* first of 8 */
	b32 = decode_in_batch(m, 32, 5, 32, 9);		/* 29th of 32 */
	model_set_threads(m, 1);
	t1 = decode_in_batch(m, 32, 5, 8, 3);
	CHECK(memcmp(alone, b8, V * sizeof *alone) == 0);
	CHECK(memcmp(alone, b8b, V * sizeof *alone) == 0);
	CHECK(memcmp(alone, b32, V * sizeof *alone) == 0);
	CHECK(memcmp(alone, t1, V * sizeof *alone) == 0);
	test_prefill_threads(m);
	free(alone);
	free(b8);
	free(b8b);
	free(b32);
	free(t1);
}

/* The same model under every matrix-vector kernel still matches. */
static void
test_kernels(void)
{
	static const enum blas_mv_kernel ks[] = { BLAS_MV_C, BLAS_MV_AVX2,
	    BLAS_MV_AVX512 };
	static const char *variants[] = { "models/nonorm",
	    "models/nonorm-final", "models/postnorm", "models/nope",
	    "models/silu", "models/cs336-2024" };
	int ran = 0;

	for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
		struct lm_model *m;

		if (blas_mv_select(ks[i]) == -1)
			continue;
		ran++;
		if ((m = open_dir("models/h12")) != NULL) {
			check_fixture("models/h12", m, "ref-logits.bin");
			test_batch_determinism(m);
		}
		model_close(m);
		/* bf16 read as stored by this kernel */
		if ((m = open_dir("models/bf16")) != NULL) {
			check_fixture("models/bf16", m, "ref-logits.bin");
			test_batch_determinism(m);
		}
		model_close(m);
		/* every CS336 variant through this kernel too */
		for (size_t j = 0; j < sizeof variants / sizeof variants[0];
		    j++) {
			if ((m = open_dir(variants[j])) != NULL)
				check_fixture(variants[j], m, "ref-logits.bin");
			model_close(m);
		}
	}
	CHECK(ran >= 1);
	blas_mv_select(BLAS_MV_AUTO);
}

/* Decode logits of n steps from token 1 on, into lg ([n][vocab]). */
static void
decode_steps(struct lm_model *m, int n, float *lg)
{
	size_t V = (size_t)model_config(m)->vocab_size;
	struct err err;
	struct lm_cache *kc = model_cache_new(m, 1, 0, &err);
	int seq = 0;

	CHECK(kc != NULL);
	for (int i = 0; kc != NULL && i < n; i++) {
		int32_t t = (int32_t)(1 + i * 7) % (int32_t)V;

		CHECK(model_decode(m, kc, &seq, &t, 1, lg + (size_t)i * V,
		    &err) == 0);
	}
	model_cache_free(kc);
}

/*
 * A bf16 model, read 2 bytes a weight and widened in registers, gives the
 * same bits as the same weights stored as fp32 (saved and reopened), and
 * says so in its engine string.
 */
static void
test_bf16_as_f32(const char *tmp)
{
	struct lm_model_source src = { 0 };
	struct lm_model *b = open_dir("models/bf16"), *f = NULL;
	char *dir = xasprintf("%s/f32", tmp), *p, *q;
	struct err err;
	float *lb, *lf;
	size_t V;

	if (b == NULL) {
		free(dir);
		return;
	}
	CHECK(strstr(model_engine_desc(b), "bf16") != NULL);
	V = (size_t)model_config(b)->vocab_size;
	CHECK(mkdir(dir, 0700) == 0);
	p = xasprintf("%s/model.safetensors", dir);
	q = xasprintf("%s/config.json", dir);
	CHECK(model_save(b, p, WEIGHTS_F32, &err) == 0);
	CHECK(model_config_save(model_config(b), q, &err) == 0);
	src.dir = dir;
	f = model_open(&src, &err);
	CHECK_MSG(f != NULL, "%s", err.msg);
	if (f != NULL) {
		CHECK(strstr(model_engine_desc(f), "f32") != NULL);
		CHECK(model_weight_bytes(f) > model_weight_bytes(b));
		lb = xcalloc(4 * V, sizeof *lb);
		lf = xcalloc(4 * V, sizeof *lf);
		decode_steps(b, 4, lb);
		decode_steps(f, 4, lf);
		CHECK_MSG(memcmp(lb, lf, 4 * V * sizeof *lb) == 0,
		    "bf16 weights read as stored differ from their fp32 copy");
		free(lb);
		free(lf);
	}
	model_close(f);
	model_close(b);
	unlink(p);
	unlink(q);
	rmdir(dir);
	free(p);
	free(q);
	free(dir);
}

/* Save m's weights as dtype with its config in dir and open them again. */
static struct lm_model *
resave(struct lm_model *m, const char *dir, int dtype)
{
	struct lm_model_source src = { 0 };
	struct lm_model *r;
	char *p = xasprintf("%s/model.safetensors", dir);
	char *q = xasprintf("%s/config.json", dir);
	struct err err;

	mkdir(dir, 0700);
	CHECK(model_save(m, p, dtype, &err) == 0);
	CHECK(model_config_save(model_config(m), q, &err) == 0);
	src.dir = dir;
	r = model_open(&src, &err);
	CHECK_MSG(r != NULL, "%s", err.msg);
	unlink(p);
	unlink(q);
	rmdir(dir);
	free(p);
	free(q);
	return r;
}

/*
 * Every CS336 variant stored as bf16 (position embeddings included) runs
 * read as stored: the same bits as its fp32 widening.
 */
static void
test_variant_bf16(const char *tmp)
{
	static const char *variants[] = { "models/nonorm",
	    "models/nonorm-final", "models/postnorm", "models/nope",
	    "models/silu", "models/cs336-2024" };
	char *dir = xasprintf("%s/v", tmp);

	for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
		struct lm_model *m = open_dir(variants[i]), *b, *f;
		size_t V;
		float *lb, *lf;

		if (m == NULL)
			continue;
		V = (size_t)model_config(m)->vocab_size;
		b = resave(m, dir, WEIGHTS_BF16);
		f = b != NULL ? resave(b, dir, WEIGHTS_F32) : NULL;
		if (b != NULL && f != NULL) {
			CHECK(strstr(model_engine_desc(b), "bf16") != NULL);
			CHECK(strcmp(model_dtype_name(b), "bf16") == 0 &&
			    strcmp(model_dtype_name(f), "f32") == 0);
			lb = xcalloc(4 * V, sizeof *lb);
			lf = xcalloc(4 * V, sizeof *lf);
			decode_steps(b, 4, lb);
			decode_steps(f, 4, lf);
			CHECK_MSG(memcmp(lb, lf, 4 * V * sizeof *lb) == 0,
			    "%s: bf16 read as stored differs from fp32",
			    variants[i]);
			free(lb);
			free(lf);
		}
		model_close(f);
		model_close(b);
		model_close(m);
	}
	free(dir);
}

static void
test_random(void)
{
	struct lm_config c = { 300, 40, 64, 2, 4, 96,
	    .rope_theta = 10000 };
	struct lm_model *a, *b;
	struct err err;
	float la[300], lb[300];
	int32_t t[5] = { 1, 2, 3, 299, 0 };
	struct lm_cache *ka, *kb;

	a = model_new_random(&c, 7, &err);
	b = model_new_random(&c, 7, &err);
	CHECK(a != NULL && b != NULL);
	if (a == NULL || b == NULL)
		return;
	ka = model_cache_new(a, 1, 0, &err);
	kb = model_cache_new(b, 1, 0, &err);
	CHECK(model_prefill(a, ka, 0, t, 5, la, 0, &err) == 0);
	CHECK(model_prefill(b, kb, 0, t, 5, lb, 0, &err) == 0);
	CHECK(memcmp(la, lb, sizeof la) == 0);
	CHECK(isfinite(la[0]) && la[0] != la[1]);
	CHECK(model_weight_bytes(a) == (2 * (4 * 64 * 64 + 3 * 64 * 96 +
	    2 * 64) + 64 + 300 * 64) * sizeof(float));
	CHECK(model_cache_bytes(ka) == 2 * 2 * 40 * 64 * sizeof(float));
	/* bad tokens and slots are refused */
	t[0] = 300;
	CHECK(model_prefill(a, ka, 0, t, 1, la, 0, &err) == -1);
	CHECK(strstr(err.msg, "300") != NULL);
	t[0] = 1;
	CHECK(model_prefill(a, ka, 1, t, 1, la, 0, &err) == -1);
	test_incremental(a);
	test_batch_determinism(a);
	model_cache_free(ka);
	model_cache_free(kb);
	model_close(a);
	model_close(b);
	/* every variant: incremental = full, decode independent of the batch */
	for (int v = 0; v < 5; v++) {
		struct lm_config cv = c;

		cv.remove_rmsnorm = v == 0 ? LM_YES : 0;
		cv.use_post_norm = v == 1 ? LM_YES : 0;
		cv.remove_rope = v == 2 ? LM_YES : 0;
		cv.ffn_type = v == 3 ? LM_FFN_SILU : v == 4 ? LM_FFN_GELU : 0;
		cv.pos_emb = v == 4 ? LM_YES : 0;
		a = model_new_random(&cv, 7, &err);
		CHECK_MSG(a != NULL, "variant %d: %s", v, err.msg);
		if (a == NULL)
			continue;
		CHECK(model_config(a)->remove_rope == (v == 2 || v == 4 ?
		    LM_YES : LM_NO));
		test_incremental(a);
		test_batch_determinism(a);
		model_close(a);
	}
	c.num_heads = 3;	/* 64 / 3 */
	CHECK(model_new_random(&c, 1, &err) == NULL);
	CHECK(strstr(err.msg, "heads") != NULL);
	c.num_heads = 4;
	c.d_ff = 0;
	CHECK(model_new_random(&c, 1, &err) == NULL);
	CHECK(strstr(err.msg, "d_ff") != NULL);
}

static void
test_config(const char *tmp)
{
	struct lm_config c = { 0 };
	struct err err;
	char *p = xasprintf("%s/c.json", tmp);
	static const char ok[] = "{\"vocab_size\": 10, \"context_length\": 8,"
	    " \"d_model\": 16, \"num_layers\": 1, \"num_heads\": 2, "
	    "\"d_ff\": 24.0, \"rope_theta\": 500, \"batch_size\": 3}";

	CHECK(util_write_file_atomic(p, ok, sizeof ok - 1, &err) == 0);
	CHECK(model_config_load(p, &c, NULL, &err) == 0);
	CHECK(c.vocab_size == 10 && c.context_length == 8 && c.d_ff == 24 &&
	    c.rope_theta == 500);
	CHECK(model_config_check(&c, &err) == 0);
	CHECK(util_write_file_atomic(p, "{\"d_model\": -3}", 15, &err) == 0);
	CHECK(model_config_load(p, &c, NULL, &err) == -1);
	CHECK(strstr(err.msg, "d_model") != NULL && strstr(err.msg, p));
	CHECK(util_write_file_atomic(p, "{\"d_model\": ", 12, &err) == 0);
	CHECK(model_config_load(p, &c, NULL, &err) == -1);
	CHECK(strstr(err.msg, p) != NULL);
	free(p);
}

/* Write the tiny model's tensors with one changed, for the error tests. */
static struct weights *
tiny_weights(void)
{
	struct err err;
	char *p = xasprintf("%s/models/tiny/model.safetensors",
	    check_data_dir());
	struct weights *w = weights_open(p, &err);

	CHECK_MSG(w != NULL, "%s", err.msg);
	free(p);
	return w;
}

static int
write_variant(const struct weights *w, const char *path, const char *drop,
    const char *extra, const char *nan_in)
{
	size_t n = weights_count(w), k = 0;
	struct weights_out *o = xcalloc(n + 1, sizeof *o);
	float **bufs = xcalloc(n, sizeof *bufs);
	static const float one[4] = { 1, 2, 3, 4 };
	struct err err;
	int rc;

	for (size_t i = 0; i < n; i++) {
		const struct weights_tensor *t = weights_get(w, i);

		if (drop != NULL && strcmp(t->name, drop) == 0)
			continue;
		bufs[i] = xcalloc(t->n_elems, sizeof(float));
		weights_to_f32(t->dtype, t->data, bufs[i], t->n_elems);
		if (nan_in != NULL && strcmp(t->name, nan_in) == 0)
			bufs[i][3] = NAN;
		o[k].name = t->name;
		o[k].n_dims = t->n_dims;
		memcpy(o[k].shape, t->shape, sizeof o[k].shape);
		o[k++].data = bufs[i];
	}
	if (extra != NULL) {
		o[k].name = extra;
		o[k].n_dims = 1;
		o[k].shape[0] = 4;
		o[k++].data = one;
	}
	rc = weights_write_safetensors(path, o, k, WEIGHTS_F32, &err);
	CHECK_MSG(rc == 0, "%s", err.msg);
	for (size_t i = 0; i < n; i++)
		free(bufs[i]);
	free(bufs);
	free(o);
	return rc;
}

static struct lm_model *
open_variant(const char *path, const struct lm_config *cfg, struct err *err)
{
	struct lm_model_source src = { 0 };
	char *c = xasprintf("%s/models/tiny/config.json", check_data_dir());
	struct lm_model *m;

	src.checkpoint = path;
	src.config_path = c;
	if (cfg != NULL)
		src.cfg = *cfg;
	m = model_open(&src, err);
	free(c);
	return m;
}

static void
test_bad_tensors(const char *tmp)
{
	struct weights *w = tiny_weights();
	char *p = xasprintf("%s/v.safetensors", tmp);
	struct lm_config over = { 0 };
	struct lm_model *m;
	struct err err;

	if (w == NULL)
		return;
	/* one missing, one extra */
	if (write_variant(w, p, "layers.1.ffn.w3.weight", "pos_emb.weight",
	    NULL) == 0) {
		CHECK(open_variant(p, NULL, &err) == NULL);
		CHECK_MSG(strstr(err.msg, "missing tensors: layers.1.ffn.w3."
		    "weight") != NULL && strstr(err.msg, "unexpected tensors: "
		    "pos_emb.weight") != NULL, "%s", err.msg);
	}
	/* a shape that does not fit the config */
	over.d_ff = 80;
	CHECK(open_variant(p, &over, &err) == NULL);
	if (write_variant(w, p, NULL, NULL, NULL) == 0) {
		CHECK(open_variant(p, &over, &err) == NULL);
		CHECK_MSG(strstr(err.msg, "layers.0.ffn.w1.weight: expected "
		    "shape [80, 32], got [64, 32]") != NULL, "%s", err.msg);
		/* a config with fewer layers leaves tensors unexpected */
		over.d_ff = 0;
		over.num_layers = 1;
		CHECK(open_variant(p, &over, &err) == NULL);
		CHECK_MSG(strstr(err.msg, "unexpected tensors: layers.1.") !=
		    NULL, "%s", err.msg);
		/* no config: read off the shapes, except num_heads */
		{
			struct lm_model_source src = { 0 };

			src.checkpoint = p;
			src.cfg.num_heads = 4;
			src.cfg.context_length = 64;
			m = model_open(&src, &err);
			CHECK_MSG(m != NULL, "%s", err.msg);
			if (m != NULL)
				CHECK(model_config(m)->d_ff == 64 &&
				    model_config(m)->num_layers == 2 &&
				    model_config(m)->vocab_size == 257);
			model_close(m);
			src.cfg.num_heads = 0;
			CHECK(model_open(&src, &err) == NULL);
			CHECK(strstr(err.msg, "num_heads") != NULL);
		}
	}
	/* NaN: loads, with a warning naming the tensor */
	if (write_variant(w, p, NULL, NULL, "layers.0.attn.v_proj.weight") ==
	    0) {
		m = open_variant(p, NULL, &err);
		CHECK_MSG(m != NULL, "%s", err.msg);
		if (m != NULL)
			CHECK(model_warnings(m) != NULL && strstr(
			    model_warnings(m), "layers.0.attn.v_proj.weight"));
		model_close(m);
	}
	weights_close(w);
	unlink(p);
	free(p);
}

/* Each variant fixture is recognised as the variant it is. */
static void
test_variant_configs(void)
{
	static const struct {
		const char	*dir;
		int		 no_norm, post, no_rope, ffn, pos, final;
	} v[] = {
		{ "models/tiny", LM_NO, LM_NO, LM_NO, LM_FFN_SWIGLU, LM_NO, 1 },
		{ "models/nonorm", LM_YES, LM_NO, LM_NO, LM_FFN_SWIGLU, LM_NO,
		    0 },
		{ "models/nonorm-final", LM_YES, LM_NO, LM_NO, LM_FFN_SWIGLU,
		    LM_NO, 1 },
		{ "models/postnorm", LM_NO, LM_YES, LM_NO, LM_FFN_SWIGLU, LM_NO,
		    1 },
		{ "models/nope", LM_NO, LM_NO, LM_YES, LM_FFN_SWIGLU, LM_NO, 1 },
		{ "models/silu", LM_NO, LM_NO, LM_NO, LM_FFN_SILU, LM_NO, 1 },
		{ "models/cs336-2024", LM_NO, LM_NO, LM_YES, LM_FFN_GELU,
		    LM_YES, 1 },
	};

	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		struct lm_model *m = open_dir(v[i].dir);
		const struct lm_config *c;
		size_t d, f, per;

		if (m == NULL)
			continue;
		c = model_config(m);
		CHECK_MSG(c->remove_rmsnorm == v[i].no_norm &&
		    c->use_post_norm == v[i].post &&
		    c->remove_rope == v[i].no_rope && c->ffn_type == v[i].ffn &&
		    c->pos_emb == v[i].pos, "%s: %d %d %d %d %d", v[i].dir,
		    c->remove_rmsnorm, c->use_post_norm, c->remove_rope,
		    c->ffn_type, c->pos_emb);
		/* the training-only keys of the fixtures pass in silence */
		CHECK_MSG(model_warnings(m) == NULL, "%s: %s", v[i].dir,
		    model_warnings(m));
		d = (size_t)c->d_model;
		f = (size_t)c->d_ff;
		per = 4 * d * d + (v[i].ffn == LM_FFN_SWIGLU ? 3 : 2) * d * f +
		    (v[i].no_norm == LM_YES ? 0 : 2) * d;
		CHECK_MSG(model_weight_bytes(m) == ((size_t)c->num_layers * per +
		    (v[i].final ? d : 0) + (size_t)c->vocab_size * d) *
		    sizeof(float), "%s: weight bytes", v[i].dir);
		model_close(m);
	}
}

/* Logits of two models on the same tokens, which must be equal. */
static void
check_same_logits(struct lm_model *a, struct lm_model *b, const char *what)
{
	const struct lm_config *c = model_config(a);
	size_t V = (size_t)c->vocab_size, n = (size_t)c->context_length;
	float *la = xcalloc(n * V, sizeof *la), *lb = xcalloc(n * V,
	    sizeof *lb);
	int32_t *t = xcalloc(n, sizeof *t);
	struct lm_cache *ka = model_cache_new(a, 1, 0, NULL);
	struct lm_cache *kb = model_cache_new(b, 1, 0, NULL);
	struct err err;

	for (size_t i = 0; i < n; i++)
		t[i] = (int32_t)((i * 7 + 3) % V);
	CHECK(model_prefill(a, ka, 0, t, n, la, 1, &err) == 0);
	CHECK(model_prefill(b, kb, 0, t, n, lb, 1, &err) == 0);
	CHECK_MSG(memcmp(la, lb, n * V * sizeof *la) == 0, "%s: logits differ",
	    what);
	model_cache_free(ka);
	model_cache_free(kb);
	free(t);
	free(la);
	free(lb);
}

/*
 * What `lmsh convert` does: model_save() and model_config_save() write a
 * variant that reopens as the same variant with the same logits, and the
 * config names it with the CS336 keys.
 */
static void
test_variant_save(const char *tmp)
{
	static const char *dirs[] = { "models/nonorm", "models/postnorm",
	    "models/nope", "models/silu", "models/cs336-2024" };
	static const char *keys[] = { "\"remove_rmsnorm\": true",
	    "\"use_post_norm\": true", "\"remove_rope\": true",
	    "\"ffn_type\": \"silu\"", "\"ffn_type\": \"gelu\"" };
	char *cp = xasprintf("%s/config.json", tmp);
	char *wp = xasprintf("%s/model.safetensors", tmp);
	struct lm_model_source src = { 0 };
	struct err err;

	src.dir = tmp;
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		struct lm_model *a = open_dir(dirs[i]), *b;
		char *js, *text = NULL;
		size_t len;

		if (a == NULL)
			continue;
		js = model_config_json(model_config(a));
		CHECK_MSG(strstr(js, keys[i]) != NULL, "%s", js);
		CHECK(model_save(a, wp, WEIGHTS_F32, &err) == 0);
		CHECK(model_config_save(model_config(a), cp, &err) == 0);
		CHECK(util_read_file(cp, &text, &len, &err) == 0);
		CHECK_MSG(text != NULL && strstr(text, keys[i]) != NULL, "%s",
		    text);
		b = model_open(&src, &err);
		CHECK_MSG(b != NULL, "%s: %s", dirs[i], err.msg);
		if (b != NULL) {
			char *js2 = model_config_json(model_config(b));

			CHECK_MSG(strcmp(js, js2) == 0, "%s / %s", js, js2);
			check_same_logits(a, b, dirs[i]);
			free(js2);
		}
		model_close(b);
		model_close(a);
		free(text);
		free(js);
	}
	/* a default model's config reads as it always has */
	{
		struct lm_config c = { 257, 64, 32, 2, 4, 64,
		    .rope_theta = 10000 };
		char *js = model_config_json(&c);

		CHECK_MSG(strcmp(js, "{\"vocab_size\": 257, \"context_length\""
		    ": 64, \"d_model\": 32, \"num_layers\": 2, \"num_heads\": "
		    "4, \"d_ff\": 64, \"rope_theta\": 10000}") == 0, "%s", js);
		free(js);
	}
	unlink(cp);
	unlink(wp);
	free(cp);
	free(wp);
}

/* Open the weights of fixture dir with the config text cfg; NULL or err. */
static struct lm_model *
open_with_config(const char *tmp, const char *dir, const char *cfg,
    struct err *err)
{
	struct lm_model_source src = { 0 };
	struct lm_model *m;
	struct err e2;
	char *c = xasprintf("%s/v.json", tmp);
	char *w = xasprintf("%s/%s/model.safetensors", check_data_dir(), dir);

	CHECK(util_write_file_atomic(c, cfg, strlen(cfg), &e2) == 0);
	src.checkpoint = w;
	src.config_path = c;
	m = model_open(&src, err);
	unlink(c);
	free(c);
	free(w);
	return m;
}

#define SHAPE16 "\"vocab_size\": 64, \"context_length\": 24, " \
	"\"d_model\": 16, \"num_layers\": 2, \"num_heads\": 2"

/* Config switches the tensors contradict, unsupported values, odd keys. */
static void
test_variant_errors(const char *tmp)
{
	static const struct {
		const char	*dir;
		const char	*cfg;
		const char	*want[2];	/* in the error */
	} bad[] = {
		{ "models/tiny", "{\"num_heads\": 4, \"context_length\": 64, "
		    "\"remove_rmsnorm\": true}", { "remove_rmsnorm: true",
		    "has layers.0.ln1.weight" } },
		{ "models/nonorm", "{" SHAPE16 ", \"remove_rmsnorm\": false}",
		    { "remove_rmsnorm: false", "has no layers.0.ln1.weight" } },
		{ "models/tiny", "{\"num_heads\": 4, \"context_length\": 64, "
		    "\"ffn_type\": \"silu\"}", { "ffn_type: \"silu\"",
		    "has layers.0.ffn.w3.weight" } },
		{ "models/silu", "{" SHAPE16 ", \"ffn_type\": null}",
		    { "ffn_type: \"swiglu\"", "has no layers.0.ffn.w3.weight" } },
		{ "models/silu", "{" SHAPE16 ", \"ffn_type\": \"relu\"}",
		    { "ffn_type \"relu\" is not supported", "(swiglu, silu or "
		    "gelu)" } },
		{ "models/nope", "{" SHAPE16 ", \"remove_rope\": \"yes\"}",
		    { "remove_rope: not true or false", "v.json" } },
	};
	struct lm_model *m;
	struct err err;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		m = open_with_config(tmp, bad[i].dir, bad[i].cfg, &err);
		CHECK_MSG(m == NULL && strstr(err.msg, bad[i].want[0]) &&
		    strstr(err.msg, bad[i].want[1]), "%s: %s", bad[i].cfg,
		    m == NULL ? err.msg : "loaded");
		model_close(m);
	}
	/* unknown keys: one warning naming each; training keys: silence */
	m = open_with_config(tmp, "models/silu", "{" SHAPE16 ", \"lr\": 1e-3,"
	    " \"weight_decay\": 0.1, \"tie_embeddings\": true, "
	    "\"silu_d_ff\": 64}", &err);
	CHECK_MSG(m != NULL, "%s", err.msg);
	if (m != NULL) {
		const char *w = model_warnings(m);

		CHECK_MSG(w != NULL && strstr(w, "unknown key "
		    "\"tie_embeddings\" ignored") && strstr(w, "unknown key "
		    "\"silu_d_ff\" ignored") && !strstr(w, "\"lr\"") &&
		    !strstr(w, "weight_decay") && !strchr(w, '\n'), "%s", w);
		CHECK(model_config(m)->ffn_type == LM_FFN_SILU);
	}
	model_close(m);
	/* no config: norms, w3 and positions read off the tensors */
	{
		struct lm_model_source src = { 0 };
		char *w = xasprintf("%s/models/cs336-2024/model.safetensors",
		    check_data_dir());

		src.checkpoint = w;
		m = model_open(&src, &err);
		CHECK(m == NULL);
		CHECK_MSG(m == NULL && strstr(err.msg, "num_heads unknown") &&
		    strstr(err.msg, "--num_heads N, or --config FILE") &&
		    !strstr(err.msg, "context_length"), "%s", err.msg);
		src.cfg.num_heads = 2;
		m = model_open(&src, &err);
		CHECK_MSG(m != NULL, "%s", err.msg);
		if (m != NULL)
			check_fixture("models/cs336-2024", m, "ref-logits.bin");
		model_close(m);
		free(w);
		w = xasprintf("%s/models/nonorm/model.safetensors",
		    check_data_dir());
		src.checkpoint = w;
		src.cfg.num_heads = 0;
		m = model_open(&src, &err);
		CHECK(m == NULL);
		CHECK_MSG(m == NULL && strstr(err.msg, "context_length, "
		    "num_heads unknown") && strstr(err.msg, "--context_length N "
		    "--num_heads N"), "%s", err.msg);
		src.cfg.num_heads = 2;
		src.cfg.context_length = 24;
		m = model_open(&src, &err);
		CHECK_MSG(m != NULL, "%s", err.msg);
		if (m != NULL)
			check_fixture("models/nonorm", m, "ref-logits.bin");
		model_close(m);
		free(w);
	}
	/* a recorded config (replay) brings the switches tensors cannot */
	{
		struct lm_model_source src = { 0 };
		char *w = xasprintf("%s/models/postnorm/model.safetensors",
		    check_data_dir());

		src.checkpoint = w;
		src.config_json = "{" SHAPE16 ", \"d_ff\": 32, "
		    "\"use_post_norm\": true}";
		m = model_open(&src, &err);
		CHECK_MSG(m != NULL, "%s", err.msg);
		if (m != NULL) {
			CHECK(model_config(m)->use_post_norm == LM_YES);
			check_fixture("models/postnorm", m, "ref-logits.bin");
		}
		model_close(m);
		src.config_json = "{" SHAPE16 ", \"remove_rmsnorm\": true}";
		CHECK(model_open(&src, &err) == NULL);
		CHECK_MSG(strstr(err.msg, "the recorded config says "
		    "remove_rmsnorm: true"), "%s", err.msg);
		free(w);
	}
}

/*
 * The CS336 2024 test checkpoint: recognised by its tensors, and its
 * logits match the generator's PyTorch reference.
 */
static void
test_cs336_2024(void)
{
	const char *src = getenv("LMSH_SRCDIR");
	struct lm_model_source s = { 0 };
	struct lm_model *m;
	struct err err;
	char *p;

	p = xasprintf("%s/../shared/data/cs336-2024-checkpoint/"
	    "transformer_lm_weights.pt", src != NULL ? src : "..");
	if (access(p, R_OK) != 0) {
		CHECK_SKIP("%s absent", p);
		free(p);
		return;
	}
	s.checkpoint = p;
	s.cfg.num_heads = 2;
	m = model_open(&s, &err);
	CHECK_MSG(m != NULL, "%s", err.msg);
	if (m != NULL) {
		const struct lm_config *c = model_config(m);

		CHECK(c->pos_emb == LM_YES && c->remove_rope == LM_YES &&
		    c->ffn_type == LM_FFN_GELU && c->remove_rmsnorm == LM_NO &&
		    c->use_post_norm == LM_NO && c->context_length == 64);
		check_fixture("models/cs336-2024-real", m, "ref-logits.bin");
		model_set_threads(m, 1);
		check_fixture("models/cs336-2024-real", m, "ref-logits.bin");
	}
	model_close(m);
	free(p);
}

int
main(void)
{
	char tmp[] = "/tmp/test-model.XXXXXX";

	if (mkdtemp(tmp) == NULL)
		return 99;
	test_config(tmp);
	test_random();
	test_fixtures();
	test_kernels();
	test_bf16_as_f32(tmp);
	test_variant_bf16(tmp);
	test_bad_tensors(tmp);
	test_variant_configs();
	test_variant_save(tmp);
	test_variant_errors(tmp);
	test_cs336_2024();
	{
		char *p = xasprintf("%s/c.json", tmp);

		unlink(p);
		free(p);
	}
	rmdir(tmp);
	CHECK_RESULT();
}
