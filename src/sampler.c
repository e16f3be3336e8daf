/*
 * sampler.c: logits -> one token id, and the seeded RNG that makes a choice
 * reproducible.
 *
 * The filters apply in one fixed order everywhere (CLI, REPL, replay):
 *
 *	1. repetition penalty (CTRL): each distinct token among the last
 *	   repeat_window tokens has its logit divided by the penalty if it is
 *	   positive, multiplied by it otherwise;
 *	2. temperature: q = softmax(l / t); t = 0 is greedy (argmax, ties to
 *	   the lowest id);
 *	3. top-k: keep the k most probable tokens, renormalise;
 *	4. top-p: in order of decreasing probability keep token j iff the sum
 *	   of the probabilities before it is < p (so the token that reaches p
 *	   is kept), renormalise;
 *	5. min-p: keep tokens whose probability is >= min_p times the largest;
 *	6. typical-p (locally typical sampling, Meister et al. 2023): over
 *	   the kept distribution q with entropy H, keep the tokens whose
 *	   -log q is closest to H while the mass before each is < p.
 *
 * Every filter but typical-p keeps a prefix of the tokens sorted by
 * probability
 * descending, ties by id ascending (which is the order of the penalised
 * logits, so ties in rounded probabilities cannot reorder anything).  The
 * choice is by inverse CDF over that prefix: with u = rng_uniform(), the
 * first token whose cumulative weight exceeds u times the kept total.
 *
 * Speed: a step never sorts the vocabulary.  One vectorised pass computes
 * the weights e_i = exp((l_i - max) / t) and a histogram of
 * d_i = (max - l_i) / t in 510 bins (1/16 nat wide, or narrower when the
 * logits span less than 32 nats), with the count and the mass of each.
 * The filters walk whole bins by their counts and masses and sort only the
 * bin where they stop; the draw walks the kept bins by mass and sorts only
 * the bin it lands in.  Cumulative sums are therefore taken bin by bin and
 * then token by token inside the sorted bin, in double precision; apart
 * from that summation order the result is that of a full sort, which the
 * unit test checks against a brute-force implementation.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lm_exp.h"
#include "sampler.h"
#include "util.h"

#define SAMPLER_BINS		512	/* histogram bins ... */
#define SAMPLER_BIN_SCALE	16.0f	/* ... per nat of d, at least */
#define SAMPLER_CHUNK		4096	/* tokens per histogram piece */

/* Hot loops over the vocabulary vectorise under OpenMP's simd pragma. */
#ifdef _OPENMP
#define SAMPLER_SIMD		_Pragma("omp simd")
#else
#define SAMPLER_SIMD
#endif
/* GCC will not if-convert float compares while they might trap; they
 * cannot here (no NaN reaches them) and the results are the same bits. */
#if defined(__GNUC__) && !defined(__clang__)
#define SAMPLER_NO_TRAP		__attribute__((optimize("no-trapping-math")))
#else
#define SAMPLER_NO_TRAP
#endif

struct sampler {
	int		 n_vocab;	/* logits per call */
	float		*w;		/* [n_vocab] penalised logits */
	float		*e;		/* [n_vocab] exp((w - max) / t) */
	uint16_t	*bin;		/* [n_vocab] histogram bin of each token */
	uint32_t	*stamp;		/* [n_vocab] penalty applied this call */
	uint32_t	 cur;		/* stamp of the current call */
	int32_t		*cand;		/* [n_vocab] panel candidates, sorted */
	int32_t		*part;		/* [n_vocab] ids of one bin, sorted */
	int32_t		*tb;		/* [n_vocab] ids grouped by bin within
					   each chunk (a counting sort) */
	int		 part_bin;	/* bin held in part, or -1 */
	size_t		 n_part;	/* ids in part */
	int		 kb;		/* kept: all bins below kb ... */
	size_t		 kr;		/* ... and the first kr of bin kb */
	double		 z;		/* sum of e over the vocabulary */
	double		 z_keep;	/* sum of e over the kept tokens */
	int		 typ;		/* typical-p kept cand[t_lo, t_hi) */
	size_t		 t_lo, t_hi;	/* that run of the sorted prefix */
	float		 max;		/* largest penalised logit */
	float		 scale;		/* bins per nat of d */
	double		 mass[SAMPLER_BINS];	/* sum of e per bin */
	size_t		 count[SAMPLER_BINS];	/* tokens per bin */
	int		 n_threads;	/* threads for one pick */
	size_t		 n_chunks;	/* vocabulary in SAMPLER_CHUNK pieces */
	double		(*cmass)[SAMPLER_BINS];	/* [n_chunks] mass per bin */
	uint32_t	(*ccount)[SAMPLER_BINS]; /* [n_chunks] tokens per bin */
	uint32_t	(*cstart)[SAMPLER_BINS + 1]; /* [n_chunks] where each
					   bin's ids start in the chunk's tb */
};

/* ---- RNG ---------------------------------------------------------------- */

/*
 * Seed xoshiro256** for stream `stream` of `seed`: a splitmix64 generator
 * starts at x = seed XOR mix64(stream) (mix64 is splitmix64's output
 * function, so stream 0 is the usual seeding from seed alone) and its next
 * four outputs, x += 0x9E3779B97F4A7C15, s[i] = mix64(x), become the state.
 */
void
rng_seed(struct lm_rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed ^ util_mix64(stream);

	for (int i = 0; i < 4; i++)
		r->s[i] = util_splitmix64(&x);
}

/*
 * The seed whose stream 0 is stream `stream` of seed: the state depends
 * only on seed XOR mix64(stream), so one sample of a batch can be
 * reproduced alone (and recorded) with this seed.
 */
uint64_t
rng_stream_seed(uint64_t seed, uint64_t stream)
{
	return seed ^ util_mix64(stream);
}

static uint64_t
rng_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* The next 64 bits of xoshiro256** (Blackman and Vigna, 2018). */
uint64_t
rng_next(struct lm_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rng_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rng_rotl(s[3], 45);
	return result;
}

/* A uniform double in [0, 1): the top 53 bits of rng_next() times 2^-53. */
double
rng_uniform(struct lm_rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* ---- the settings table ------------------------------------------------- */

#define SAMPLER_FIELD(f)	offsetof(struct sampler_params, f)

/*
 * One row per knob, in the order /show lists them.  The ranges here are
 * the only ones: options, /set, live keys and replay all check against
 * them.  temperature stops at 100 (far past where the distribution is
 * flat); counts stop at INT_MAX because the fields are int.
 */
const struct sampler_setting sampler_settings[] = {
	{ "temperature", "temp", SAMPLER_FIELD(temperature), SAMPLER_FLOAT,
	    0, 100, 0, 0, 0.1, SAMPLER_TEMPERATURE_DEFAULT, 0, "greedy",
	    "%.2f", 1, "sampling temperature (0 = greedy)" },
	{ "top_p", NULL, SAMPLER_FIELD(top_p), SAMPLER_FLOAT,
	    0, 1, 1, 0, 0.05, SAMPLER_TOP_P_DEFAULT, 1, "off",
	    "%.2f", 1, "nucleus mass kept (1 = off)" },
	{ "top_k", NULL, SAMPLER_FIELD(top_k), SAMPLER_INT,
	    0, INT_MAX, 0, 0, 0, 0, 0, "off",
	    "%.0f", 1, "keep the K most likely (0 = off)" },
	{ "min_p", NULL, SAMPLER_FIELD(min_p), SAMPLER_FLOAT,
	    0, 1, 0, 1, 0, 0, 0, "off",
	    "%.3g", 2,
	    "drop tokens below P times the best (0 = off)" },
	{ "typical_p", NULL, SAMPLER_FIELD(typical_p), SAMPLER_FLOAT,
	    0, 1, 1, 0, 0, 1, 1, "off",
	    "%.2f", 3, "keep the most typical tokens (1 = off)" },
	{ "repeat_penalty", "repetition_penalty",
	    SAMPLER_FIELD(repeat_penalty), SAMPLER_FLOAT,
	    1, 1e6, 0, 0, 0, 1, 1, "off",
	    "%.3g", 1,
	    "divide the logits of recent tokens (1 = off)" },
	{ "repeat_window", NULL, SAMPLER_FIELD(repeat_window), SAMPLER_INT,
	    0, 1 << 24, 0, 0, 0, SAMPLER_REPEAT_WINDOW_DEFAULT, 0, NULL,
	    "%.0f", 1, "recent tokens the penalty looks at" },
};
const size_t sampler_n_settings =
    sizeof sampler_settings / sizeof sampler_settings[0];

/* a equals b treating '-' and '_' alike, case-insensitively. */
static int
sampler_name_eq(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++) {
		int ca = *a == '-' ? '_' : tolower((unsigned char)*a);
		int cb = *b == '-' ? '_' : tolower((unsigned char)*b);

		if (ca != cb)
			return 0;
	}
	return *a == *b;
}

/* The row called name (or its alias), or NULL. */
const struct sampler_setting *
sampler_setting_find(const char *name)
{
	for (size_t i = 0; i < sampler_n_settings; i++) {
		const struct sampler_setting *s = &sampler_settings[i];

		if (sampler_name_eq(name, s->name) ||
		    (s->alias != NULL && sampler_name_eq(name, s->alias)))
			return s;
	}
	return NULL;
}

/* The field of p that row s describes, as a double. */
double
sampler_setting_get(const struct sampler_params *p,
    const struct sampler_setting *s)
{
	const char *f = (const char *)p + s->offset;

	if (s->type == SAMPLER_INT)
		return *(const int *)(const void *)f;
	return *(const float *)(const void *)f;
}

static int
sampler_in_range(const struct sampler_setting *s, double v)
{
	if (!isfinite(v) || v < s->lo || v > s->hi)
		return 0;
	if ((s->lo_open && v == s->lo) || (s->hi_open && v == s->hi))
		return 0;
	return s->type != SAMPLER_INT || v == floor(v);
}

/* Writes "(0, 1]" into out. */
void
sampler_setting_range(const struct sampler_setting *s, char *out, size_t cap)
{
	snprintf(out, cap, "%c%.15g, %.15g%c", s->lo_open ? '(' : '[', s->lo,
	    s->hi, s->hi_open ? ')' : ']');
}

static void
sampler_range_err(const struct sampler_setting *s, const char *what,
    struct err *err)
{
	char range[64];

	sampler_setting_range(s, range, sizeof range);
	err_set(err, "%s: %s is not a %s in %s", s->name, what,
	    s->type == SAMPLER_INT ? "whole number" : "number", range);
}

/* Store v in p's field of row s without a check (a float rounds). */
void
sampler_setting_store(struct sampler_params *p,
    const struct sampler_setting *s, double v)
{
	char *f = (char *)p + s->offset;

	if (s->type == SAMPLER_INT)
		*(int *)(void *)f = (int)v;
	else
		*(float *)(void *)f = (float)v;
}

/*
 * Store v in p's field of row s (a float field rounds it to float).
 * Returns 0, or -1 with p unchanged and "top_p: 0 is not a number in
 * (0, 1]" in err.
 */
int
sampler_setting_put(struct sampler_params *p, const struct sampler_setting *s,
    double v, struct err *err)
{
	if (!sampler_in_range(s, v)) {
		char what[40];

		snprintf(what, sizeof what, "%g", v);
		sampler_range_err(s, what, err);
		return -1;
	}
	sampler_setting_store(p, s, v);
	return 0;
}

/*
 * Parse text (all of it) as a value of row s and check it against the
 * range.  Returns 0, or -1 with "temperature: 'hot' is not a number in
 * [0, 100]" in err.
 */
int
sampler_setting_parse(const struct sampler_setting *s, const char *text,
    double *out, struct err *err)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(text, &end);
	if (*text == '\0' || *end != '\0' || errno != 0 ||
	    !sampler_in_range(s, v)) {
		char what[48];

		snprintf(what, sizeof what, "'%.40s'", text);
		sampler_range_err(s, what, err);
		return -1;
	}
	*out = v;
	return 0;
}

/*
 * One live-key press: v moved by dir steps, rounded to the step so that
 * presses land on round values (0.3, not 0.30000004), and clamped into the
 * range.  An open end stops one step inside it (top_p never reaches 0).
 */
double
sampler_setting_step(const struct sampler_setting *s, double v, int dir)
{
	double lo = s->lo_open ? s->lo + s->step : s->lo;
	double hi = s->hi_open ? s->hi - s->step : s->hi;

	v = round((v + dir * s->step) / s->step) * s->step;
	v = round(v * 1e6) / 1e6;
	return fmin(fmax(v, lo), hi);
}

/* ---- parameters ----------------------------------------------------------- */

/* Fill p with every row's default. */
void
sampler_params_default(struct sampler_params *p)
{
	memset(p, 0, sizeof *p);
	for (size_t i = 0; i < sampler_n_settings; i++)
		sampler_setting_put(p, &sampler_settings[i],
		    sampler_settings[i].def, NULL);
}

/*
 * Check every knob against its row; 0 if all are usable, else -1 with err
 * naming the first bad one.
 */
int
sampler_params_check(const struct sampler_params *p, struct err *err)
{
	for (size_t i = 0; i < sampler_n_settings; i++) {
		const struct sampler_setting	*s = &sampler_settings[i];
		double				 v = sampler_setting_get(p, s);

		if (!sampler_in_range(s, v)) {
			char what[40];

			snprintf(what, sizeof what, "%g", v);
			sampler_range_err(s, what, err);
			return -1;
		}
	}
	return 0;
}

/*
 * Set the knob called name (any spelling sampler_setting_find takes) to
 * value.  p is unchanged and -1 returned for an unknown name or a value
 * out of range.
 */
int
sampler_params_set(struct sampler_params *p, const char *name, double value,
    struct err *err)
{
	const struct sampler_setting *s = sampler_setting_find(name);

	if (s == NULL) {
		err_set(err, "%s: not a sampling setting", name);
		return -1;
	}
	return sampler_setting_put(p, s, value, err);
}

/* ---- the sampler object ----------------------------------------------------- */

/*
 * A sampler for logits of n_vocab entries (buffers sized once).  Returns
 * NULL if n_vocab < 1 or memory is short; free with sampler_free().
 */
struct sampler *
sampler_new(int n_vocab)
{
	struct sampler	*s;
	size_t		 n = (size_t)n_vocab;

	if (n_vocab < 1 || n_vocab > 1 << 28)
		return NULL;
	if ((s = calloc(1, sizeof *s)) == NULL)
		return NULL;
	s->n_vocab = n_vocab;
	s->w = malloc(n * sizeof *s->w);
	s->e = malloc(n * sizeof *s->e);
	s->bin = malloc(n * sizeof *s->bin);
	s->stamp = calloc(n, sizeof *s->stamp);
	s->cand = malloc(n * sizeof *s->cand);
	s->part = malloc(n * sizeof *s->part);
	s->tb = malloc(n * sizeof *s->tb);
	s->n_threads = 1;
	s->n_chunks = (n + SAMPLER_CHUNK - 1) / SAMPLER_CHUNK;
	s->cmass = malloc(s->n_chunks * sizeof *s->cmass);
	s->ccount = malloc(s->n_chunks * sizeof *s->ccount);
	s->cstart = malloc(s->n_chunks * sizeof *s->cstart);
	if (s->w == NULL || s->e == NULL || s->bin == NULL ||
	    s->stamp == NULL || s->cand == NULL || s->part == NULL ||
	    s->tb == NULL || s->cmass == NULL || s->ccount == NULL ||
	    s->cstart == NULL) {
		sampler_free(s);
		return NULL;
	}
	return s;
}

/*
 * Let one pick use up to n threads (default 1).  The vocabulary is cut
 * into fixed pieces whatever n is, so the choice does not depend on it.
 * It pays only on otherwise idle cores: right after a multi-threaded
 * model step it was measured slower than one thread.
 */
void
sampler_set_threads(struct sampler *s, int n)
{
	s->n_threads = n < 1 ? 1 : n;
}

/* Release s; NULL is fine. */
void
sampler_free(struct sampler *s)
{
	if (s == NULL)
		return;
	free(s->w);
	free(s->e);
	free(s->bin);
	free(s->stamp);
	free(s->cand);
	free(s->part);
	free(s->tb);
	free(s->cmass);
	free(s->ccount);
	free(s->cstart);
	free(s);
}

/* ---- preparing the weights ------------------------------------------------ */

/* Copy logits into w (NaN counts as -inf) and apply the penalty. */
static void
sampler_penalise(struct sampler *s, const struct sampler_params *sp,
    const float *logits, const int32_t *recent, size_t n_recent)
{
	size_t	 n = (size_t)s->n_vocab, win;
	float	*w = s->w;

	SAMPLER_SIMD
	for (size_t i = 0; i < n; i++)
		w[i] = logits[i] != logits[i] ? -INFINITY : logits[i];
	if (sp->repeat_penalty == 1 || recent == NULL || sp->repeat_window <= 0)
		return;
	if (++s->cur == 0) {
		memset(s->stamp, 0, n * sizeof *s->stamp);
		s->cur = 1;
	}
	win = (size_t)sp->repeat_window < n_recent ?
	    (size_t)sp->repeat_window : n_recent;
	for (size_t j = n_recent - win; j < n_recent; j++) {
		int32_t id = recent[j];

		/* once per distinct token, however often it repeats */
		if (id < 0 || id >= s->n_vocab || s->stamp[id] == s->cur)
			continue;
		s->stamp[id] = s->cur;
		if (w[id] > 0)
			w[id] /= sp->repeat_penalty;
		else
			w[id] *= sp->repeat_penalty;
	}
}

/*
 * Largest penalised logit; the lowest id holding it goes to *arg.  Eight
 * running maxima let the compiler use vector instructions (the order does
 * not matter for a maximum).  *lo (may be NULL) gets the smallest finite
 * logit among every 16th token (+inf if none), enough to size the bins.
 */
static SAMPLER_NO_TRAP float
sampler_max(const struct sampler *s, int32_t *arg, float *lo)
{
	const float	*w = s->w;
	int32_t		 n = s->n_vocab, i, a = 0;
	float		 mm[8], m, l = INFINITY;

	for (int k = 0; k < 8; k++)
		mm[k] = -INFINITY;
	for (i = 0; i + 8 <= n; i += 8)
		for (int k = 0; k < 8; k++)
			mm[k] = w[i + k] > mm[k] ? w[i + k] : mm[k];
	m = mm[0];
	for (int k = 1; k < 8; k++)
		m = mm[k] > m ? mm[k] : m;
	for (; i < n; i++)
		m = w[i] > m ? w[i] : m;
	if (arg != NULL) {
		while (a < n - 1 && w[a] != m)
			a++;
		*arg = a;
	}
	if (lo != NULL) {
		for (i = 0; i < n; i += 16)
			l = w[i] > -INFINITY && w[i] < l ? w[i] : l;
		*lo = l;
	}
	return m;
}

/*
 * exp(-d) for d >= 0 (inf included), 0 below about e^-87 (lm_exp.h).
 * Selections are made on bit patterns (for d >= 0 they order like
 * integers), so no float compare stops the vectoriser.
 */
static inline int32_t
sampler_bits(float f)
{
	union { float f; int32_t i; } u;

	u.f = f;
	return u.i;
}

static inline float
sampler_float(int32_t i)
{
	union { float f; int32_t i; } u;

	u.i = i;
	return u.f;
}

/* c ? a : b for c 0 or 1 */
static inline float
sampler_sel(int32_t c, float a, float b)
{
	int32_t m = -c;

	return sampler_float((sampler_bits(a) & m) | (sampler_bits(b) & ~m));
}

#define SAMPLER_MAGIC	12582912.0f	/* 1.5 * 2^23 */

static inline float
sampler_exp_neg(float d)
{
	int32_t	ok = sampler_bits(d) < sampler_bits(87.0f);

	return sampler_sel(ok, lm_exp_core(-sampler_sel(ok, d, 87.0f)), 0.0f);
}

/*
 * d = (max - logit) / t as the sampler computes it: 0 for a logit equal to
 * the max (also when both are infinite), +inf for -inf.  Logits are never
 * NaN here (sampler_penalise made them -inf).
 */
static inline float
sampler_dist(float w, float m, float inv_t)
{
	return sampler_sel(sampler_bits(w) == sampler_bits(m), 0.0f,
	    (m - w) * inv_t);
}

/*
 * The unnormalised weight exp((logit - max) / temperature) exactly as
 * sampler_pick() computes it, for tests that re-derive its choices.
 */
float
sampler_weight(float logit, float max, float temperature)
{
	return sampler_exp_neg(sampler_dist(logit, max, 1.0f / temperature));
}

/*
 * The vector pass: e_i and the bin of each token, round(d_i * scale) up to
 * the last bin.  Compiled for AVX2 too where the compiler can dispatch on
 * the CPU; every version computes the same bits.
 */
UTIL_SIMD_CLONES
static void
sampler_weigh_vec(const float *w, float *e, uint16_t *bin, int32_t n,
    float m, float inv_t, float scale)
{
	SAMPLER_SIMD
	for (int32_t i = 0; i < n; i++) {
		float d = sampler_dist(w[i], m, inv_t);
		float bf = d * scale;

		bf = sampler_sel(sampler_bits(bf) <
		    sampler_bits((float)(SAMPLER_BINS - 1)), bf,
		    (float)(SAMPLER_BINS - 1));
		e[i] = sampler_exp_neg(d);
		bin[i] = (uint16_t)(sampler_bits(bf + SAMPLER_MAGIC) -
		    sampler_bits(SAMPLER_MAGIC));
	}
}

/*
 * Sum of exp(w_i - m) alone, for the probability of a greedy pick: no
 * bins, no histogram, a third of sampler_weigh()'s time, which at
 * temperature 0 is a twentieth of a small model's decode step.  Lanes in
 * a fixed order, so that every build and vector width gives the same
 * bits.
 */
UTIL_SIMD_CLONES
static double
sampler_z(const float *w, int32_t n, float m)
{
	float	 acc[32] = { 0 };
	double	 z = 0;
	int32_t	 i = 0;

	/* 32 lanes: two AVX-512 vectors of exps in flight at once; a lane
	 * sums at most a thousand terms of at most 1, fine in float */
	for (; i + 32 <= n; i += 32) {
		SAMPLER_SIMD
		for (int k = 0; k < 32; k++)
			acc[k] += sampler_exp_neg(sampler_dist(w[i + k], m,
			    1.0f));
	}
	for (; i < n; i++)
		acc[i & 31] += sampler_exp_neg(sampler_dist(w[i], m, 1.0f));
	for (int k = 0; k < 32; k++)
		z += acc[k];
	return z;
}

/*
 * One piece of the vocabulary: weights and bins, its histogram (four
 * interleaved ones: neighbours often share a bin, and one histogram would
 * make every add wait for the previous one), then its ids grouped by bin.
 */
static void
sampler_weigh_chunk(struct sampler *s, size_t c, float m, float inv_t)
{
	double		 hm[4][SAMPLER_BINS];
	uint32_t	 hc[4][SAMPLER_BINS], pos[SAMPLER_BINS];
	size_t		 lo = c * SAMPLER_CHUNK;
	size_t		 hi = lo + SAMPLER_CHUNK < (size_t)s->n_vocab ?
			    lo + SAMPLER_CHUNK : (size_t)s->n_vocab;
	const uint16_t	*bin = s->bin;
	const float	*e = s->e;
	uint32_t	*start = s->cstart[c];

	sampler_weigh_vec(s->w + lo, s->e + lo, s->bin + lo,
	    (int32_t)(hi - lo), m, inv_t, s->scale);
	memset(hm, 0, sizeof hm);
	memset(hc, 0, sizeof hc);
	for (size_t i = lo; i < hi; i++) {
		hm[i & 3][bin[i]] += e[i];
		hc[i & 3][bin[i]]++;
	}
	start[0] = 0;
	for (int b = 0; b < SAMPLER_BINS; b++) {
		s->cmass[c][b] = (hm[0][b] + hm[1][b]) + (hm[2][b] + hm[3][b]);
		s->ccount[c][b] = hc[0][b] + hc[1][b] + hc[2][b] + hc[3][b];
		pos[b] = start[b];
		start[b + 1] = start[b] + s->ccount[c][b];
	}
	for (size_t i = lo; i < hi; i++)
		s->tb[lo + pos[bin[i]]++] = (int32_t)i;
}

/*
 * Weights e_i = exp((w_i - max) / t), their sum and the histogram.  A
 * token equal to the max has d = 0 even when both are infinite, so +inf
 * logits share the mass and an all -inf vector is uniform.  Bins are 1/16
 * nat wide, or narrower so that the finite logits span all of them (a
 * flat distribution still spreads over many small bins).  Tokens of the
 * first SAMPLER_TOP_BINS bins are also listed in top, so that sorting one
 * of those bins does not scan the vocabulary.
 */
static void
sampler_weigh(struct sampler *s, float t)
{
	float		 lo, m = s->max = sampler_max(s, NULL, &lo);
	float		 inv_t = 1.0f / t, span = (m - lo) * inv_t;
	double		 z = 0;

	s->scale = SAMPLER_BIN_SCALE;
	if (span > 0 && span * SAMPLER_BIN_SCALE < SAMPLER_BINS - 2)
		s->scale = (SAMPLER_BINS - 2) / span;
#ifdef _OPENMP
#pragma omp parallel for num_threads(s->n_threads) schedule(static) \
    if (s->n_threads > 1 && s->n_chunks > 1)
#endif
	for (size_t c = 0; c < s->n_chunks; c++)
		sampler_weigh_chunk(s, c, m, inv_t);
	/* pieces merge in a fixed order, so sums do not depend on threads */
	for (int b = 0; b < SAMPLER_BINS; b++) {
		double	 ms = 0;
		size_t	 ct = 0;

		for (size_t c = 0; c < s->n_chunks; c++) {
			ms += s->cmass[c][b];
			ct += s->ccount[c][b];
		}
		s->mass[b] = ms;
		s->count[b] = ct;
		/* z sums the bins so that it agrees with the walks over them */
		z += ms;
	}
	s->z = z;
}

/* Candidate order: larger logit first, then lower id. */
static int
sampler_cmp(const void *a, const void *b, void *arg)
{
	const float	*w = arg;
	int32_t		 x = *(const int32_t *)a, y = *(const int32_t *)b;

	if (w[x] != w[y])
		return w[x] > w[y] ? -1 : 1;
	return (x > y) - (x < y);
}

/* qsort with a context argument, by hand: glibc's qsort_r is not C11. */
static void
sampler_sort(int32_t *ids, size_t n, const float *w)
{
	/* insertion sort for short runs, else a heap sort (no recursion) */
	if (n < 24) {
		for (size_t i = 1; i < n; i++) {
			int32_t v = ids[i];
			size_t j = i;

			while (j > 0 && sampler_cmp(&ids[j - 1], &v,
			    (void *)w) > 0) {
				ids[j] = ids[j - 1];
				j--;
			}
			ids[j] = v;
		}
		return;
	}
	for (size_t k = n / 2; k-- > 0;) {
		/* sift down k in ids[0..n) with the "largest" at the root */
		size_t r = k;
		for (;;) {
			size_t c = 2 * r + 1;
			if (c >= n)
				break;
			if (c + 1 < n && sampler_cmp(&ids[c], &ids[c + 1],
			    (void *)w) < 0)
				c++;
			if (sampler_cmp(&ids[r], &ids[c], (void *)w) >= 0)
				break;
			int32_t t = ids[r]; ids[r] = ids[c]; ids[c] = t;
			r = c;
		}
	}
	for (size_t end = n; end-- > 1;) {
		int32_t t = ids[0]; ids[0] = ids[end]; ids[end] = t;
		size_t r = 0;
		for (;;) {
			size_t c = 2 * r + 1;
			if (c >= end)
				break;
			if (c + 1 < end && sampler_cmp(&ids[c], &ids[c + 1],
			    (void *)w) < 0)
				c++;
			if (sampler_cmp(&ids[r], &ids[c], (void *)w) >= 0)
				break;
			int32_t u = ids[r]; ids[r] = ids[c]; ids[c] = u;
			r = c;
		}
	}
}

/* Copy the ids of the bins in [b0, b1) to out, chunk by chunk; how many. */
static size_t
sampler_bin_ids(const struct sampler *s, int b0, int b1, int32_t *out)
{
	size_t n = 0;

	for (size_t c = 0; c < s->n_chunks; c++) {
		size_t k = s->cstart[c][b1] - s->cstart[c][b0];

		memcpy(out + n, s->tb + c * SAMPLER_CHUNK + s->cstart[c][b0],
		    k * sizeof *out);
		n += k;
	}
	return n;
}

/* Sort the tokens of bin b into part (kept until another bin is sorted). */
static size_t
sampler_sort_bin(struct sampler *s, int b)
{
	size_t n = 0;

	if (s->part_bin == b)
		return s->n_part;
	n = sampler_bin_ids(s, b, b + 1, s->part);
	sampler_sort(s->part, n, s->w);
	s->part_bin = b;
	s->n_part = n;
	return n;
}

/* Sum of e over the first r tokens of the sorted bin in part. */
static double
sampler_part_mass(const struct sampler *s, size_t r)
{
	double m = 0;

	for (size_t j = 0; j < r; j++)
		m += s->e[s->part[j]];
	return m;
}

/*
 * The kept set is always a prefix of the sorted vocabulary, written as
 * (kb, kr): every token of the bins below kb plus the first kr tokens of
 * bin kb in sorted order.  These narrow it with one filter each; bins are
 * taken whole while the filter provably keeps all of them, and only the
 * bin where it stops is sorted.
 */
static void
sampler_top_k(struct sampler *s, size_t k)
{
	size_t c = 0;

	for (int b = 0; b < s->kb; b++) {
		if (c + s->count[b] >= k) {
			sampler_sort_bin(s, b);
			s->kb = b;
			s->kr = k - c;
			return;
		}
		c += s->count[b];
	}
}

/* Sum of e over the current kept prefix. */
static double
sampler_keep_mass(struct sampler *s)
{
	double m = 0;

	for (int b = 0; b < s->kb; b++)
		m += s->mass[b];
	if (s->kb < SAMPLER_BINS && s->kr > 0) {
		sampler_sort_bin(s, s->kb);
		m += sampler_part_mass(s, s->kr);
	}
	return m;
}

/*
 * Top-p over the current prefix renormalised to z: token j stays iff the
 * sum of the probabilities before it is < p.  Sums run over whole bins
 * (each bin's mass) and then token by token inside the bin where p is
 * reached.
 */
static void
sampler_top_p(struct sampler *s, double p, double z)
{
	double cum = 0;

	for (int b = 0; b <= s->kb && b < SAMPLER_BINS; b++) {
		int	whole = b < s->kb;
		size_t	lim;
		double	m;

		if (!whole && s->kr == 0)
			return;
		m = whole ? s->mass[b] :
		    (sampler_sort_bin(s, b), sampler_part_mass(s, s->kr));
		if ((cum + m) / z < p) {
			cum += m;
			continue;
		}
		lim = whole ? sampler_sort_bin(s, b) : s->kr;
		size_t j;
		for (j = 0; j < lim && cum / z < p; j++)
			cum += s->e[s->part[j]];
		s->kb = b;
		s->kr = j;
		return;
	}
}

/*
 * Min-p: keep tokens with e >= min_p (the best token has e = 1).  A bin
 * whose far edge is clearly above the limit is kept whole.
 */
static void
sampler_min_p(struct sampler *s, float min_p)
{
	for (int b = 0; b <= s->kb && b < SAMPLER_BINS; b++) {
		int	whole = b < s->kb;
		size_t	lim, j;

		/* bin b holds d up to about (b + 0.5) / scale */
		if (whole && b < SAMPLER_BINS - 1 &&
		    expf(-(b + 1) / s->scale) > min_p * 1.001f)
			continue;
		if (!whole && s->kr == 0)
			return;
		lim = whole ? sampler_sort_bin(s, b) : s->kr;
		if (!whole)
			sampler_sort_bin(s, b);
		for (j = 0; j < lim && s->e[s->part[j]] >= min_p; j++)
			;
		if (j < lim || !whole) {
			s->kb = b;
			s->kr = j;
			return;
		}
	}
}

/*
 * Typical-p over the kept prefix.  With q_i = e_i / z_keep, -log q_i is
 * d_i + log z_keep (d_i = -log e_i) and the entropy is its q-mean, so a
 * token's distance from typical is |d_i - mean_q(d)|.  The tokens closest
 * to the mean come first while the mass before each is < p (at least one
 * stays); in probability order they are one run [t_lo, t_hi) of the
 * sorted prefix, which cand holds.  It sorts the whole prefix: an opt-in
 * cost.
 */
static void
sampler_typical(struct sampler *s, double p)
{
	size_t	n_keep = s->kr, n, a, b;
	double	mean = 0, cum = 0, target = p * s->z_keep;
	int	b1 = s->kb < SAMPLER_BINS ? s->kb + 1 : SAMPLER_BINS;

	for (int k = 0; k < s->kb; k++)
		n_keep += s->count[k];
	n = sampler_bin_ids(s, 0, b1, s->cand);
	sampler_sort(s->cand, n, s->w);
	n = n_keep < n ? n_keep : n;
	for (size_t i = 0; i < n; i++) {
		double e = s->e[s->cand[i]];

		if (e > 0)
			mean -= e * log(e);
	}
	mean /= s->z_keep;
	/* the run grows from where d crosses the mean, to the nearer side */
	for (a = 0; a < n && -log((double)s->e[s->cand[a]]) <= mean; a++)
		;
	b = a;
	while (cum < target && (a > 0 || b < n)) {
		double dl = a > 0 ? mean + log((double)s->e[s->cand[a - 1]]) :
		    INFINITY;
		double dr = b < n ? -log((double)s->e[s->cand[b]]) - mean :
		    INFINITY;

		if (dl <= dr)
			cum += s->e[s->cand[--a]];
		else
			cum += s->e[s->cand[b++]];
	}
	s->typ = 1;
	s->t_lo = a;
	s->t_hi = b;
	s->z_keep = 0;
	for (size_t i = a; i < b; i++)
		s->z_keep += s->e[s->cand[i]];
}

/* Apply top-k, top-p, min-p and typical-p; sets kb, kr, z_keep (and typ,
 * t_lo, t_hi). */
static void
sampler_keep(struct sampler *s, const struct sampler_params *sp)
{
	double z;

	s->part_bin = -1;
	s->kb = SAMPLER_BINS;
	s->kr = 0;
	if (sp->top_k > 0 && sp->top_k < s->n_vocab)
		sampler_top_k(s, (size_t)sp->top_k);
	z = s->kb < SAMPLER_BINS ? sampler_keep_mass(s) : s->z;
	if (sp->top_p < 1)
		sampler_top_p(s, sp->top_p, z);
	if (sp->min_p > 0)
		sampler_min_p(s, sp->min_p);
	s->z_keep = s->kb < SAMPLER_BINS ? sampler_keep_mass(s) : s->z;
	s->typ = 0;
	if (sp->typical_p < 1)
		sampler_typical(s, sp->typical_p);
}

/* Inverse CDF over the first n of part from weight base on; -1 if short. */
static int32_t
sampler_walk(const struct sampler *s, size_t n, double base, double target)
{
	double cum = base;

	for (size_t j = 0; j < n; j++) {
		cum += s->e[s->part[j]];
		if (cum > target)
			return s->part[j];
	}
	return -1;
}

/* The last kept token with a positive weight (rounding fallback). */
static int32_t
sampler_last_positive(struct sampler *s)
{
	if (s->kb < SAMPLER_BINS && s->kr > 0) {
		sampler_sort_bin(s, s->kb);
		for (size_t j = s->kr; j-- > 0;)
			if (s->e[s->part[j]] > 0)
				return s->part[j];
	}
	for (int b = s->kb; b-- > 0;) {
		if (s->mass[b] <= 0)
			continue;
		size_t n = sampler_sort_bin(s, b);
		for (size_t j = n; j-- > 0;)
			if (s->e[s->part[j]] > 0)
				return s->part[j];
	}
	/* nothing positive at all cannot happen: the best token has e = 1 */
	sampler_sort_bin(s, 0);
	return s->part[0];
}

/*
 * Inverse CDF over the kept prefix: walk whole bins by their mass, then
 * sort only the bin where u * z_keep falls.
 */
static int32_t
sampler_draw(struct sampler *s, double u)
{
	double	target = u * s->z_keep, base = 0;
	int32_t	id = -1;

	if (s->typ) {
		/* typical-p's run of cand, in probability order */
		for (size_t i = s->t_lo; i < s->t_hi; i++) {
			base += s->e[s->cand[i]];
			if (base > target)
				return s->cand[i];
		}
		for (size_t i = s->t_hi; i-- > s->t_lo;)
			if (s->e[s->cand[i]] > 0)
				return s->cand[i];
		return s->cand[s->t_lo];
	}

	for (int b = 0; b < s->kb; b++) {
		if (base + s->mass[b] > target) {
			size_t n = sampler_sort_bin(s, b);

			if ((id = sampler_walk(s, n, base, target)) >= 0)
				return id;
			/* the bin's mass and its tokens' sum differ in the
			 * last bit: the target is at the bin's very end */
			while (n-- > 0)
				if (s->e[s->part[n]] > 0)
					return s->part[n];
		}
		base += s->mass[b];
	}
	if (s->kb < SAMPLER_BINS && s->kr > 0) {
		sampler_sort_bin(s, s->kb);
		id = sampler_walk(s, s->kr, base, target);
	}
	return id >= 0 ? id : sampler_last_positive(s);
}

/*
 * Pick a token from logits (not modified) with the knobs in sp (assumed
 * valid; see sampler_params_check).  recent holds the sequence's last
 * n_recent tokens (may be NULL) for the penalty.  *prob (may be NULL) gets
 * the chosen token's final probability; for greedy picks that is its
 * probability under softmax of the penalised logits.  Exactly one
 * rng_uniform() is drawn unless t = 0, when r is not touched.
 */
int32_t
sampler_pick(struct sampler *s, const struct sampler_params *sp,
    const float *logits, const int32_t *recent, size_t n_recent,
    struct lm_rng *r, float *prob)
{
	int32_t id;

	sampler_penalise(s, sp, logits, recent, n_recent);
	if (sp->temperature == 0) {
		s->max = sampler_max(s, &id, NULL);
		/* the pick has d = 0, so its weight is exactly 1 */
		if (prob != NULL)
			*prob = (float)(1.0 / sampler_z(s->w, s->n_vocab,
			    s->max));
		return id;
	}
	sampler_weigh(s, sp->temperature);
	double u = rng_uniform(r);
	sampler_keep(s, sp);
	id = sampler_draw(s, u);
	if (prob != NULL)
		*prob = s->z_keep > 0 ? (float)(s->e[id] / s->z_keep) : 0;
	return id;
}

/*
 * The n best candidates by p_temp (probability after penalty and
 * temperature; at t = 0 the softmax of the penalised logits) with what the
 * filters make of them, for the candidate panel.  Returns how many entries
 * of out were filled (n or fewer for a small vocabulary).
 */
size_t
sampler_candidates(struct sampler *s, const struct sampler_params *sp,
    const float *logits, const int32_t *recent, size_t n_recent,
    struct sampler_cand *out, size_t n)
{
	struct sampler_params	 q = *sp;
	float			 raw_max = -INFINITY;
	double			 raw_z = 0, cum = 0;
	size_t			 n_keep = 0, n_cand = 0, n_skip = 0;
	int			 nb;

	if (n == 0)
		return 0;
	for (int32_t i = 0; i < s->n_vocab; i++)
		if (logits[i] > raw_max)
			raw_max = logits[i];
	for (int32_t i = 0; i < s->n_vocab; i++)
		raw_z += logits[i] == raw_max ? 1 : expf(logits[i] - raw_max);
	sampler_penalise(s, sp, logits, recent, n_recent);
	if (sp->temperature == 0) {
		/* greedy keeps exactly the first candidate */
		q.top_k = 1;
		q.top_p = 1;
		q.min_p = 0;
		q.typical_p = 1;
	}
	sampler_weigh(s, sp->temperature == 0 ? 1 : sp->temperature);
	sampler_keep(s, &q);
	for (int b = 0; b < s->kb; b++)
		n_keep += s->count[b];
	n_keep += s->kr;
	if (s->typ) {
		n_skip = s->t_lo;
		n_keep = s->t_hi;
	}
	/* collect and sort the best bins until they hold n tokens */
	for (nb = 0; nb < SAMPLER_BINS && n_cand < n; nb++)
		n_cand += s->count[nb];
	n_cand = 0;
	n_cand = sampler_bin_ids(s, 0, nb, s->cand);
	sampler_sort(s->cand, n_cand, s->w);
	if (n > n_cand)
		n = n_cand;
	for (size_t j = 0; j < n; j++) {
		int32_t	id = s->cand[j];
		double	pt = s->e[id] / s->z;
		float	l = isnan(logits[id]) ? -INFINITY : logits[id];

		out[j].id = id;
		out[j].p_raw = (float)((l == raw_max ? 1 : expf(l - raw_max)) /
		    raw_z);
		out[j].p_temp = (float)pt;
		out[j].cum = (float)cum;
		out[j].kept = j >= n_skip && j < n_keep;
		out[j].p_final = out[j].kept && s->z_keep > 0 ?
		    (float)(s->e[id] / s->z_keep) : 0;
		cum += pt;
	}
	return n;
}

/* ---- the reference text's building blocks ---------------------------------- */

/*
 * probs = softmax(logits / temp) over n entries.  temp = 0 gives the greedy
 * one-hot (argmax, lowest id on ties); a negative, NaN or infinite temp is
 * an error.
 */
int
sampler_softmax_temp(const float *logits, size_t n, float temp, float *probs,
    struct err *err)
{
	float	m;
	size_t	arg = 0;
	double	z = 0;

	if (!isfinite(temp) || temp < 0) {
		err_set(err, "temperature %g: must be a finite number >= 0",
		    (double)temp);
		return -1;
	}
	if (n == 0) {
		err_set(err, "softmax of an empty vector");
		return -1;
	}
	m = logits[0];
	for (size_t i = 1; i < n; i++)
		if (logits[i] > m) {
			m = logits[i];
			arg = i;
		}
	for (size_t i = 0; i < n; i++) {
		if (temp == 0)
			probs[i] = i == arg;
		else
			probs[i] = logits[i] == m ? 1 :
			    expf((logits[i] - m) / temp);
		z += probs[i];
	}
	for (size_t i = 0; i < n; i++)
		probs[i] = (float)(probs[i] / z);
	return 0;
}

struct sampler_pcmp {
	const float	*p;
	size_t		 i;
};

static int
sampler_pcmp(const void *a, const void *b)
{
	const struct sampler_pcmp *x = a, *y = b;

	if (x->p[x->i] != x->p[y->i])
		return x->p[x->i] > x->p[y->i] ? -1 : 1;
	return (x->i > y->i) - (x->i < y->i);
}

/*
 * The reference nucleus filter over a whole distribution: sort by
 * probability (ties by index), keep entry j iff the sum of the entries
 * before it is < p, renormalise, scatter back.  p must be in (0, 1].
 */
int
sampler_nucleus(const float *probs, size_t n, float p, float *out,
    struct err *err)
{
	struct sampler_pcmp	*ix;
	double			 cum = 0, z = 0;
	size_t			 keep;

	if (!(p > 0 && p <= 1)) {
		err_set(err, "top_p %g: must be in (0, 1]", (double)p);
		return -1;
	}
	ix = xcalloc(n, sizeof *ix);
	for (size_t i = 0; i < n; i++)
		ix[i] = (struct sampler_pcmp){ probs, i };
	qsort(ix, n, sizeof *ix, sampler_pcmp);
	for (keep = 0; keep < n && (p >= 1 || cum < p); keep++)
		cum += probs[ix[keep].i];
	for (size_t j = 0; j < keep; j++)
		z += probs[ix[j].i];
	for (size_t i = 0; i < n; i++)
		out[i] = 0;
	for (size_t j = 0; j < keep; j++)
		out[ix[j].i] = z > 0 ? (float)(probs[ix[j].i] / z) : 0;
	free(ix);
	return 0;
}
