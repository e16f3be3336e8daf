/*
 * test-replay.c: replaying recorded turns on the tiny test model.
 *  - a sampled turn whose temperature and top-k were changed while it ran
 *    is recorded (record_turn), read back and replayed: identical,
 *    token for token, and the changes were stored with their steps
 *  - the same turn replayed without its live changes diverges, and not
 *    before the first change (so the changes are what made it match)
 *  - an overridden setting (another seed) diverges; replay_compare names
 *    the first differing step and both tokens, and length differences
 *  - an interrupted turn replays to the length it was cut at
 *  - stepwise (replay_begin/step/end) is the same as replay_run; a live
 *    change of a setting the table does not know is an error naming it
 *  - /replay's options: -t, --top-k=, --seed, unknown ones refused
 *  - the verdict texts: "identical (N tokens)", the divergence line with
 *    both tokens (ids alone without a tokenizer), and beside it a line
 *    naming another kernel set or weight dtype
 * With --record PATH [PROMPT] it only records the live-change turn (of
 * PROMPT) into PATH and prints its id (for tests/e2e/replay-live.sh).  Skips (77) while the
 * generation engine is not built.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpe.h"
#include "check.h"
#include "generate.h"
#include "history.h"
#include "model.h"
#include "record.h"
#include "replay.h"
#include "sampler.h"
#include "util.h"

struct fixture {
	char			*dir;		/* the tiny model */
	struct lm_model		*model;
	struct bpe		*bpe;
	struct gen_engine	*engine;
	const char		*text;		/* the prompt */
	int32_t			*prompt;	/* its ids */
	size_t			 n_prompt;
};

static int
fixture_open(struct fixture *f, const char *prompt, struct err *err)
{
	struct lm_model_source	 src = { 0 };
	char			*v, *m;
	int			 rc = -1;

	memset(f, 0, sizeof *f);
	f->text = prompt;
	f->dir = xasprintf("%s/models/tiny", check_data_dir());
	src.dir = f->dir;
	v = xasprintf("%s/vocab.json", f->dir);
	m = xasprintf("%s/merges.txt", f->dir);
	if ((f->model = model_open(&src, err)) != NULL &&
	    (f->bpe = bpe_load(v, m, err)) != NULL &&
	    (f->engine = gen_engine_new(f->model, f->bpe, 1, err)) != NULL &&
	    bpe_encode(f->bpe, prompt, strlen(prompt), BPE_UTF8_STRICT,
	    &f->prompt, &f->n_prompt, err) == 0)
		rc = 0;
	free(v);
	free(m);
	return rc;
}

static void
fixture_close(struct fixture *f)
{
	free(f->prompt);
	gen_engine_free(f->engine);
	bpe_free(f->bpe);
	model_close(f->model);
	free(f->dir);
}

/* Generate a turn, calling change(step) before each step; stop_at > 0
 * interrupts after that many tokens.  Returns the finished session. */
static struct gen_session *
generate(struct fixture *f, const struct gen_settings *s,
    void (*change)(struct gen_session *, int), int stop_at, struct err *err)
{
	struct gen_session *g = gen_new(f->engine, s, err);
	int rc = 1;

	if (g == NULL)
		return NULL;
	if (gen_add_prompt(g, f->prompt, f->n_prompt, 1, err) != 0 ||
	    gen_start(g, err) != 0) {
		gen_free(g);
		return NULL;
	}
	for (int step = 0; rc == 1; step++) {
		if (stop_at > 0 && step == stop_at) {
			gen_interrupt(g);
			rc = gen_step(g, NULL, NULL, err);
			break;
		}
		if (change != NULL)
			change(g, step);
		rc = gen_step(g, NULL, NULL, err);
	}
	if (rc < 0) {
		gen_free(g);
		return NULL;
	}
	return g;
}

/* Greedy from step 5, then hot with top-k from step 12. */
static void
live_changes(struct gen_session *g, int step)
{
	struct sampler_params	p = *gen_params(g);
	struct err		err;

	if (step == 5)
		p.temperature = 0;
	else if (step == 12) {
		p.temperature = 1.5f;
		p.top_k = 20;
	} else
		return;
	if (gen_set_params(g, &p, &err) != 0)
		fprintf(stderr, "gen_set_params: %s\n", err.msg);
}

static void
settings_init(struct gen_settings *s)
{
	memset(s, 0, sizeof *s);
	sampler_params_default(&s->sp);
	s->sp.temperature = 1.0f;
	s->sp.top_p = 1.0f;
	s->seed = 1234;
	s->max_new_tokens = 24;
	s->eos_id = -1;
}

/* Record the live-change turn into h; its id, or -1. */
static int64_t
record_live(struct fixture *f, struct history *h, struct err *err)
{
	struct gen_settings		 s;
	struct gen_session		*g;
	struct history_turn		 t;
	struct history_session_info	 info = { .model_path = f->dir };
	char				*cfg;
	int64_t				 id = -1;

	settings_init(&s);
	if ((g = generate(f, &s, live_changes, 0, err)) == NULL)
		return -1;
	cfg = record_config_json(f->model);
	info.config_json = cfg;
	record_turn(&t, g, 0, f->text);
	if ((t.session_id = history_begin_session(h, &info, err)) > 0 &&
	    history_record_turn(h, &t, err) == 0)
		id = t.id;
	history_turn_fini(&t);
	gen_free(g);
	free(cfg);
	return id;
}

static void
test_live(struct fixture *f, struct history *h)
{
	struct err		 err;
	struct history_turn	 t;
	struct gen_settings	 s;
	struct gen_session	*g;
	struct replay_result	 res;
	int64_t			 id = record_live(f, h, &err);

	CHECK_MSG(id > 0, "%s", err.msg);
	if (id <= 0 || history_get_turn(h, id, &t, &err) != 0)
		return;
	CHECK(t.n_output == 24 && t.n_prompt == f->n_prompt);
	CHECK_MSG(t.n_changes == 3, "%zu changes", t.n_changes);
	CHECK(t.n_changes > 0 && t.changes[0].step == 5 &&
	    strcmp(t.changes[0].name, "temperature") == 0 &&
	    t.changes[0].value == 0);
	CHECK(t.settings.sp.temperature == 1.0f && t.settings.seed == 1234);

	/* exact replay */
	replay_settings(&t, NULL, 0, &s);
	g = replay_run(f->engine, &t, &s, 0, NULL, NULL, &res, &err);
	CHECK_MSG(g != NULL, "%s", err.msg);
	CHECK_MSG(res.diverged == -1 && res.n_tokens == 24,
	    "diverged at %ld", res.diverged);
	size_t n;
	const struct gen_change *ch = gen_changes(g, &n);
	CHECK(n == t.n_changes && ch != NULL && ch[n - 1].step == 12);
	gen_free(g);

	/* without the live changes: the same up to step 5, then not */
	size_t n_changes = t.n_changes;
	t.n_changes = 0;
	g = replay_run(f->engine, &t, &s, 0, NULL, NULL, &res, &err);
	CHECK_MSG(g != NULL && res.diverged >= 5, "diverged at %ld",
	    res.diverged);
	gen_free(g);
	t.n_changes = n_changes;

	/* another seed: a variation that diverges from the first token on
	 * (at temperature 1 over 257 tokens the same 5 tokens are unlikely) */
	struct gen_settings over = s;
	over.seed = 99;
	replay_settings(&t, &over, REPLAY_SEED, &s);
	CHECK(s.seed == 99 && s.sp.temperature == 1.0f);
	g = replay_run(f->engine, &t, &s, REPLAY_SEED, NULL, NULL, &res, &err);
	CHECK(g != NULL && res.diverged >= 0 && res.diverged < 5);
	CHECK(res.recorded == t.output_ids[res.diverged] &&
	    res.replayed != res.recorded);
	gen_free(g);
	history_turn_fini(&t);
}

static void
test_compare(void)
{
	int32_t			rec[] = { 1, 2, 3 }, a[] = { 1, 2, 3, 4 };
	int32_t			b[] = { 1, 9, 3 };
	struct history_turn	t = { .output_ids = rec, .n_output = 3 };
	struct replay_result	r;

	replay_compare(&t, rec, 3, &r);
	CHECK(r.diverged == -1 && r.n_tokens == 3);
	replay_compare(&t, b, 3, &r);
	CHECK(r.diverged == 1 && r.recorded == 2 && r.replayed == 9);
	replay_compare(&t, a, 4, &r);
	CHECK(r.diverged == 3 && r.recorded == -1 && r.replayed == 4);
	replay_compare(&t, a, 2, &r);
	CHECK(r.diverged == 2 && r.recorded == 3 && r.replayed == -1);
}

static void
test_interrupted(struct fixture *f, struct history *h)
{
	struct gen_settings		 s;
	struct gen_session		*g;
	struct history_turn		 t, r;
	struct history_session_info	 info = { .model_path = f->dir };
	struct replay_result		 res;
	struct err			 err;

	settings_init(&s);
	if ((g = generate(f, &s, NULL, 7, &err)) == NULL) {
		CHECK_MSG(0, "%s", err.msg);
		return;
	}
	record_turn(&t, g, 0, f->text);
	gen_free(g);
	CHECK(t.stop == GEN_STOP_INTERRUPTED && t.n_output == 7);
	t.session_id = history_begin_session(h, &info, &err);
	CHECK(history_record_turn(h, &t, &err) == 0);
	CHECK(history_get_turn(h, t.id, &r, &err) == 0);
	CHECK(r.stop == GEN_STOP_INTERRUPTED);
	replay_settings(&r, NULL, 0, &s);
	g = replay_run(f->engine, &r, &s, 0, NULL, NULL, &res, &err);
	CHECK_MSG(g != NULL && res.diverged == -1 && res.n_tokens == 7,
	    "diverged at %ld after %zu", res.diverged, res.n_tokens);
	gen_free(g);
	history_turn_fini(&r);
	history_turn_fini(&t);
}

static void
test_stepwise(struct fixture *f, struct history *h)
{
	struct err		 err;
	struct history_turn	 t;
	struct gen_settings	 s;
	struct replay		*r;
	struct replay_result	 res;
	struct gen_session	*g;
	int			 rc, steps = 0;
	int64_t			 id = record_live(f, h, &err);

	if (id <= 0 || history_get_turn(h, id, &t, &err) != 0) {
		CHECK_MSG(0, "%s", err.msg);
		return;
	}
	replay_settings(&t, NULL, 0, &s);
	r = replay_begin(f->engine, &t, &s, 0, &err);
	CHECK_MSG(r != NULL, "%s", err.msg);
	if (r == NULL)
		goto out;
	while ((rc = replay_step(r, NULL, NULL, &err)) == 1)
		steps++;
	/* the step that samples the last token returns 0 */
	CHECK_MSG(rc == 0 && steps + 1 == 24, "%d steps", steps);
	CHECK(replay_step(r, NULL, NULL, &err) == 0);	/* stays done */
	g = replay_end(r, &res);
	CHECK(res.diverged == -1 && res.n_tokens == 24);
	gen_free(g);

	/* a recorded change of a setting nobody knows */
	memcpy(t.changes[0].name, "warmth", 7);
	r = replay_begin(f->engine, &t, &s, 0, &err);
	while (r != NULL && (rc = replay_step(r, NULL, NULL, &err)) == 1)
		;
	CHECK(r != NULL && rc == -1);
	CHECK_MSG(strstr(err.msg, "unknown setting 'warmth' changed at "
	    "step 5") != NULL, "%s", err.msg);
	replay_free(r);
out:
	history_turn_fini(&t);
}

static void
test_overrides(void)
{
	struct gen_settings	over;
	unsigned		mask = 0;
	struct err		err;
	size_t			k = (size_t)(sampler_setting_find("top_k") -
	    sampler_settings);

	memset(&over, 0, sizeof over);
	sampler_params_default(&over.sp);
	CHECK(replay_parse_overrides("", &over, &mask, &err) == 0 &&
	    mask == 0);
	CHECK(replay_parse_overrides(" -t 0  --top-k=5 --seed 7", &over,
	    &mask, &err) == 0);
	CHECK(over.sp.temperature == 0 && over.sp.top_k == 5 &&
	    over.seed == 7);
	CHECK(mask == (REPLAY_SETTING(0) | REPLAY_SETTING(k) | REPLAY_SEED));
	CHECK(replay_parse_overrides("--max-new-tokens 3", &over, &mask,
	    &err) == 0 && over.max_new_tokens == 3 && (mask & REPLAY_MAX_NEW));
	CHECK(replay_parse_overrides("--colour 3", &over, &mask, &err) == -1);
	CHECK_MSG(strcmp(err.msg, "replay: unknown option '--colour'") == 0,
	    "%s", err.msg);
	CHECK(replay_parse_overrides("-t", &over, &mask, &err) == -1);
	CHECK(strcmp(err.msg, "replay: -t needs a value") == 0);
	CHECK(replay_parse_overrides("-t 200", &over, &mask, &err) == -1);
	CHECK_MSG(strcmp(err.msg, "temperature: '200' is not a number in "
	    "[0, 100]") == 0, "%s", err.msg);
	CHECK(replay_parse_overrides("4", &over, &mask, &err) == -1);
}

static void
test_verdict(const struct bpe *bpe)
{
	int32_t			 rec[] = { 'a', 'b' };
	struct history_turn	 t = { .id = 4, .output_ids = rec,
	    .n_output = 2, .kernels = "haswell avx2", .dtype = "f32" };
	struct replay_result	 r = { 2, -1, -1, -1 };
	struct replay_setup	 now = { NULL, "skx avx512", "f32" };
	struct buf		 b;

	buf_init(&b);
	replay_verdict(&t, &r, bpe, &now, &b);
	CHECK(b.data && strcmp(b.data, "identical (2 tokens)\n") == 0);
	b.len = 0;
	r = (struct replay_result){ 2, 1, 'b', 'c' };
	replay_verdict(&t, &r, bpe, &now, &b);
	CHECK_MSG(strcmp(b.data, "diverged at step 1: recorded 98 \"b\", "
	    "replayed 99 \"c\"\nthe session recorded kernels haswell avx2 "
	    "(now skx avx512): sums in another order may pick other "
	    "tokens\n") == 0, "%s", b.data);
	b.len = 0;
	now.kernels = "haswell avx2";
	r = (struct replay_result){ 1, 1, -1, 'c' };
	replay_verdict(&t, &r, NULL, &now, &b);
	CHECK_MSG(strcmp(b.data, "diverged at step 1: recorded the end, "
	    "replayed 99\n") == 0, "%s", b.data);
	buf_fini(&b);
}

int
main(int argc, char **argv)
{
	struct fixture	 f;
	struct err	 err;
	struct history	*h;
	char		 dir[] = "/tmp/lmsh-test-replay-XXXXXX", *path;

	test_compare();
	test_overrides();
	if (fixture_open(&f, argc == 4 ? argv[3] : "Once upon a time",
	    &err) != 0) {
		fprintf(stderr, "skip: %s\n", err.msg);
		fixture_close(&f);
		return strstr(err.msg, "not implemented") ? 77 : 99;
	}
	if (argc >= 3 && strcmp(argv[1], "--record") == 0) {
		int64_t id = -1;
		if ((h = history_open(argv[2], 0, &err)) != NULL)
			id = record_live(&f, h, &err);
		if (id > 0)
			printf("%lld\n", (long long)id);
		else
			fprintf(stderr, "test-replay: %s\n", err.msg);
		history_close(h);
		fixture_close(&f);
		return id > 0 ? 0 : 1;
	}
	if (mkdtemp(dir) == NULL)
		return 99;
	path = xasprintf("%s/h.db", dir);
	if ((h = history_open(path, 0, &err)) == NULL) {
		fprintf(stderr, "%s\n", err.msg);
		return 99;
	}
	test_live(&f, h);
	test_interrupted(&f, h);
	test_stepwise(&f, h);
	test_verdict(f.bpe);
	history_close(h);
	fixture_close(&f);
	unlink(path);
	free(path);
	path = xasprintf("rm -rf '%s'", dir);
	if (system(path) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	free(path);
	CHECK_RESULT();
}
