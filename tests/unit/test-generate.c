/*
 * test-generate: generation sessions on the committed fixture models.
 *
 * Covers: greedy continuations equal to the PyTorch reference ids
 * (tests/data/models/{tiny,h12}/ref.json, written by
 * tools/gen-model-fixtures.py); the same seed giving the same tokens across
 * runs, thread counts (1 vs 2) and batch positions (a sequence alone, or
 * beside other prompts and samples that stop early); prompt-prefix reuse of
 * the KV cache; stop rules (EOS, max_new_tokens, stop strings that span
 * tokens and are never emitted, context full, a prompt longer than the
 * context); interrupt; live settings changes logged and replayed; the
 * streamed pieces adding up to the output text; a branch (issue 14): a
 * forced token is the first output, draws nothing from the RNG (the rest
 * equals a run whose prompt ends in it), is refused outside the
 * vocabulary, and a branch of the last reply runs one token again; every
 * output token's probability is kept (gen_output_probs) and matches the
 * callback's; the pacer.
 *
 * `test-generate --bench` instead prints the sampler's share of a decode
 * step for a 50257-token vocabulary (random weights).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "bpe.h"
#include "check.h"
#include "generate.h"
#include "model.h"
#include "sampler.h"
#include "util.h"

struct fixture {
	struct lm_model	*m;
	struct bpe	*bpe;		/* tiny only */
	int32_t		 prompt[64];
	size_t		 n_prompt;
	int32_t		 greedy[64];
	size_t		 n_greedy;
};

static size_t
json_ids(json_t *a, int32_t *out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < json_array_size(a) && n < cap; i++)
		out[n++] = (int32_t)json_integer_value(json_array_get(a, i));
	return n;
}

static int
fixture_load(struct fixture *f, const char *name, int with_bpe)
{
	struct lm_model_source	 src = { 0 };
	struct err		 err;
	json_error_t		 jerr;
	char			*dir = xasprintf("%s/models/%s", check_data_dir(),
				    name);
	char			*ref = xasprintf("%s/ref.json", dir);
	json_t			*j;

	memset(f, 0, sizeof *f);
	src.dir = dir;
	f->m = model_open(&src, &err);
	CHECK_MSG(f->m != NULL, "%s", err.msg);
	j = json_load_file(ref, 0, &jerr);
	CHECK_MSG(j != NULL, "%s: %s", ref, jerr.text);
	if (j != NULL) {
		f->n_prompt = json_ids(json_object_get(j, "prompt"), f->prompt,
		    64);
		f->n_greedy = json_ids(json_object_get(j, "greedy"), f->greedy,
		    64);
		json_decref(j);
	}
	if (with_bpe) {
		char *v = xasprintf("%s/vocab.json", dir);
		char *mg = xasprintf("%s/merges.txt", dir);
		f->bpe = bpe_load(v, mg, &err);
		CHECK_MSG(f->bpe != NULL, "%s", err.msg);
		free(v);
		free(mg);
	}
	free(dir);
	free(ref);
	return f->m != NULL && f->n_greedy > 0 && (!with_bpe || f->bpe);
}

static void
fixture_free(struct fixture *f)
{
	bpe_free(f->bpe);
	model_close(f->m);
}

static void
settings(struct gen_settings *gs, float t, uint64_t seed, int max_new)
{
	memset(gs, 0, sizeof *gs);
	sampler_params_default(&gs->sp);
	gs->sp.temperature = t;
	gs->sp.top_p = 0.95f;
	gs->seed = seed;
	gs->max_new_tokens = max_new;
	gs->eos_id = -1;
}

/* What the callback saw. */
struct seen {
	struct buf	text[8];	/* pieces, per sequence */
	int		events[8];	/* events per sequence */
	int		last_id[8];	/* id of the last event */
	enum gen_stop	stop[8];	/* stop of the last event */
	int		bad;		/* events out of order */
};

static void
seen_fn(void *arg, const struct gen_token *t)
{
	struct seen *sn = arg;

	if (t->seq < 0 || t->seq >= 8 || t->step != sn->events[t->seq]) {
		sn->bad++;
		return;
	}
	buf_append(&sn->text[t->seq], t->piece, t->piece_len);
	sn->events[t->seq]++;
	sn->last_id[t->seq] = t->id;
	sn->stop[t->seq] = t->stop;
	if (t->prob < 0 || t->prob > 1)
		sn->bad++;
}

static void
seen_init(struct seen *sn)
{
	memset(sn, 0, sizeof *sn);
	for (int i = 0; i < 8; i++)
		buf_init(&sn->text[i]);
}

static void
seen_fini(struct seen *sn)
{
	for (int i = 0; i < 8; i++)
		buf_fini(&sn->text[i]);
}

/* Run a session to the end; prompts given as (ids, n, samples) triples. */
static struct gen_session *
run(struct gen_engine *e, const struct gen_settings *gs, int n_prompts,
    const int32_t *const *ids, const size_t *n, const int *samples,
    struct seen *sn)
{
	struct err		 err;
	struct gen_session	*s = gen_new(e, gs, &err);
	int			 rc;

	CHECK_MSG(s != NULL, "%s", err.msg);
	if (s == NULL)
		return NULL;
	for (int p = 0; p < n_prompts; p++)
		CHECK_MSG(gen_add_prompt(s, ids[p], n[p], samples[p],
		    &err) == 0, "%s", err.msg);
	CHECK_MSG(gen_start(s, &err) == 0, "%s", err.msg);
	while ((rc = gen_step(s, sn != NULL ? seen_fn : NULL, sn, &err)) == 1)
		;
	CHECK_MSG(rc == 0, "%s", err.msg);
	return s;
}

static struct gen_session *
run1(struct gen_engine *e, const struct gen_settings *gs, const int32_t *ids,
    size_t n, int samples, struct seen *sn)
{
	return run(e, gs, 1, &ids, &n, &samples, sn);
}

static int
same_output(const struct gen_session *a, int i, const struct gen_session *b,
    int j)
{
	size_t		 na, nb;
	const int32_t	*x = gen_output_ids(a, i, &na);
	const int32_t	*y = gen_output_ids(b, j, &nb);

	return na == nb && na > 0 && memcmp(x, y, na * sizeof *x) == 0;
}

static void
test_greedy_reference(const char *name)
{
	struct fixture		 f;
	struct gen_settings	 gs;
	struct gen_engine	*e;
	struct gen_session	*s;
	struct err		 err;
	const int32_t		*out;
	size_t			 n;

	if (!fixture_load(&f, name, 0))
		return;
	e = gen_engine_new(f.m, NULL, 1, &err);
	CHECK_MSG(e != NULL, "%s", err.msg);
	settings(&gs, 0, 1, (int)f.n_greedy);
	s = run1(e, &gs, f.prompt, f.n_prompt, 1, NULL);
	out = gen_output_ids(s, 0, &n);
	CHECK_MSG(n == f.n_greedy && memcmp(out, f.greedy,
	    n * sizeof *out) == 0, "%s: greedy ids differ from PyTorch", name);
	CHECK(gen_stop_reason(s, 0) == GEN_STOP_MAX);
	gen_free(s);
	gen_engine_free(e);
	fixture_free(&f);
}

static void
test_determinism(void)
{
	struct fixture		 f;
	struct gen_settings	 gs;
	struct gen_engine	*e, *e2;
	struct gen_session	*a, *b, *c, *d, *lone;
	struct err		 err;
	static const int32_t	 p1[] = { 72, 101, 108, 108, 111 };
	static const int32_t	 p2[] = { 10, 20, 30 };
	static const int32_t	 p3[] = { 200, 201, 202, 203, 204, 205, 206 };

	if (!fixture_load(&f, "tiny", 0))
		return;
	e = gen_engine_new(f.m, NULL, 4, &err);
	settings(&gs, 1.0f, 1234, 30);
	/* the same seed twice, the second time on a warm engine */
	a = run1(e, &gs, p1, 5, 3, NULL);
	/* the three samples share one prefill */
	CHECK_MSG(gen_prefilled_tokens(a) == 5, "%zu",
	    gen_prefilled_tokens(a));
	b = run1(e, &gs, p1, 5, 3, NULL);
	for (int i = 0; i < 3; i++)
		CHECK(same_output(a, i, b, i));
	CHECK(!same_output(a, 0, a, 1));	/* streams differ */
	/* another seed gives another stream */
	gs.seed = 1235;
	c = run1(e, &gs, p1, 5, 1, NULL);
	CHECK(!same_output(a, 0, c, 0));
	gen_free(c);
	gs.seed = 1234;
	/* thread counts */
	model_set_threads(f.m, 1);
	c = run1(e, &gs, p1, 5, 3, NULL);
	model_set_threads(f.m, 2);
	d = run1(e, &gs, p1, 5, 3, NULL);
	for (int i = 0; i < 3; i++)
		CHECK(same_output(a, i, c, i) && same_output(a, i, d, i));
	gen_free(c);
	gen_free(d);
	/* batch positions: sequence 0 alone, and beside other prompts whose
	 * sequences stop early on an EOS id they are likely to hit */
	lone = run1(e, &gs, p1, 5, 1, NULL);
	CHECK(same_output(a, 0, lone, 0));
	{
		const int32_t	*ids[3] = { p1, p2, p3 };
		size_t		 n[3] = { 5, 3, 7 };
		int		 ns[3] = { 1, 2, 2 };
		const int32_t	*ids2[2] = { p1, p3 };
		size_t		 n2[2] = { 5, 7 };
		int		 ns2[2] = { 1, 2 };
		size_t		 k;
		const int32_t	*o;

		c = run(e, &gs, 3, ids, n, ns, NULL);
		CHECK(same_output(a, 0, c, 0));
		/* an EOS that some sequence of c meets early */
		o = gen_output_ids(c, 3, &k);
		gs.eos_id = o[k / 3];
		d = run(e, &gs, 3, ids, n, ns, NULL);
		int early = 0;
		for (int i = 0; i < 5; i++) {
			size_t m;
			const int32_t *q = gen_output_ids(d, i, &m);
			const int32_t *r = gen_output_ids(c, i, &k);
			/* each is a prefix of its run without the EOS */
			CHECK(m <= k && memcmp(q, r, m * sizeof *q) == 0);
			early += gen_stop_reason(d, i) == GEN_STOP_EOS;
		}
		CHECK(early >= 1);
		gen_free(d);
		gs.eos_id = -1;
		/* p1 as sequence 1 after another prompt prefills on its own,
		 * and matches sample 1 of a, which copied sample 0's prefill */
		{
			const int32_t	*ids3[2] = { p2, p1 };
			size_t		 n3[2] = { 3, 5 };
			int		 ns3[2] = { 1, 1 };

			e2 = gen_engine_new(f.m, NULL, 2, &err);
			d = run(e2, &gs, 2, ids3, n3, ns3, NULL);
			CHECK(gen_prefilled_tokens(d) == 8);
			CHECK(same_output(a, 1, d, 1));
			gen_free(d);
			gen_engine_free(e2);
		}
		/* fewer neighbours, on a fresh engine: sequence 1 is still
		 * stream 1 */
		e2 = gen_engine_new(f.m, NULL, 1, &err);
		d = run(e2, &gs, 2, ids2, n2, ns2, NULL);
		CHECK(same_output(a, 0, d, 0));
		gen_free(d);
		gen_engine_free(e2);
		gen_free(c);
	}
	gen_free(lone);
	gen_free(a);
	gen_free(b);
	gen_engine_free(e);
	fixture_free(&f);
}

static void
test_prefix_reuse(void)
{
	struct fixture		 f;
	struct gen_settings	 gs;
	struct gen_engine	*e, *e2;
	struct gen_session	*a, *b, *c;
	struct err		 err;
	int32_t			 p[64];
	size_t			 n, np;
	const int32_t		*o;

	if (!fixture_load(&f, "tiny", 0))
		return;
	e = gen_engine_new(f.m, NULL, 1, &err);
	settings(&gs, 0, 1, 6);
	a = run1(e, &gs, f.prompt, f.n_prompt, 1, NULL);
	CHECK(gen_prefilled_tokens(a) == f.n_prompt);
	/* next turn: the whole conversation plus two new tokens */
	memcpy(p, f.prompt, f.n_prompt * sizeof *p);
	o = gen_output_ids(a, 0, &n);
	memcpy(p + f.n_prompt, o, n * sizeof *p);
	np = f.n_prompt + n;
	p[np++] = 65;
	p[np++] = 66;
	b = run1(e, &gs, p, np, 1, NULL);
	/* the last output token and the two new ones */
	CHECK_MSG(gen_prefilled_tokens(b) == 3, "%zu",
	    gen_prefilled_tokens(b));
	e2 = gen_engine_new(f.m, NULL, 1, &err);
	c = run1(e2, &gs, p, np, 1, NULL);
	CHECK(gen_prefilled_tokens(c) == np);
	CHECK(same_output(b, 0, c, 0));
	/* the same prompt again: only its last token runs */
	gen_free(c);
	c = run1(e2, &gs, p, np, 1, NULL);
	CHECK(gen_prefilled_tokens(c) == 1);
	CHECK(same_output(b, 0, c, 0));
	gen_free(c);
	/* a different prompt, and after forgetting: all of it */
	gen_engine_forget(e2);
	c = run1(e2, &gs, p, np, 1, NULL);
	CHECK(gen_prefilled_tokens(c) == np);
	gen_free(c);
	gen_free(a);
	gen_free(b);
	gen_engine_free(e);
	gen_engine_free(e2);
	fixture_free(&f);
}

static void
test_stops(void)
{
	struct fixture		 f;
	struct gen_settings	 gs;
	struct gen_engine	*e;
	struct gen_session	*s, *t;
	struct err		 err;
	struct seen		 sn;
	size_t			 n, tl;
	const int32_t		*o;
	const char		*txt;

	if (!fixture_load(&f, "tiny", 1))
		return;
	e = gen_engine_new(f.m, f.bpe, 1, &err);
	/* max_new_tokens */
	settings(&gs, 0, 1, 5);
	seen_init(&sn);
	s = run1(e, &gs, f.prompt, f.n_prompt, 1, &sn);
	gen_output_ids(s, 0, &n);
	CHECK(n == 5 && gen_stop_reason(s, 0) == GEN_STOP_MAX);
	CHECK(sn.events[0] == 5 && sn.stop[0] == GEN_STOP_MAX && !sn.bad);
	txt = gen_output_text(s, 0, &tl);
	CHECK(tl == sn.text[0].len && memcmp(txt, sn.text[0].data, tl) == 0);
	CHECK(gen_context_used(s, 0) == (int)(f.n_prompt + 5));
	gen_free(s);
	seen_fini(&sn);
	/* EOS: the third greedy token; its text is not emitted */
	settings(&gs, 0, 1, 12);
	gs.eos_id = f.greedy[2];
	seen_init(&sn);
	s = run1(e, &gs, f.prompt, f.n_prompt, 1, &sn);
	o = gen_output_ids(s, 0, &n);
	CHECK(n == 3 && o[2] == f.greedy[2]);
	CHECK(gen_stop_reason(s, 0) == GEN_STOP_EOS && sn.stop[0] ==
	    GEN_STOP_EOS && sn.last_id[0] == f.greedy[2]);
	gen_free(s);
	seen_fini(&sn);
	/* stop strings: the greedy text holds the bytes 'S' 'O' (tokens 83,
	 * 79 at steps 3 and 4); "SO" spans the two and is never emitted */
	CHECK(f.greedy[3] == 83 && f.greedy[4] == 79);
	settings(&gs, 0, 1, 12);
	t = run1(e, &gs, f.prompt, f.n_prompt, 1, NULL);
	gs.stop[0] = "zz";
	gs.stop[1] = "SO";
	gs.n_stop = 2;
	seen_init(&sn);
	s = run1(e, &gs, f.prompt, f.n_prompt, 1, &sn);
	gen_output_ids(s, 0, &n);
	CHECK(n == 5 && gen_stop_reason(s, 0) == GEN_STOP_STRING);
	txt = gen_output_text(s, 0, &tl);
	CHECK(memchr(txt, 'S', tl) == NULL && tl > 0 && txt[0] == '%');
	CHECK(tl == sn.text[0].len && memcmp(txt, sn.text[0].data, tl) == 0);
	/* the text before the stop string is the same as without it */
	CHECK(memcmp(gen_output_text(t, 0, NULL), txt, tl) == 0);
	gen_free(s);
	seen_fini(&sn);
	/* a stop string whose prefix appears but never completes: held
	 * back, then released; the text equals the run without it */
	gs.stop[1] = "SOX";
	s = run1(e, &gs, f.prompt, f.n_prompt, 1, NULL);
	CHECK(gen_stop_reason(s, 0) == GEN_STOP_MAX);
	CHECK(strcmp(gen_output_text(s, 0, NULL),
	    gen_output_text(t, 0, NULL)) == 0);
	gen_free(s);
	gen_free(t);
	gs.n_stop = 0;
	/* context full: 64 positions, so a prompt of 60 makes 5 tokens
	 * (the last is sampled, never run) */
	{
		int32_t	p[66];
		for (int i = 0; i < 66; i++)
			p[i] = (i * 7) % 256;
		settings(&gs, 0.7f, 3, 100);
		s = run1(e, &gs, p, 60, 1, NULL);
		gen_output_ids(s, 0, &n);
		CHECK_MSG(n == 5, "%zu", n);
		CHECK(gen_stop_reason(s, 0) == GEN_STOP_CONTEXT);
		gen_free(s);
		s = run1(e, &gs, p, 64, 1, NULL);
		gen_output_ids(s, 0, &n);
		CHECK(n == 1 && gen_stop_reason(s, 0) == GEN_STOP_CONTEXT);
		gen_free(s);
		s = gen_new(e, &gs, &err);
		CHECK(gen_add_prompt(s, p, 66, 1, &err) == 0);
		CHECK(gen_start(s, &err) == -1);
		CHECK_MSG(strstr(err.msg, "66 tokens, 2 more than the context "
		    "length 64") != NULL, "%s", err.msg);
		gen_free(s);
	}
	/* bad input */
	settings(&gs, 0, 1, 5);
	s = gen_new(e, &gs, &err);
	CHECK(gen_add_prompt(s, f.prompt, 0, 1, &err) == -1);
	CHECK(gen_add_prompt(s, (int32_t[]){ 1, 257 }, 2, 1, &err) == -1);
	CHECK(strstr(err.msg, "257") != NULL);
	CHECK(gen_start(s, &err) == -1);
	gen_free(s);
	gs.sp.temperature = -1;
	CHECK(gen_new(e, &gs, &err) == NULL);
	settings(&gs, 0, 1, 5);
	gs.eos_id = 300;
	CHECK(gen_new(e, &gs, &err) == NULL);
	gen_engine_free(e);
	fixture_free(&f);
}

static void
test_interrupt_and_changes(void)
{
	struct fixture		 f;
	struct gen_settings	 gs;
	struct gen_engine	*e;
	struct gen_session	*s, *r;
	struct err		 err;
	struct seen		 sn;
	struct sampler_params	 sp;
	size_t			 n, nc;
	const struct gen_change	*ch;
	struct gen_change	 saved[8];

	if (!fixture_load(&f, "tiny", 1))
		return;
	e = gen_engine_new(f.m, f.bpe, 2, &err);
	settings(&gs, 0.9f, 77, 40);
	/* interrupt after three steps: every sequence ends, id -1 */
	seen_init(&sn);
	s = gen_new(e, &gs, &err);
	gen_add_prompt(s, f.prompt, f.n_prompt, 2, &err);
	CHECK(gen_start(s, &err) == 0);
	for (int i = 0; i < 3; i++)
		CHECK(gen_step(s, seen_fn, &sn, &err) == 1);
	gen_interrupt(s);
	CHECK(gen_step(s, seen_fn, &sn, &err) == 0);
	for (int i = 0; i < 2; i++) {
		gen_output_ids(s, i, &n);
		CHECK(n == 3 && gen_stop_reason(s, i) == GEN_STOP_INTERRUPTED);
		CHECK(sn.last_id[i] == -1 && sn.stop[i] ==
		    GEN_STOP_INTERRUPTED && sn.events[i] == 4);
		CHECK(gen_next_logits(s, i) == NULL);
	}
	CHECK(gen_step(s, seen_fn, &sn, &err) == 0);
	gen_free(s);
	seen_fini(&sn);
	/* live changes, logged at the step they apply from */
	s = gen_new(e, &gs, &err);
	gen_add_prompt(s, f.prompt, f.n_prompt, 1, &err);
	gen_start(s, &err);
	CHECK(gen_next_logits(s, 0) != NULL);
	for (int i = 0; i < 5; i++)
		gen_step(s, NULL, NULL, &err);
	sp = *gen_params(s);
	sp.temperature = 0.3f;
	CHECK(gen_set_params(s, &sp, &err) == 0);
	sp.temperature = 0.4f;		/* replaces the one before */
	sp.top_k = 5;
	CHECK(gen_set_params(s, &sp, &err) == 0);
	sp.top_p = 0;
	CHECK(gen_set_params(s, &sp, &err) == -1);
	for (int i = 0; i < 5; i++)
		gen_step(s, NULL, NULL, &err);
	sp = *gen_params(s);
	sp.temperature = 0;
	gen_set_params(s, &sp, &err);
	while (gen_step(s, NULL, NULL, &err) == 1)
		;
	ch = gen_changes(s, &nc);
	CHECK(nc == 3);
	CHECK(nc >= 3 && ch[0].step == 5 && strcmp(ch[0].name,
	    "temperature") == 0 && ch[0].value > 0.39 && ch[0].value < 0.41);
	CHECK(nc >= 3 && ch[1].step == 5 && strcmp(ch[1].name, "top_k") == 0 &&
	    ch[1].value == 5);
	CHECK(nc >= 3 && ch[2].step == 10 && ch[2].value == 0);
	memcpy(saved, ch, (nc < 8 ? nc : 8) * sizeof *ch);
	/* replay: apply each change before its step; same tokens */
	r = gen_new(e, &gs, &err);
	gen_add_prompt(r, f.prompt, f.n_prompt, 1, &err);
	gen_start(r, &err);
	size_t next = 0;
	for (int step = 0;; step++) {
		sp = *gen_params(r);
		while (next < nc && saved[next].step == step) {
			CHECK(sampler_params_set(&sp, saved[next].name,
			    saved[next].value, &err) == 0);
			next++;
		}
		gen_set_params(r, &sp, &err);
		if (gen_step(r, NULL, NULL, &err) != 1)
			break;
	}
	CHECK(same_output(s, 0, r, 0));
	gen_free(r);
	gen_free(s);
	gen_engine_free(e);
	fixture_free(&f);
}

/* ---- benchmark: the sampler's share of a decode step ---------------------- */

static double
bench_now(void)
{
	return util_now();
}

/* Decode steps of batch nb on a random model, and one sampler pick per
 * sequence per step on the logits they produce. */
static void
bench_shape(const struct lm_config *c, int nb, int steps, int pick_threads)
{
	struct err		 err;
	struct lm_model		*m = model_new_random(c, 1, &err);
	struct lm_cache		*kc;
	struct sampler		*sms[64];
	int			 nt = 1;
	struct sampler_params	 sp;
	struct lm_rng		 rs[64];
	float			*lg;
	int			 seqs[64];
	int32_t			 tok[64], prompt[16];
	double			 t_dec = 0, t_smp = 0, t0;

	if (m == NULL) {
		fprintf(stderr, "bench: %s\n", err.msg);
		return;
	}
#ifdef _OPENMP
	nt = omp_get_max_threads() < 64 ? omp_get_max_threads() : 64;
#endif
	for (int i = 0; i < nt; i++) {
		sms[i] = sampler_new(c->vocab_size);
		sampler_set_threads(sms[i], pick_threads);
	}
	kc = model_cache_new(m, nb, 0, &err);
	lg = calloc((size_t)nb * (size_t)c->vocab_size, sizeof *lg);
	sampler_params_default(&sp);	/* t 0.8, top-p 0.9 */
	for (int b = 0; b < nb; b++)
		rng_seed(&rs[b], 1, (uint64_t)b);
	for (int i = 0; i < 16; i++)
		prompt[i] = i * 31 % c->vocab_size;
	for (int b = 0; b < nb; b++) {
		seqs[b] = b;
		model_prefill(m, kc, b, prompt, 16, lg + (size_t)b *
		    (size_t)c->vocab_size, 0, &err);
	}
	for (int s = 0; s < steps; s++) {
		/* as gen_step() does: sequences spread over the threads,
		 * each with its own RNG stream */
		t0 = bench_now();
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static) if (nb > 1)
#endif
		for (int b = 0; b < nb; b++) {
			int t = 0;
#ifdef _OPENMP
			t = omp_get_thread_num();
#endif
			tok[b] = sampler_pick(sms[t], &sp, lg + (size_t)b *
			    (size_t)c->vocab_size, NULL, 0, &rs[b], NULL);
		}
		t_smp += bench_now() - t0;
		t0 = bench_now();
		if (model_decode(m, kc, seqs, tok, nb, lg, &err) != 0) {
			fprintf(stderr, "bench: %s\n", err.msg);
			break;
		}
		t_dec += bench_now() - t0;
	}
	printf("d_model %4d layers %2d vocab %d batch %2d: decode %8.3f ms/step, "
	    "sampling %7.1f us/step (%5.1f us/seq), sampler share %.1f%%\n",
	    c->d_model, c->num_layers, c->vocab_size, nb, t_dec / steps * 1e3,
	    t_smp / steps * 1e6, t_smp / steps / nb * 1e6,
	    100 * t_smp / (t_smp + t_dec));
	free(lg);
	model_cache_free(kc);
	for (int i = 0; i < nt; i++)
		sampler_free(sms[i]);
	model_close(m);
}

static int
bench(int threads)
{
	static const struct lm_config shapes[] = {
		{ 50257, 256, 288, 6, 6, 768, .rope_theta = 10000 },
		{ 50257, 1024, 768, 12, 12, 2048, .rope_theta = 10000 },
	};
	static const int batches[] = { 1, 8, 32 };

	printf("threads per pick: %d\n", threads);
	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
		for (size_t j = 0; j < sizeof batches / sizeof batches[0]; j++)
			bench_shape(&shapes[i], batches[j], 20, threads);
	return 0;
}

/* Collect the callback's probabilities of sequence 0. */
struct probs_seen {
	float	p[64];
	size_t	n;
};

static void
probs_fn(void *arg, const struct gen_token *t)
{
	struct probs_seen *ps = arg;

	if (t->seq == 0 && t->id >= 0 && ps->n < 64)
		ps->p[ps->n++] = t->prob;
}

static void
test_branch(void)
{
	struct fixture		 f;
	struct gen_settings	 gs;
	struct gen_engine	*e;
	struct gen_session	*a, *b, *c;
	struct probs_seen	 ps = { { 0 }, 0 };
	struct gen_pacer	 pacer;
	struct err		 err;
	int32_t			 p[64];
	size_t			 n, nb, np;
	const int32_t		*o, *ob;
	const float		*pr;
	int			 rc;

	if (!fixture_load(&f, "tiny", 0))
		return;
	e = gen_engine_new(f.m, NULL, 1, &err);
	settings(&gs, 0.9f, 7, 8);
	/* a: the prompt, token 42 forced, then sampling */
	a = gen_new(e, &gs, &err);
	CHECK(gen_add_prompt(a, f.prompt, f.n_prompt, 1, &err) == 0);
	CHECK(gen_start(a, &err) == 0);
	CHECK(gen_force(a, -1, &err) == -1 && strstr(err.msg, "not in the "
	    "vocabulary") != NULL);
	CHECK(gen_force(a, 42, &err) == 0);
	while ((rc = gen_step(a, probs_fn, &ps, &err)) == 1)
		;
	CHECK(rc == 0);
	o = gen_output_ids(a, 0, &n);
	CHECK(n == 8 && o[0] == 42);
	pr = gen_output_probs(a, 0, &np);
	CHECK(np == n && ps.n == n);
	for (size_t i = 0; i < np && i < ps.n; i++)
		CHECK(pr[i] == ps.p[i] && pr[i] >= 0 && pr[i] <= 1);
	/* b: the prompt ends in 42; the same seed draws the same tokens */
	memcpy(p, f.prompt, f.n_prompt * sizeof *p);
	p[f.n_prompt] = 42;
	settings(&gs, 0.9f, 7, 7);
	b = run1(e, &gs, p, f.n_prompt + 1, 1, NULL);
	ob = gen_output_ids(b, 0, &nb);
	CHECK(nb == 7 && memcmp(ob, o + 1, 7 * sizeof *ob) == 0);
	/* c: a branch of b's reply at step 3: its context is cached, one
	 * token runs again for the logits */
	memcpy(p + f.n_prompt + 1, ob, 3 * sizeof *p);
	c = run1(e, &gs, p, f.n_prompt + 4, 1, NULL);
	CHECK_MSG(gen_prefilled_tokens(c) == 1, "%zu",
	    gen_prefilled_tokens(c));
	gen_free(c);
	gen_free(b);
	gen_free(a);
	/* pace 0 never waits; a pace makes the next step due later */
	gen_pace_start(&pacer, 0);
	gen_pace_shown(&pacer);
	CHECK(gen_pace_due(&pacer) == 0);
	gen_pace_start(&pacer, 0.01);
	CHECK(gen_pace_due(&pacer) == 0);
	gen_pace_shown(&pacer);
	/* one token a hundred seconds: due within that, and not yet */
	CHECK(gen_pace_due(&pacer) > 50 && gen_pace_due(&pacer) <= 100);
	gen_engine_free(e);
	fixture_free(&f);
}

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--bench") == 0)
		return bench(argc > 2 ? atoi(argv[2]) : 1);
	test_greedy_reference("tiny");
	test_greedy_reference("h12");
	test_determinism();
	test_prefix_reuse();
	test_stops();
	test_interrupt_and_changes();
	test_branch();
	CHECK_RESULT();
}
