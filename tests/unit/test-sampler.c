/*
 * test-sampler: the sampler against independent references.
 *
 * Covers: the RNG (splitmix64's published first output, xoshiro256**
 * values from an independent Python implementation, one draw per sampled
 * token, none for greedy); the reference text's numbers (softmax of
 * [1, 2, 3, 0.5] at t = 0.1, 1, 2; nucleus of [0.5, 0.3, 0.15, 0.05] at
 * p = 0.8 and 0.5); parameter checks; greedy ties; top-k, top-p, min-p and
 * the CTRL penalty with its window; frequencies of many seeded draws; edge
 * cases (tiny p, all-equal logits, -inf and NaN logits, vocabulary of 1);
 * the pre-filtered sampler against a brute-force full sort on a 50k
 * vocabulary, with 1 and 3 threads; the candidate panel.
 *
 * `test-sampler --bench [THREADS]` instead prints the cost of one pick for
 * a 50257-entry vocabulary.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "gen_types.h"
#include "sampler.h"
#include "util.h"

static const float ref_logits[4] = { 1.0f, 2.0f, 3.0f, 0.5f };

static void
test_rng(void)
{
	struct lm_rng	r, r2;
	/* from an independent Python implementation */
	static const uint64_t want42[3] = { UINT64_C(0x15780b2e0c2ec716),
	    UINT64_C(0x6104d9866d113a7e), UINT64_C(0xae17533239e499a1) };
	static const uint64_t want42s3[3] = { UINT64_C(0x49576b0202755018),
	    UINT64_C(0x10a763ec689421b7), UINT64_C(0x9297ce58025496ec) };

	/* splitmix64 from 0: first output 0xe220a8397b1dcdaf (Vigna) */
	rng_seed(&r, 0, 0);
	CHECK(r.s[0] == UINT64_C(0xe220a8397b1dcdaf));
	rng_seed(&r, 42, 0);
	for (int i = 0; i < 3; i++)
		CHECK(rng_next(&r) == want42[i]);
	rng_seed(&r, 42, 3);
	for (int i = 0; i < 3; i++)
		CHECK(rng_next(&r) == want42s3[i]);
	rng_seed(&r, 42, 0);
	CHECK_NEAR(rng_uniform(&r), 0.08386297105988216, 1e-15);
	CHECK_NEAR(rng_uniform(&r), 0.3789802506626686, 1e-15);
	rng_seed(&r, 7, 1);
	rng_seed(&r2, 7, 2);
	CHECK(rng_next(&r) != rng_next(&r2));
	/* a batch's stream k alone: the same state from stream 0 */
	rng_seed(&r, 42, 3);
	rng_seed(&r2, rng_stream_seed(42, 3), 0);
	CHECK(memcmp(&r, &r2, sizeof r) == 0);
	CHECK(rng_stream_seed(42, 0) == 42);
	double lo = 1, hi = 0, sum = 0;
	for (int i = 0; i < 100000; i++) {
		double u = rng_uniform(&r);
		lo = u < lo ? u : lo;
		hi = u > hi ? u : hi;
		sum += u;
	}
	CHECK(lo >= 0 && hi < 1);
	CHECK_NEAR(sum / 100000, 0.5, 0.005);
}

static void
test_reference_softmax(void)
{
	struct err	err;
	float		p[4];
	static const struct {
		float	t;
		float	want[4];
		double	rtol;
	} cases[] = {
		{ 0.1f, { 2.06e-09f, 4.54e-05f, 9.99e-01f, 1.39e-11f }, 0.01 },
		{ 1.0f, { 0.0854f, 0.2321f, 0.6308f, 0.0518f }, 0.001 },
		{ 2.0f, { 0.1627f, 0.2683f, 0.4423f, 0.1267f }, 0.001 },
	};

	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		CHECK(sampler_softmax_temp(ref_logits, 4, cases[c].t, p,
		    &err) == 0);
		for (int i = 0; i < 4; i++)
			CHECK_NEAR(p[i], cases[c].want[i],
			    cases[c].rtol * cases[c].want[i]);
	}
	CHECK(sampler_softmax_temp(ref_logits, 4, 0, p, &err) == 0);
	CHECK(p[2] == 1 && p[0] == 0 && p[1] == 0 && p[3] == 0);
	CHECK(sampler_softmax_temp(ref_logits, 4, -1, p, &err) == -1);
	CHECK(strstr(err.msg, "temperature") != NULL);
	CHECK(sampler_softmax_temp(ref_logits, 4, NAN, p, &err) == -1);
	CHECK(sampler_softmax_temp(ref_logits, 4, INFINITY, p, &err) == -1);
}

static void
test_reference_nucleus(void)
{
	static const float	probs[4] = { 0.5f, 0.3f, 0.15f, 0.05f };
	struct err		err;
	float			out[4];

	CHECK(sampler_nucleus(probs, 4, 0.8f, out, &err) == 0);
	CHECK_NEAR(out[0], 0.625, 1e-6);
	CHECK_NEAR(out[1], 0.375, 1e-6);
	CHECK(out[2] == 0 && out[3] == 0);
	CHECK(sampler_nucleus(probs, 4, 0.5f, out, &err) == 0);
	CHECK(out[0] == 1 && out[1] == 0 && out[2] == 0 && out[3] == 0);
	/* the token that crosses p is kept */
	CHECK(sampler_nucleus(probs, 4, 0.81f, out, &err) == 0);
	CHECK(out[2] > 0 && out[3] == 0);
	CHECK(sampler_nucleus(probs, 4, 1.0f, out, &err) == 0);
	CHECK_NEAR(out[3], 0.05, 1e-6);
	CHECK(sampler_nucleus(probs, 4, 0.0f, out, &err) == -1);
	CHECK(sampler_nucleus(probs, 4, 1.5f, out, &err) == -1);
	CHECK(sampler_nucleus(probs, 4, NAN, out, &err) == -1);
}

static void
test_params(void)
{
	struct sampler_params	p;
	struct err		err;

	sampler_params_default(&p);
	CHECK(sampler_params_check(&p, &err) == 0);
	CHECK(p.temperature == SAMPLER_TEMPERATURE_DEFAULT);
	p.temperature = -0.5f;
	CHECK(sampler_params_check(&p, &err) == -1);
	p.temperature = NAN;
	CHECK(sampler_params_check(&p, &err) == -1);
	p.temperature = INFINITY;
	CHECK(sampler_params_check(&p, &err) == -1);
	sampler_params_default(&p);
	p.top_p = 0;
	CHECK(sampler_params_check(&p, &err) == -1);
	p.top_p = 1.01f;
	CHECK(sampler_params_check(&p, &err) == -1);
	sampler_params_default(&p);
	p.min_p = 1;
	CHECK(sampler_params_check(&p, &err) == -1);
	sampler_params_default(&p);
	p.repeat_penalty = 0.5f;
	CHECK(sampler_params_check(&p, &err) == -1);
	sampler_params_default(&p);
	CHECK(sampler_params_set(&p, "top-k", 40, &err) == 0 && p.top_k == 40);
	CHECK(sampler_params_set(&p, "temperature", 0, &err) == 0 &&
	    p.temperature == 0);
	CHECK(sampler_params_set(&p, "top_p", 2, &err) == -1 &&
	    p.top_p == SAMPLER_TOP_P_DEFAULT);
	CHECK(sampler_params_set(&p, "top_k", 1.5, &err) == -1);
	CHECK(sampler_params_set(&p, "colour", 1, &err) == -1);
}

/* The settings table: every row's default is in its range and is what
 * sampler_params_default gives; names are found in any spelling; values
 * are parsed and refused with the range the row states; live-key steps
 * round and stop at the ends. */
static void
test_table(void)
{
	struct sampler_params	 p;
	struct err		 err;
	double			 v;
	char			 range[64];
	const struct sampler_setting *r;

	sampler_params_default(&p);
	for (size_t i = 0; i < sampler_n_settings; i++) {
		r = &sampler_settings[i];
		CHECK_MSG(sampler_setting_get(&p, r) == (r->type ==
		    SAMPLER_FLOAT ? (double)(float)r->def : r->def), "%s",
		    r->name);
		CHECK(sampler_setting_find(r->name) == r);
		for (size_t j = 0; j < i; j++)
			CHECK(sampler_settings[j].offset != r->offset &&
			    strcmp(sampler_settings[j].name, r->name) != 0);
		/* the value that turns it off is a legal value */
		CHECK_MSG(sampler_setting_put(&p, r, r->off, &err) == 0, "%s",
		    r->name);
		/* the change log and the history store it in a gen_change */
		CHECK(strlen(r->name) < sizeof ((struct gen_change *)0)->name);
	}
	sampler_params_default(&p);
	CHECK(sampler_setting_find("TOP-P") == sampler_setting_find("top_p"));
	CHECK(sampler_setting_find("temp") ==
	    sampler_setting_find("temperature"));
	CHECK(sampler_setting_find("top") == NULL);

	r = sampler_setting_find("top_p");
	sampler_setting_range(r, range, sizeof range);
	CHECK(strcmp(range, "(0, 1]") == 0);
	CHECK(sampler_setting_parse(r, "0", &v, &err) == -1);
	CHECK_MSG(strcmp(err.msg, "top_p: '0' is not a number in (0, 1]") ==
	    0, "%s", err.msg);
	CHECK(sampler_setting_parse(r, "1", &v, &err) == 0 && v == 1);
	CHECK(sampler_setting_parse(r, "0.5x", &v, &err) == -1);
	CHECK(sampler_setting_parse(r, "", &v, &err) == -1);
	CHECK(sampler_setting_step(r, 0.05, -1) == 0.05);	/* never 0 */
	CHECK(sampler_setting_step(r, 1, 1) == 1);

	r = sampler_setting_find("top_k");
	CHECK(sampler_setting_parse(r, "2147483647", &v, &err) == 0);
	CHECK(sampler_setting_parse(r, "2147483648", &v, &err) == -1);
	CHECK_MSG(strcmp(err.msg, "top_k: '2147483648' is not a whole number "
	    "in [0, 2147483647]") == 0, "%s", err.msg);
	CHECK(sampler_setting_parse(r, "4.5", &v, &err) == -1);

	r = sampler_setting_find("temperature");
	CHECK(sampler_setting_parse(r, "100", &v, &err) == 0);
	CHECK(sampler_setting_parse(r, "100.5", &v, &err) == -1);
	CHECK(sampler_setting_parse(r, "nan", &v, &err) == -1);
	CHECK(sampler_setting_step(r, 0.2, 1) == 0.3);
	CHECK(sampler_setting_step(r, 0.05, -1) == 0);
	CHECK(sampler_setting_step(r, 99.95, 1) == 100);
	CHECK(sampler_setting_put(&p, r, 100.5, &err) == -1 &&
	    p.temperature == SAMPLER_TEMPERATURE_DEFAULT);
	CHECK_MSG(strcmp(err.msg, "temperature: 100.5 is not a number in "
	    "[0, 100]") == 0, "%s", err.msg);
}

/*
 * Typical-p on a distribution worked by hand: q = (1/2, 1/4, 1/8, 1/8), so
 * -log q = (1, 2, 3, 3) ln 2 and the entropy is 1.75 ln 2.  Distances from
 * it: 0.75, 0.25, 1.25, 1.25 (times ln 2), so token 1 comes first, then
 * token 0, then 2 and 3.  typical_p 0.2 keeps token 1 alone (the argmax is
 * cut); 0.5 keeps {1, 0} (0.25 < 0.5 before token 0, 0.75 before token 2),
 * renormalised to (2/3, 1/3).
 */
static void
test_typical(void)
{
	float			 logits[4] = { logf(0.5f), logf(0.25f),
	    logf(0.125f), logf(0.125f) };
	struct sampler		*s = sampler_new(4);
	struct sampler_params	 p;
	struct sampler_cand	 c[4];
	struct lm_rng		 r;
	float			 prob;
	int			 n0 = 0, n_other = 0;

	if (s == NULL)
		return;
	sampler_params_default(&p);
	p.temperature = 1;
	p.top_p = 1;
	p.typical_p = 0.2f;
	rng_seed(&r, 1, 0);
	for (int i = 0; i < 50; i++) {
		int32_t id = sampler_pick(s, &p, logits, NULL, 0, &r, &prob);

		CHECK_MSG(id == 1 && fabsf(prob - 1) < 1e-6, "pick %d p %g",
		    (int)id, (double)prob);
	}
	CHECK(sampler_candidates(s, &p, logits, NULL, 0, c, 4) == 4);
	CHECK(c[0].id == 0 && !c[0].kept && c[1].id == 1 && c[1].kept &&
	    !c[2].kept && !c[3].kept);
	p.typical_p = 0.5f;
	CHECK(sampler_candidates(s, &p, logits, NULL, 0, c, 4) == 4);
	CHECK(c[0].kept && c[1].kept && !c[2].kept && !c[3].kept);
	CHECK_NEAR(c[0].p_final, 2.0 / 3, 1e-6);
	CHECK_NEAR(c[1].p_final, 1.0 / 3, 1e-6);
	for (int i = 0; i < 3000; i++) {
		int32_t id = sampler_pick(s, &p, logits, NULL, 0, &r, NULL);

		n0 += id == 0;
		n_other += id > 1;
	}
	/* 2/3 of 3000 is 2000; four standard deviations is 103 */
	CHECK_MSG(n_other == 0 && n0 > 1897 && n0 < 2103, "%d, %d", n0,
	    n_other);
	/* 1 is off: the argmax is back */
	p.typical_p = 1;
	p.temperature = 0;
	CHECK(sampler_pick(s, &p, logits, NULL, 0, &r, NULL) == 0);
	sampler_free(s);
}

static void
params_plain(struct sampler_params *p, float t, float top_p)
{
	sampler_params_default(p);
	p->temperature = t;
	p->top_p = top_p;
}

/* Frequencies of n draws over a small vocabulary. */
static void
draw_freq(struct sampler *s, const struct sampler_params *p,
    const float *logits, int n_vocab, int n, uint64_t seed, double *freq)
{
	struct lm_rng r;

	int bad = 0, cnt[64] = { 0 };

	rng_seed(&r, seed, 0);
	for (int i = 0; i < n; i++) {
		int32_t id = sampler_pick(s, p, logits, NULL, 0, &r, NULL);
		if (id >= 0 && id < n_vocab)
			cnt[id]++;
		else
			bad++;
	}
	CHECK(bad == 0);
	for (int i = 0; i < n_vocab; i++)
		freq[i] = (double)cnt[i] / n;
}

static void
test_frequencies(void)
{
	struct sampler		*s = sampler_new(4);
	struct sampler_params	 p;
	double			 f[4];
	const int		 n = 40000;
	const double		 tol = 0.012;	/* > 5 sigma at n = 40000 */
	float			 prob;
	struct lm_rng		 r;

	/* t = 1, no filter: the reference softmax */
	params_plain(&p, 1, 1);
	draw_freq(s, &p, ref_logits, 4, n, 1, f);
	CHECK_NEAR(f[0], 0.0854, tol);
	CHECK_NEAR(f[1], 0.2321, tol);
	CHECK_NEAR(f[2], 0.6308, tol);
	CHECK_NEAR(f[3], 0.0518, tol);
	/* t = 2 */
	params_plain(&p, 2, 1);
	draw_freq(s, &p, ref_logits, 4, n, 2, f);
	CHECK_NEAR(f[0], 0.1627, tol);
	CHECK_NEAR(f[3], 0.1267, tol);
	/* p = 0.8 keeps ids 2 and 1: 0.6308 / 0.8629, 0.2321 / 0.8629 */
	params_plain(&p, 1, 0.8f);
	draw_freq(s, &p, ref_logits, 4, n, 3, f);
	CHECK_NEAR(f[2], 0.7310, tol);
	CHECK_NEAR(f[1], 0.2690, tol);
	CHECK(f[0] == 0 && f[3] == 0);
	rng_seed(&r, 9, 0);
	do
		prob = 0;
	while (sampler_pick(s, &p, ref_logits, NULL, 0, &r, &prob) != 2);
	CHECK_NEAR(prob, 0.7310, 1e-3);
	/* top-k 2: the same two */
	params_plain(&p, 1, 1);
	p.top_k = 2;
	draw_freq(s, &p, ref_logits, 4, n, 4, f);
	CHECK_NEAR(f[2], 0.7310, tol);
	CHECK(f[0] == 0 && f[3] == 0);
	/* top-k 3 then top-p 0.9 of the renormalised three: 2, 1 (0.6308 /
	 * 0.9483 = 0.665 < 0.9, next 0.2448 crosses) and 0 (cum 0.910) */
	p.top_k = 3;
	p.top_p = 0.9f;
	draw_freq(s, &p, ref_logits, 4, n, 5, f);
	CHECK(f[0] == 0 && f[3] == 0);
	p.top_p = 0.92f;
	draw_freq(s, &p, ref_logits, 4, n, 5, f);
	CHECK_NEAR(f[0], 0.0854 / 0.9483, tol);
	CHECK(f[3] == 0);
	/* min-p 0.3: keep p >= 0.189, ids 2 and 1 */
	params_plain(&p, 1, 1);
	p.min_p = 0.3f;
	draw_freq(s, &p, ref_logits, 4, n, 6, f);
	CHECK_NEAR(f[1], 0.2690, tol);
	CHECK(f[0] == 0 && f[3] == 0);
	/* min-p 0.1: 0.0854 >= 0.063 stays, 0.0518 goes */
	p.min_p = 0.1f;
	draw_freq(s, &p, ref_logits, 4, n, 7, f);
	CHECK_NEAR(f[0], 0.0854 / 0.9482, tol);
	CHECK(f[3] == 0);
	sampler_free(s);
}

static void
test_greedy_and_draws(void)
{
	static const float	tie[5] = { 0.5f, 3.0f, -1.0f, 3.0f, 3.0f };
	struct sampler		*s = sampler_new(5);
	struct sampler_params	 p;
	struct lm_rng		 r, r2;
	float			 prob;

	params_plain(&p, 0, 0.5f);
	rng_seed(&r, 5, 0);
	r2 = r;
	CHECK(sampler_pick(s, &p, tie, NULL, 0, &r, &prob) == 1);
	CHECK(memcmp(&r, &r2, sizeof r) == 0);	/* greedy draws nothing */
	CHECK(prob > 0.32f && prob < 0.34f);
	/* one uniform per sampled token, whatever the filters */
	params_plain(&p, 0.7f, 0.6f);
	p.top_k = 3;
	p.min_p = 0.01f;
	for (int i = 0; i < 10; i++)
		sampler_pick(s, &p, tie, NULL, 0, &r, NULL);
	for (int i = 0; i < 10; i++)
		rng_next(&r2);
	CHECK(memcmp(&r, &r2, sizeof r) == 0);
	/* same seed, same tokens */
	int32_t a[50], b[50];
	rng_seed(&r, 11, 0);
	for (int i = 0; i < 50; i++)
		a[i] = sampler_pick(s, &p, tie, NULL, 0, &r, NULL);
	rng_seed(&r, 11, 0);
	for (int i = 0; i < 50; i++)
		b[i] = sampler_pick(s, &p, tie, NULL, 0, &r, NULL);
	CHECK(memcmp(a, b, sizeof a) == 0);
	sampler_free(s);
}

static void
test_penalty(void)
{
	static const float	l[3] = { 2.0f, -1.0f, 1.9f };
	struct sampler		*s = sampler_new(3);
	struct sampler_params	 p;
	struct sampler_cand	 c[3];
	static const int32_t	 rec[4] = { 2, 0, 1, 0 };

	params_plain(&p, 0, 1);
	CHECK(sampler_pick(s, &p, l, rec, 4, NULL, NULL) == 0);
	p.repeat_penalty = 2;
	/* window 4: 0 -> 1.0, 1 -> -2, 2 -> 0.95 */
	CHECK(sampler_pick(s, &p, l, rec, 4, NULL, NULL) == 0);
	/* window 3: 2 is out of it, so 1.9 beats 1.0 */
	p.repeat_window = 3;
	CHECK(sampler_pick(s, &p, l, rec, 4, NULL, NULL) == 2);
	/* penalised once although 0 occurs twice: p_temp of 1.0 vs -2 ... */
	p.temperature = 1;
	p.repeat_window = 4;
	CHECK(sampler_candidates(s, &p, l, rec, 4, c, 3) == 3);
	double z = exp(1.0) + exp(-2.0) + exp(0.95);
	CHECK(c[0].id == 0);
	CHECK_NEAR(c[0].p_temp, exp(1.0) / z, 1e-5);
	CHECK_NEAR(c[2].p_temp, exp(-2.0) / z, 1e-5);
	CHECK_NEAR(c[0].p_raw, exp(2.0) / (exp(2.0) + exp(-1.0) + exp(1.9)),
	    1e-5);
	/* window 0 turns it off */
	p.repeat_window = 0;
	p.temperature = 0;
	CHECK(sampler_pick(s, &p, l, rec, 4, NULL, NULL) == 0);
	sampler_free(s);
}

static void
test_edges(void)
{
	struct sampler		*s = sampler_new(8);
	struct sampler		*s1 = sampler_new(1);
	struct sampler_params	 p;
	struct lm_rng		 r;
	float			 eq[8], ninf[8], prob;
	double			 f[8];

	CHECK(sampler_new(0) == NULL);
	for (int i = 0; i < 8; i++) {
		eq[i] = 1.5f;
		ninf[i] = -INFINITY;
	}
	/* tiny p keeps only the best token */
	params_plain(&p, 1.5f, 1e-9f);
	draw_freq(s, &p, (float[8]){ 0, 1, 2, 7, 2, 1, 0, 6.99f }, 8, 500,
	    1, f);
	CHECK(f[3] == 1);
	/* all equal: uniform; p = 0.5 keeps the first half by id */
	params_plain(&p, 1, 1);
	draw_freq(s, &p, eq, 8, 40000, 2, f);
	for (int i = 0; i < 8; i++)
		CHECK_NEAR(f[i], 0.125, 0.01);
	p.top_p = 0.5f;
	draw_freq(s, &p, eq, 8, 40000, 3, f);
	for (int i = 0; i < 8; i++)
		CHECK_NEAR(f[i], i < 4 ? 0.25 : 0, 0.012);
	p.temperature = 0;
	CHECK(sampler_pick(s, &p, eq, NULL, 0, NULL, NULL) == 0);
	/* -inf and NaN are never drawn */
	ninf[2] = 0;
	ninf[5] = 0.5f;
	ninf[6] = NAN;
	params_plain(&p, 3, 1);
	draw_freq(s, &p, ninf, 8, 5000, 4, f);
	CHECK(f[2] + f[5] == 1 && f[5] > f[2]);
	p.top_p = 0.999f;
	p.top_k = 7;
	draw_freq(s, &p, ninf, 8, 5000, 4, f);
	CHECK(f[2] + f[5] == 1);
	/* all -inf: uniform, no crash */
	for (int i = 0; i < 8; i++)
		ninf[i] = -INFINITY;
	params_plain(&p, 1, 0.8f);
	draw_freq(s, &p, ninf, 8, 8000, 5, f);
	CHECK(f[0] > 0.05 && f[6] > 0.05 && f[7] == 0); /* 7/8 >= 0.8 */
	/* +inf wins */
	float pinf[8] = { 0, INFINITY, 0, 0, 0, 0, 0, 0 };
	draw_freq(s, &p, pinf, 8, 100, 6, f);
	CHECK(f[1] == 1);
	/* a vocabulary of one */
	rng_seed(&r, 1, 0);
	params_plain(&p, 0.8f, 0.9f);
	p.top_k = 5;
	p.min_p = 0.5f;
	CHECK(sampler_pick(s1, &p, (float[1]){ -3 }, NULL, 0, &r, &prob) == 0);
	CHECK(prob == 1);
	params_plain(&p, 0, 1);
	CHECK(sampler_pick(s1, &p, (float[1]){ -3 }, NULL, 0, &r, &prob) == 0);
	sampler_free(s);
	sampler_free(s1);
}

/* ---- the pre-filtered sampler against a full sort ---------------------------- */

static const float *bf_w;

static int
bf_cmp(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	if (bf_w[x] != bf_w[y])
		return bf_w[x] > bf_w[y] ? -1 : 1;
	return (x > y) - (x < y);
}

/*
 * The definition, written directly: weights, full sort, each filter on
 * the whole sorted list, inverse CDF.
 */
static int32_t
bf_pick(const float *l, int n, const struct sampler_params *p, double u)
{
	int32_t	*ix = xcalloc((size_t)n, sizeof *ix);
	double	*e = xcalloc((size_t)n, sizeof *e);
	float	 m = -INFINITY;
	double	 z = 0, zk = 0, cum = 0;
	int	 keep = n, id;

	for (int i = 0; i < n; i++)
		m = l[i] > m ? l[i] : m;
	for (int i = 0; i < n; i++) {
		e[i] = sampler_weight(l[i], m, p->temperature);
		z += e[i];
		ix[i] = i;
	}
	bf_w = l;
	qsort(ix, (size_t)n, sizeof *ix, bf_cmp);
	if (p->top_k > 0 && p->top_k < n)
		keep = p->top_k;
	for (int j = 0; j < keep; j++)
		zk += e[ix[j]];
	if (keep == n)
		zk = z;
	if (p->top_p < 1) {
		int j;
		for (j = 0; j < keep && cum < p->top_p; j++)
			cum += e[ix[j]] / zk;
		keep = j;
	}
	if (p->min_p > 0) {
		int j;
		for (j = 1; j < keep && e[ix[j]] >= p->min_p * e[ix[0]]; j++)
			;
		keep = j;
	}
	zk = 0;
	for (int j = 0; j < keep; j++)
		zk += e[ix[j]];
	cum = 0;
	id = ix[keep - 1];
	for (int j = 0; j < keep; j++) {
		cum += e[ix[j]];
		if (cum > u * zk) {
			id = ix[j];
			break;
		}
	}
	free(ix);
	free(e);
	return id;
}

static void
test_against_full_sort(void)
{
	const int		 n = 50257;
	float			*l = xcalloc((size_t)n, sizeof *l);
	struct sampler		*s = sampler_new(n);
	struct sampler		*s3 = sampler_new(n);	/* 3 threads */
	struct lm_rng		 g, r, r2, r3;
	struct sampler_params	 p;
	int			 same = 0, trials = 0, same3 = 0;
	static const struct { float t, p; int k; float mp; } cfg[] = {
		{ 1.0f, 0.9f, 0, 0 }, { 0.7f, 0.95f, 0, 0 },
		{ 1.0f, 1.0f, 0, 0 }, { 1.3f, 0.5f, 0, 0 },
		{ 0.8f, 1.0f, 40, 0 }, { 1.0f, 0.9f, 100, 0 },
		{ 1.0f, 1.0f, 0, 0.05f }, { 0.9f, 0.95f, 50, 0.01f },
		{ 5.0f, 0.99f, 0, 0 }, { 0.05f, 0.9f, 0, 0 },
	};

	sampler_set_threads(s3, 3);
	rng_seed(&g, 123, 0);
	for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
		params_plain(&p, cfg[c].t, cfg[c].p);
		p.top_k = cfg[c].k;
		p.min_p = cfg[c].mp;
		for (int rep = 0; rep < 6; rep++) {
			/* logits: gaussian-ish, a few coarse ties, some -inf */
			for (int i = 0; i < n; i++) {
				double v = 0;
				for (int k = 0; k < 4; k++)
					v += rng_uniform(&g) - 0.5;
				l[i] = rep % 3 == 1 ? (float)(int)(v * 4) :
				    (float)(v * 6);
				if (rep % 3 == 2 && i % 7 == 0)
					l[i] = -INFINITY;
			}
			rng_seed(&r, (uint64_t)rep, c);
			r2 = r3 = r;
			for (int k = 0; k < 5; k++) {
				int32_t got = sampler_pick(s, &p, l, NULL, 0,
				    &r, NULL);
				same3 += got == sampler_pick(s3, &p, l, NULL,
				    0, &r3, NULL);
				int32_t want = bf_pick(l, n, &p,
				    rng_uniform(&r2));
				trials++;
				same += got == want;
				if (got != want)
					fprintf(stderr, "cfg %zu rep %d: %d "
					    "vs %d\n", c, rep, got, want);
			}
		}
	}
	CHECK_MSG(same == trials, "%d of %d picks agree", same, trials);
	CHECK_MSG(same3 == trials, "%d of %d picks agree with 3 threads",
	    same3, trials);
	sampler_free(s);
	sampler_free(s3);
	free(l);
}

static void
test_candidates(void)
{
	struct sampler		*s = sampler_new(4);
	struct sampler_params	 p;
	struct sampler_cand	 c[8];

	params_plain(&p, 1, 0.8f);
	CHECK(sampler_candidates(s, &p, ref_logits, NULL, 0, c, 8) == 4);
	CHECK(c[0].id == 2 && c[1].id == 1 && c[2].id == 0 && c[3].id == 3);
	CHECK_NEAR(c[0].p_temp, 0.6308, 1e-4);
	CHECK_NEAR(c[0].p_raw, 0.6308, 1e-4);
	CHECK_NEAR(c[1].cum, 0.6308, 1e-4);
	CHECK(c[0].kept && c[1].kept && !c[2].kept && !c[3].kept);
	CHECK_NEAR(c[0].p_final, 0.7310, 1e-4);
	CHECK(c[2].p_final == 0);
	CHECK(sampler_candidates(s, &p, ref_logits, NULL, 0, c, 2) == 2);
	CHECK(c[1].id == 1 && c[1].kept);
	p.temperature = 2;
	p.top_p = 1;
	CHECK(sampler_candidates(s, &p, ref_logits, NULL, 0, c, 1) == 1);
	CHECK_NEAR(c[0].p_temp, 0.4423, 1e-4);
	CHECK_NEAR(c[0].p_raw, 0.6308, 1e-4);
	p.temperature = 0;
	CHECK(sampler_candidates(s, &p, ref_logits, NULL, 0, c, 4) == 4);
	CHECK(c[0].kept && c[0].p_final == 1 && !c[1].kept);
	sampler_free(s);
}

/* ---- benchmark ------------------------------------------------------------ */

static double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int
bench(int threads)
{
	const int		 n = 50257, reps = 300;
	float			*l = xcalloc((size_t)n, sizeof *l);
	struct sampler		*s = sampler_new(n);
	struct lm_rng		 r;
	struct sampler_params	 p;
	static const struct { const char *name; float t, p; int k; } cfg[] = {
		{ "greedy", 0, 1, 0 },
		{ "t=0.8 no filter", 0.8f, 1, 0 },
		{ "t=0.8 top-p 0.9", 0.8f, 0.9f, 0 },
		{ "t=1.0 top-p 0.95", 1.0f, 0.95f, 0 },
		{ "t=0.8 top-k 40", 0.8f, 1, 40 },
		{ "t=0.8 top-k 40 top-p 0.9", 0.8f, 0.9f, 40 },
	};

	sampler_set_threads(s, threads);
	rng_seed(&r, 1, 0);
	/* logits with a language-model-like spread: sd about 2.5 */
	for (int i = 0; i < n; i++) {
		double v = 0;
		for (int k = 0; k < 12; k++)
			v += rng_uniform(&r) - 0.5;
		l[i] = (float)(v * 2.5);
	}
	printf("sampler, vocabulary %d, %d thread(s), %d picks each:\n", n,
	    threads, reps);
	for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
		params_plain(&p, cfg[c].t, cfg[c].p);
		p.top_k = cfg[c].k;
		double t0 = bench_now();
		for (int i = 0; i < reps; i++)
			sampler_pick(s, &p, l, NULL, 0, &r, NULL);
		printf("  %-28s %8.1f us/pick\n", cfg[c].name,
		    (bench_now() - t0) / reps * 1e6);
	}
	sampler_free(s);
	free(l);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--bench") == 0)
		return bench(argc > 2 ? atoi(argv[2]) : 1);
	test_rng();
	test_reference_softmax();
	test_reference_nucleus();
	test_params();
	test_table();
	test_typical();
	test_frequencies();
	test_greedy_and_draws();
	test_penalty();
	test_edges();
	test_against_full_sort();
	test_candidates();
	CHECK_RESULT();
}
