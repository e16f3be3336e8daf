/*
 * cli_bench.c: `lmsh bench`, the speed of the model engine on this machine.
 *
 * For each shape it builds a random-weight model and times prefill of a
 * full context and decode steps at batch 1, 8 and 32 (median of several
 * runs), next to the machine's own limits measured in the same run: memory
 * read bandwidth (the fastest of several streaming sums over a buffer far
 * larger than the caches, on one thread and on all) and the BLIS sgemm rate
 * (a square GEMM on the same threads).  The ratios say how close the
 * engine gets: decode at batch 1 reads every weight once per token, so its
 * limit is bandwidth; prefill and batched decode are GEMM-shaped, so theirs
 * is the sgemm rate.  The idle share of the CPUs is measured first, since
 * on a busy machine every figure understates.  The model is also saved,
 * to time its load (open to first token) and to decode it as bf16.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "blas.h"
#include "cli.h"
#include "model.h"
#include "options.h"
#include "sampler.h"
#include "util.h"
#include "weights.h"

#define BENCH_BW_BYTES	(512u << 20)	/* far beyond any L3 */
#define BENCH_PROMPT	16		/* tokens before decoding */

struct bench_plan {
	int	runs;		/* repetitions; the median is reported */
	int	steps;		/* decode steps per run */
	size_t	gemm_n;		/* size of the square sgemm */
};

static int
bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
bench_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* --- the machine's limits --------------------------------------------------- */

/*
 * GB/s of a threaded streaming read of `bytes`, each thread summing its
 * own part (which it wrote first, so it lies near it): the fastest of
 * every way blas_stream_sum() reads, over runs, since the probe must find
 * what the machine sustains, not an average disturbed by others.  A size
 * beyond the caches gives the memory's rate; the size of a model's weights
 * gives the rate a decode step could read them at, from wherever they
 * settle (a large L3 holds a small model).
 */
static double
bench_bandwidth(int nt, size_t bytes, int runs)
{
	size_t n = bytes / sizeof(float);
	size_t reps = bytes >= BENCH_BW_BYTES / 2 ? 1 : BENCH_BW_BYTES / 2 /
	    (bytes + 1);
	float *p = malloc(n * sizeof *p);
	double best = 0, sink = 0;

	if (p == NULL)
		return 0;
	#pragma omp parallel for num_threads(nt) schedule(static)
	for (size_t i = 0; i < n; i++)
		p[i] = (float)(i & 7);
	for (int r = 0; r < runs + 1; r++)
		for (int how = 0; how < BLAS_STREAM__N; how++) {
			double t0 = util_now(), s = 0, gb;

			/* a small size is read again and again, as decode
			 * reads it, so that a run takes long enough to time */
			#pragma omp parallel for num_threads(nt) reduction(+:s)
			for (int th = 0; th < nt; th++) {
				size_t a = n / (size_t)nt * (size_t)th;
				size_t b = th == nt - 1 ? n : a + n / (size_t)nt;

				for (size_t k = 0; k < reps; k++)
					s += blas_stream_sum(p + a, b - a,
					    (enum blas_stream)how);
			}
			gb = (double)bytes * (double)reps / (util_now() - t0) /
			    1e9;
			if (gb > best)
				best = gb;
			sink += s;
		}
	free(p);
	/* Keep the sums alive without printing them. */
	return best + (sink < 0 ? 1e-30 : 0);
}

/* GFLOPS of a square BLIS sgemm (C = A B^T, the layout the model uses). */
static double
bench_sgemm(int nt, size_t n, int runs)
{
	float *a = malloc(n * n * sizeof *a), *b = malloc(n * n * sizeof *b);
	float *c = malloc(n * n * sizeof *c);
	double t[16], rate = 0;

	if (a != NULL && b != NULL && c != NULL) {
		for (size_t i = 0; i < n * n; i++) {
			a[i] = (float)(i % 13) * 0.01f;
			b[i] = (float)(i % 7) * 0.01f;
		}
		blas_gemm(nt, 1, n, n, n, 1, a, n, b, n, 0, c, n);
		for (int r = 0; r < runs; r++) {
			double t0 = util_now();

			blas_gemm(nt, 1, n, n, n, 1, a, n, b, n, 0, c, n);
			t[r] = 2.0 * (double)n * (double)n * (double)n /
			    (util_now() - t0) / 1e9;
		}
		rate = bench_median(t, runs);
	}
	free(a);
	free(b);
	free(c);
	return rate;
}

/* --- memory ---------------------------------------------------------------- */

/* Reset the peak-RSS mark (Linux); 0 if it worked. */
static int
bench_reset_peak(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");
	int rc;

	if (f == NULL)
		return -1;
	rc = fputs("5", f) == EOF ? -1 : 0;
	return fclose(f) == EOF ? -1 : rc;
}

/* Peak RSS in bytes since the last reset (VmHWM), else ru_maxrss. */
static size_t
bench_peak_rss(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long kb = 0;
	struct rusage ru;

	if (f != NULL) {
		while (fgets(line, sizeof line, f) != NULL)
			if (sscanf(line, "VmHWM: %lu kB", &kb) == 1)
				break;
		fclose(f);
		if (kb > 0)
			return (size_t)kb << 10;
	}
	getrusage(RUSAGE_SELF, &ru);
	return (size_t)ru.ru_maxrss << 10;
}

/* Busy and total jiffies of all CPUs so far (/proc/stat); -1 if unknown. */
static int
bench_cpu_times(unsigned long long *idle, unsigned long long *total)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	int n;

	if (f == NULL)
		return -1;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
	    &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n < 4)
		return -1;
	*idle = v[3] + v[4];
	*total = 0;
	for (int i = 0; i < 8; i++)
		*total += v[i];
	return 0;
}

/*
 * Print the share of CPU time idle over half a second and say plainly when
 * the machine is busy: threads that wait at barriers for a descheduled
 * peer, and a bandwidth shared with others, make every figure understate.
 */
static void
bench_check_idle(void)
{
	unsigned long long i0, t0, i1, t1;
	double idle;

	if (bench_cpu_times(&i0, &t0) == -1)
		return;
	usleep(500000);
	if (bench_cpu_times(&i1, &t1) == -1 || t1 <= t0)
		return;
	idle = 100.0 * (double)(i1 - i0) / (double)(t1 - t0);
	printf("idle CPU before the runs: %.0f%%\n", idle);
	if (idle < 85)
		printf("note: this machine is busy; other processes take "
		    "cores and bandwidth, so every figure below understates "
		    "what it does when idle\n");
}

/* --- the model ------------------------------------------------------------- */

/* FLOPs of the linear layers for one token, lm_head excluded. */
static double
bench_layer_flops(const struct lm_config *c)
{
	double d = c->d_model, f = c->d_ff;

	return 2.0 * c->num_layers * (4 * d * d + 3 * d * f);
}

/* Bytes of the weights a decode step reads (norms and embeddings
 * excluded), at es bytes a weight. */
static size_t
bench_weight_bytes(const struct lm_config *c, size_t es)
{
	return (size_t)(bench_layer_flops(c) / 2 + (double)c->vocab_size *
	    c->d_model) * es;
}

/* Attention FLOPs of a token at position p (QK and PV). */
static double
bench_att_flops(const struct lm_config *c, double p)
{
	return 4.0 * c->num_layers * c->d_model * (p + 1);
}

static int32_t
bench_token(const struct lm_config *c, size_t i)
{
	return (int32_t)((i * 7919 + 13) % (size_t)c->vocab_size);
}

/* Seconds for a prefill of the whole context; median of runs. */
static int
bench_prefill(struct lm_model *m, const struct bench_plan *pl, double *sec,
    struct err *err)
{
	const struct lm_config *c = model_config(m);
	size_t n = (size_t)c->context_length;
	int32_t *t = xcalloc(n, sizeof *t);
	float *lg = xcalloc((size_t)c->vocab_size, sizeof *lg);
	struct lm_cache *kc = model_cache_new(m, 1, 0, err);
	double v[16];
	int rc = -1;

	if (kc == NULL)
		goto out;
	for (size_t i = 0; i < n; i++)
		t[i] = bench_token(c, i);
	for (int r = 0; r < pl->runs; r++) {
		double t0;

		model_cache_reset(kc, 0);
		t0 = util_now();
		if (model_prefill(m, kc, 0, t, n, lg, 0, err) == -1)
			goto out;
		v[r] = util_now() - t0;
	}
	*sec = bench_median(v, pl->runs);
	rc = 0;
out:
	model_cache_free(kc);
	free(lg);
	free(t);
	return rc;
}

/* Seconds per decode step of nb sequences after a short prompt. */
static int
bench_decode(struct lm_model *m, const struct bench_plan *pl, int nb,
    double *sec, size_t *kv_bytes, struct err *err)
{
	const struct lm_config *c = model_config(m);
	int n_ctx = BENCH_PROMPT + pl->steps + 1;
	int32_t pr[BENCH_PROMPT], *tok = xcalloc((size_t)nb, sizeof *tok);
	int *seqs = xcalloc((size_t)nb, sizeof *seqs);
	float *lg = calloc((size_t)nb * (size_t)c->vocab_size, sizeof *lg);
	struct lm_cache *kc;
	double v[16];
	int rc = -1;

	if (n_ctx > c->context_length)
		n_ctx = c->context_length;
	if ((kc = model_cache_new(m, nb, n_ctx, err)) == NULL || lg == NULL)
		goto out;
	*kv_bytes = model_cache_bytes(kc);
	for (int r = 0; r < pl->runs; r++) {
		double t0;
		int steps = n_ctx - BENCH_PROMPT;

		for (int b = 0; b < nb; b++) {
			for (int i = 0; i < BENCH_PROMPT; i++)
				pr[i] = bench_token(c, (size_t)(b * 31 + i));
			seqs[b] = b;
			model_cache_reset(kc, b);
			if (model_prefill(m, kc, b, pr, BENCH_PROMPT, NULL, 0,
			    err) == -1)
				goto out;
		}
		t0 = util_now();
		for (int s = 0; s < steps; s++) {
			for (int b = 0; b < nb; b++)
				tok[b] = bench_token(c, (size_t)(s * 17 + b));
			if (model_decode(m, kc, seqs, tok, nb, lg, err) == -1)
				goto out;
		}
		v[r] = (util_now() - t0) / steps;
	}
	*sec = bench_median(v, pl->runs);
	rc = 0;
out:
	model_cache_free(kc);
	free(lg);
	free(seqs);
	free(tok);
	return rc;
}

/*
 * Seconds per sampler_pick() at the default settings (temperature 0.8,
 * top-p 0.9) on logits the model really produced, to compare with a decode
 * step: the sampler's share of a step is the figure that matters.
 */
static int
bench_sampler(struct lm_model *m, const struct bench_plan *pl, double *sec,
    struct err *err)
{
	const struct lm_config	*c = model_config(m);
	struct sampler_params	 sp;
	struct sampler		*s = sampler_new(c->vocab_size);
	struct lm_cache		*kc = model_cache_new(m, 1, BENCH_PROMPT, err);
	float			*lg = calloc((size_t)c->vocab_size, sizeof *lg);
	int32_t			 pr[BENCH_PROMPT];
	double			 v[16];
	int			 rc = -1, picks = pl->steps * 4;

	if (kc == NULL || lg == NULL)
		goto out;
	for (int i = 0; i < BENCH_PROMPT; i++)
		pr[i] = bench_token(c, (size_t)i);
	if (model_prefill(m, kc, 0, pr, BENCH_PROMPT, lg, 0, err) == -1)
		goto out;
	sampler_params_default(&sp);
	for (int r = 0; r < pl->runs; r++) {
		struct lm_rng	rng;
		double		t0;
		float		prob;

		rng_seed(&rng, (uint64_t)r, 0);
		t0 = util_now();
		for (int k = 0; k < picks; k++)
			(void)sampler_pick(s, &sp, lg, NULL, 0, &rng, &prob);
		v[r] = (util_now() - t0) / picks;
	}
	*sec = bench_median(v, pl->runs);
	rc = 0;
out:
	free(lg);
	model_cache_free(kc);
	sampler_free(s);
	return rc;
}

/* --- the model as saved ---------------------------------------------------- */

/* Save m as a model directory dir (config.json, model.safetensors). */
static int
bench_save(struct lm_model *m, const char *dir, int dtype, struct err *err)
{
	char *p;
	int rc;

	if (mkdir(dir, 0700) == -1) {
		err_set(err, "%s: cannot create", dir);
		return -1;
	}
	p = xasprintf("%s/config.json", dir);
	rc = model_config_save(model_config(m), p, err);
	free(p);
	if (rc == 0) {
		p = xasprintf("%s/model.safetensors", dir);
		rc = model_save(m, p, dtype, err);
		free(p);
	}
	return rc;
}

static void
bench_unsave(const char *dir)
{
	char *p = xasprintf("%s/config.json", dir);

	unlink(p);
	free(p);
	p = xasprintf("%s/model.safetensors", dir);
	unlink(p);
	free(p);
	rmdir(dir);
}

/* Seconds from model_open() to the logits of a one-token prompt; median
 * of runs (the file is in the page cache, having just been written). */
static int
bench_load(const char *dir, int nt, const struct bench_plan *pl, double *sec,
    struct err *err)
{
	struct lm_model_source src = { 0 };
	double v[16];

	src.dir = dir;
	for (int r = 0; r < pl->runs; r++) {
		double t0 = util_now();
		struct lm_model *m = model_open(&src, err);
		struct lm_cache *kc;
		float *lg;
		int32_t t = 1;
		int rc;

		if (m == NULL)
			return -1;
		model_set_threads(m, nt);
		lg = xcalloc((size_t)model_config(m)->vocab_size, sizeof *lg);
		kc = model_cache_new(m, 1, BENCH_PROMPT, err);
		rc = kc == NULL ? -1 : model_prefill(m, kc, 0, &t, 1, lg, 0,
		    err);
		v[r] = util_now() - t0;
		model_cache_free(kc);
		free(lg);
		model_close(m);
		if (rc == -1)
			return -1;
	}
	*sec = bench_median(v, pl->runs);
	return 0;
}

/*
 * Save the model as fp32 and as bf16, time the load of the first and
 * decode at batch 1 with the second (2 bytes a weight read as stored), in
 * a temporary directory that is removed again.
 */
static int
bench_saved(struct lm_model *m, int nt, const struct bench_plan *pl,
    struct err *err)
{
	const char *tmp = getenv("TMPDIR");
	char *base = xasprintf("%s/lmsh-bench.XXXXXX", tmp != NULL &&
	    *tmp != '\0' ? tmp : "/tmp");
	char *d32 = NULL, *d16 = NULL;
	struct lm_model_source src = { 0 };
	struct lm_model *mb = NULL;
	double load, sec, rss0, bw;
	size_t kv;
	int rc = -1;

	if (mkdtemp(base) == NULL) {
		err_set(err, "%s: cannot create", base);
		free(base);
		return -1;
	}
	d32 = xasprintf("%s/f32", base);
	d16 = xasprintf("%s/bf16", base);
	if (bench_save(m, d32, WEIGHTS_F32, err) == -1 ||
	    bench_load(d32, nt, pl, &load, err) == -1)
		goto out;
	printf("  load (open to first token, from the page cache): %.3f s\n",
	    load);
	bench_unsave(d32);
	if (bench_save(m, d16, WEIGHTS_BF16, err) == -1)
		goto out;
	/* half the bytes may settle nearer: a probe of their own size */
	bw = bench_bandwidth(nt, bench_weight_bytes(model_config(m), 2),
	    pl->runs);
	bench_reset_peak();
	rss0 = (double)bench_peak_rss();
	src.dir = d16;
	if ((mb = model_open(&src, err)) == NULL)
		goto out;
	model_set_threads(mb, nt);
	if (bench_decode(mb, pl, 1, &sec, &kv, err) == -1)
		goto out;
	printf("  bf16 (%s): decode batch  1: %7.0f tok/s, %6.1f GB/s of "
	    "weights = %3.0f%% of a stream of that size (%.1f GB/s); RSS "
	    "%.1f MiB for %.1f MiB of weights\n", model_engine_desc(mb), 1 / sec,
	    (double)model_weight_bytes(mb) / sec / 1e9,
	    100 * (double)model_weight_bytes(mb) / sec / 1e9 / bw, bw,
	    ((double)bench_peak_rss() - rss0) / 1048576,
	    (double)model_weight_bytes(mb) / 1048576);
	rc = 0;
out:
	model_close(mb);
	bench_unsave(d32);
	bench_unsave(d16);
	rmdir(base);
	free(d32);
	free(d16);
	free(base);
	return rc;
}

static void
bench_print_config(const struct lm_config *c)
{
	printf("shape: d_model %d, d_ff %d, %d layers, %d heads, vocab %d, "
	    "context %d\n", c->d_model, c->d_ff, c->num_layers, c->num_heads,
	    c->vocab_size, c->context_length);
}

/* Time one shape and print its figures; -1 after printing an error. */
static int
bench_shape(const struct lm_config *cfg, int nt, const struct bench_plan *pl,
    double bw, double gf)
{
	static const int batches[] = { 1, 8, 32 };
	struct lm_model *m;
	struct err err;
	double sec, pf_flops, wbytes, rate, tok_s, all, base, step1 = 0, ss;
	double bwm;
	size_t kv = 0, kv_max, rss;
	const struct lm_config *c;

	/* before the RSS mark: the probe's buffer is not the model's */
	bwm = bench_bandwidth(nt, bench_weight_bytes(cfg, 4), pl->runs);
	bench_reset_peak();
	base = (double)bench_peak_rss();
	if ((m = model_new_random(cfg, 1, &err)) == NULL) {
		cli_error("bench: %s", err.msg);
		return -1;
	}
	model_set_threads(m, nt);
	c = model_config(m);
	bench_print_config(c);
	wbytes = (double)model_weight_bytes(m);
	printf("  weights: %.1f MiB read per decode step (embeddings "
	    "excluded); engine: %s\n", wbytes / 1048576,
	    model_engine_desc(m));
	printf("  stream of that size, warm, as decode reads it: %.1f GB/s "
	    "on %d thread%s (%.0f%% of the memory rate)\n", bwm, nt,
	    nt == 1 ? "" : "s", 100 * bwm / bw);

	/* prefill */
	if (bench_prefill(m, pl, &sec, &err) == -1)
		goto fail;
	kv_max = (size_t)c->num_layers * (size_t)c->context_length *
	    (size_t)c->d_model * 2 * sizeof(float);
	pf_flops = bench_layer_flops(c) * c->context_length +
	    2.0 * c->vocab_size * c->d_model;
	for (int i = 0; i < c->context_length; i++)
		pf_flops += bench_att_flops(c, i);
	rate = pf_flops / sec / 1e9;
	printf("  prefill %d tokens: %.0f tok/s, %.1f GFLOPS = %.0f%% of "
	    "sgemm\n", c->context_length, c->context_length / sec, rate,
	    100 * rate / gf);

	/* decode */
	for (size_t i = 0; i < sizeof batches / sizeof batches[0]; i++) {
		int nb = batches[i];
		double flops, pos = BENCH_PROMPT + pl->steps / 2.0;

		if (bench_decode(m, pl, nb, &sec, &kv, &err) == -1)
			goto fail;
		if (kv > kv_max)
			kv_max = kv;
		tok_s = nb / sec;
		if (nb == 1)
			step1 = sec;
		flops = bench_layer_flops(c) + 2.0 * c->vocab_size *
		    c->d_model + bench_att_flops(c, pos);
		printf("  decode batch %2d: %7.0f tok/s, %6.1f GB/s of weights "
		    "= %3.0f%% of the stream, %6.1f GFLOPS = %3.0f%% of "
		    "sgemm\n", nb, tok_s, wbytes / sec / 1e9, 100 * wbytes /
		    sec / 1e9 / bwm, flops * tok_s / 1e9, 100 * flops *
		    tok_s / 1e9 / gf);
	}
	if (bench_sampler(m, pl, &ss, &err) == -1)
		goto fail;
	printf("  sampler (temperature 0.8, top-p 0.9, vocab %d): %.1f us per "
	    "token = %.1f%% of a batch-1 decode step\n", c->vocab_size,
	    ss * 1e6, 100 * ss / step1);
	/* All weights are resident, embeddings included. */
	rss = bench_peak_rss();
	all = wbytes + (double)c->vocab_size * c->d_model * sizeof(float);
	printf("  peak RSS: %.1f MiB (%.1f MiB before the model); weights "
	    "%.1f MiB + largest KV cache %.1f MiB = %.1f MiB; RSS over that: "
	    "%+.0f%%, %+.0f%% without the process's own start-up memory\n",
	    rss / 1048576.0, base / 1048576.0, all / 1048576,
	    kv_max / 1048576.0, (all + (double)kv_max) / 1048576,
	    100 * ((double)rss / (all + (double)kv_max) - 1),
	    100 * (((double)rss - base) / (all + (double)kv_max) - 1));
	if (bench_saved(m, nt, pl, &err) == -1)
		goto fail;
	model_close(m);
	return 0;
fail:
	cli_error("bench: %s", err.msg);
	model_close(m);
	return -1;
}

static int
bench_main(int argc, char **argv)
{
	struct lm_options o;
	struct lm_config shapes[2] = {
		{ 32000, 256, 288, 6, 6, 768, .rope_theta = 10000 },
		{ 32000, 1024, 768, 12, 12, 2048, .rope_theta = 10000 },
	};
	struct lm_config quick = { 4096, 128, 128, 4, 4, 384,
	    .rope_theta = 10000 };
	struct bench_plan pl = { 5, 48, 1024 };
	struct lm_config ovc;
	const struct lm_config *ov = &ovc;
	int ind, rc, nt, n_shapes = 2, quick_run;
	double bw, bw1, gf;

	if ((rc = cli_parse(&cli_cmd_bench, &o, argc, argv, &ind)) != -1)
		return rc;
	/* all bench needs of the options */
	ovc = o.src->cfg;
	quick_run = o.quick;
	nt = o.threads;
	options_fini(&o);
	if (ind != argc) {
		cli_error("bench: no operands (see lmsh bench --help)");
		return CLI_EXIT_USAGE;
	}
#ifdef _OPENMP
	nt = nt > 0 ? nt : omp_get_max_threads();
#else
	nt = 1;
#endif
	if (quick_run) {
		shapes[0] = quick;
		n_shapes = 1;
		pl.runs = 3;
		pl.steps = 16;
		pl.gemm_n = 512;
	}
	/* Shape flags change the first shape and run only it. */
	if (ov->vocab_size || ov->context_length || ov->d_model ||
	    ov->num_layers || ov->num_heads || ov->d_ff) {
		n_shapes = 1;
		if (ov->vocab_size)
			shapes[0].vocab_size = ov->vocab_size;
		if (ov->context_length)
			shapes[0].context_length = ov->context_length;
		if (ov->d_model)
			shapes[0].d_model = ov->d_model;
		if (ov->num_layers)
			shapes[0].num_layers = ov->num_layers;
		if (ov->num_heads)
			shapes[0].num_heads = ov->num_heads;
		if (ov->d_ff)
			shapes[0].d_ff = ov->d_ff;
	}
	printf("threads: %d; BLIS kernels: native %s, chosen %s; "
	    "matrix-vector kernel: %s\n", nt, blas_arch_native(),
	    blas_arch_chosen(), blas_mv_name());
	bench_check_idle();
	bw1 = bench_bandwidth(1, BENCH_BW_BYTES, pl.runs);
	bw = nt > 1 ? bench_bandwidth(nt, BENCH_BW_BYTES, pl.runs) : bw1;
	gf = bench_sgemm(nt, pl.gemm_n, pl.runs);
	printf("machine: memory read (%u MiB, beyond the caches) %.1f GB/s "
	    "on 1 thread, %.1f on %d (fastest stream of %d runs); BLIS sgemm "
	    "%zu^3 %.1f GFLOPS (median)\n", BENCH_BW_BYTES >> 20, bw1, bw,
	    nt, pl.runs + 1, pl.gemm_n, gf);
	fflush(stdout);
	for (int i = 0; i < n_shapes; i++) {
		if (bench_shape(&shapes[i], nt, &pl, bw, gf) == -1)
			return CLI_EXIT_ERROR;
		fflush(stdout);
	}
	return CLI_EXIT_OK;
}

static const struct options_use bench_opts[] = {
	{ OPT_QUICK, NULL }, { OPT_THREADS, NULL },
	{ OPT_D_MODEL, NULL }, { OPT_D_FF, NULL }, { OPT_NUM_LAYERS, NULL },
	{ OPT_NUM_HEADS, NULL }, { OPT_VOCAB_SIZE, NULL },
	{ OPT_CONTEXT_LENGTH, "change the first shape and time only it" },
	{ OPT_LOG, NULL },
	{ OPT__N, NULL }
};

const struct cli_command cli_cmd_bench = {
	"bench", bench_main,
	"speed of the model on this machine",
	"usage: lmsh bench [options]\n"
	"\n"
	"Time a random-weight model: prefill of a full context and decode at\n"
	"batch 1, 8 and 32, next to this machine's memory read bandwidth,\n"
	"the rate it streams a warm buffer of the weights' size (what decode\n"
	"reads) and the BLIS sgemm rate, measured in the same run, with the\n"
	"fraction of each achieved, the sampler's share of a decode step, the\n"
	"peak RSS, and the kernels in use; then the load time (open to first\n"
	"token) and batch-1 decode of the same model saved as bf16.  The idle\n"
	"CPU share comes first: on a busy machine every figure understates.\n"
	"Figures are medians of several runs; bandwidth is the fastest.\n"
	"Default shapes: d_model 288, d_ff 768, 6 layers, 6 heads, vocab\n"
	"32000, context 256; and d_model 768, d_ff 2048, 12 layers, 12 heads,\n"
	"vocab 32000, context 1024.\n"
	"\n"
	"LMSH_BLIS_ARCH=skx|haswell|zen|zen3|generic|native overrides the BLIS\n"
	"kernel set.\n",
	bench_opts
};
