/*
 * test-commands.c: the REPL's slash commands without a model: dispatch
 * (exact names, unique prefixes, '-' vs '_', unknown and ambiguous names),
 * every setting's parsing and range checks with their one-line errors,
 * stop-string escapes, the live-key knobs (steps, rounding, clamping),
 * /show and /set's answer, /help (every command in 30 rows, /help keys
 * every key), the one """ block parser, and the commands that
 * need a model or a history database failing cleanly without one.  With
 * the tiny byte-level model: /tokens (ids are the bytes), turns in continue
 * mode (the next prompt is the transcript plus the new text) and fresh
 * mode, dropping the oldest tokens when the context would overflow, an
 * interrupted turn kept, and the candidate panel's rows against a softmax
 * and the nucleus rule computed here, redrawn for a new temperature from
 * the cached logits; the turn driver with a sink (tokens, notes, a poll
 * that interrupts).
 */
#include "config.h"

#include <string.h>

#include "bpe.h"
#include "check.h"
#include "commands.h"
#include "generate.h"
#include "model.h"
#include "options.h"
#include "util.h"

static struct repl	st;
static char		model_dir[4096];
static struct buf	out;
static struct err	err;

static void
null_fn(void *arg, const struct gen_token *tok)
{
	(void)arg; (void)tok;
}
#define NULL_FN null_fn

static enum cmd_action
run(const char *line)
{
	buf_fini(&out);
	buf_init(&out);
	err_clear(&err);
	return cmd_run(&st, line, &out, &err);
}

static int
has(const char *needle)
{
	return out.data != NULL && strstr(out.data, needle) != NULL;
}

static void
test_dispatch(void)
{
	CHECK(run("Once upon a time") == CMD_PROMPT);
	CHECK(run("") == CMD_PROMPT);
	CHECK(run("//not a command") == CMD_PROMPT);
	CHECK(run(" /help") == CMD_PROMPT);
	CHECK(run("/help") == CMD_DONE && has("/replay") && has("/tokens"));
	CHECK(run("/he") == CMD_DONE && has("Commands"));
	CHECK(run("/HELP") == CMD_DONE);
	CHECK(run("/quit") == CMD_QUIT);
	CHECK(run("/q") == CMD_QUIT);
	CHECK(run("/clear") == CMD_CLEAR);

	CHECK(run("/frobnicate 3") == CMD_ERROR);
	CHECK_MSG(strcmp(err.msg, "unknown command '/frobnicate' (try /help)")
	    == 0, "%s", err.msg);
	CHECK(run("/t") == CMD_ERROR);		/* temp, top_p, top_k, tokens */
	CHECK_MSG(strstr(err.msg, "ambiguous command '/t'") != NULL, "%s",
	    err.msg);
	CHECK(run("/") == CMD_ERROR && strstr(err.msg, "empty") != NULL);
	/* errors are one line */
	CHECK(strchr(err.msg, '\n') == NULL);
}

static void
test_settings(void)
{
	CHECK(run("/temp 0.5") == CMD_DONE);
	CHECK_NEAR(st.next.gen.sp.temperature, 0.5, 1e-6);
	CHECK(run("/temp") == CMD_DONE && has("temperature    0.50"));
	CHECK(run("/set temperature 0") == CMD_DONE);
	CHECK(st.next.gen.sp.temperature == 0);
	CHECK(run("/show") == CMD_DONE && has("(greedy)"));
	CHECK(run("/set temp 1.25") == CMD_DONE);
	CHECK_NEAR(st.next.gen.sp.temperature, 1.25, 1e-6);
	CHECK(run("/temp hot") == CMD_ERROR);
	CHECK_MSG(strcmp(err.msg, "temperature: 'hot' is not a number in "
	    "[0, 100]") == 0, "%s", err.msg);
	CHECK(run("/temp -1") == CMD_ERROR);
	CHECK(run("/temp 0.5x") == CMD_ERROR);
	CHECK(run("/temp nan") == CMD_ERROR);
	CHECK_NEAR(st.next.gen.sp.temperature, 1.25, 1e-6);	/* unchanged */

	CHECK(run("/top_p 0.7") == CMD_DONE);
	CHECK_NEAR(st.next.gen.sp.top_p, 0.7, 1e-6);
	CHECK(run("/top-p 0.6") == CMD_DONE);		/* dash spelling */
	CHECK_NEAR(st.next.gen.sp.top_p, 0.6, 1e-6);
	CHECK(run("/top_p 0") == CMD_ERROR && strstr(err.msg, "(0, 1]"));
	CHECK(run("/top_p 1.5") == CMD_ERROR);
	CHECK(run("/set top-p 1") == CMD_DONE && st.next.gen.sp.top_p == 1);

	CHECK(run("/top_k 40") == CMD_DONE && st.next.gen.sp.top_k == 40);
	CHECK(run("/top_k 4.5") == CMD_ERROR && st.next.gen.sp.top_k == 40);
	CHECK(run("/top_k -3") == CMD_ERROR);
	CHECK(run("/min_p 0.05") == CMD_DONE);
	CHECK_NEAR(st.next.gen.sp.min_p, 0.05, 1e-6);
	CHECK(run("/min_p 1") == CMD_ERROR);
	CHECK(run("/set repeat_penalty 1.3") == CMD_DONE);
	CHECK_NEAR(st.next.gen.sp.repeat_penalty, 1.3, 1e-6);
	CHECK(run("/set repeat-penalty 0.5") == CMD_ERROR);
	CHECK(run("/set repeat_window 32") == CMD_DONE);
	CHECK(st.next.gen.sp.repeat_window == 32);

	CHECK(run("/max 50") == CMD_DONE && st.next.gen.max_new_tokens == 50);
	CHECK(run("/set max_new_tokens 70") == CMD_DONE);
	CHECK(st.next.gen.max_new_tokens == 70);
	CHECK(run("/max -1") == CMD_ERROR && st.next.gen.max_new_tokens == 70);
	CHECK(run("/max 16777217") == CMD_ERROR);
	CHECK_MSG(strcmp(err.msg, "max: '16777217' is not an integer in "
	    "[0, 16777216]") == 0, "%s", err.msg);

	CHECK(run("/seed 42") == CMD_DONE && st.next.gen.seed == 42 &&
	    st.next.seed_fixed);
	CHECK(run("/seed 18446744073709551615") == CMD_DONE);
	CHECK(st.next.gen.seed == UINT64_MAX);
	CHECK(run("/seed -4") == CMD_ERROR && st.next.gen.seed == UINT64_MAX);
	CHECK(run("/seed random") == CMD_DONE && !st.next.seed_fixed);
	CHECK(run("/show") == CMD_DONE && has("seed           random"));

	CHECK(run("/set") == CMD_DONE && has("top_k          40"));
	CHECK(run("/set temperature") == CMD_ERROR);
	CHECK(strstr(err.msg, "usage") != NULL);
	CHECK(run("/set colour blue") == CMD_ERROR);
	CHECK_MSG(strcmp(err.msg, "set: unknown setting 'colour' (see /show)")
	    == 0, "%s", err.msg);
}

static void
test_stop_and_mode(void)
{
	CHECK(run("/stop \\n\\n") == CMD_DONE);
	CHECK(st.next.gen.n_stop == 1 && strcmp(st.next.gen.stop[0], "\n\n") == 0);
	CHECK(run("/stop The end") == CMD_DONE);
	CHECK(st.next.gen.n_stop == 2 && strcmp(st.next.gen.stop[1], "The end") == 0);
	CHECK(run("/show") == CMD_DONE && has("\"\\n\\n\" \"The end\""));
	CHECK(run("/stop") == CMD_DONE && st.next.gen.n_stop == 0);
	for (int i = 0; i < GEN_MAX_STOP; i++)
		CHECK(run("/stop x") == CMD_DONE);
	CHECK(run("/stop y") == CMD_ERROR && st.next.gen.n_stop == GEN_MAX_STOP);
	CHECK(run("/stop") == CMD_DONE && st.next.gen.n_stop == 0);

	CHECK(st.next.mode == CMD_MODE_CONTINUE);
	CHECK(run("/mode") == CMD_DONE && has("continue"));
	CHECK(run("/mode fresh") == CMD_DONE && st.next.mode == CMD_MODE_FRESH);
	CHECK(run("/mode sideways") == CMD_ERROR && st.next.mode == CMD_MODE_FRESH);
	CHECK(run("/set mode continue") == CMD_DONE);
	CHECK(st.next.mode == CMD_MODE_CONTINUE);
}

/* The live keys step by their settings-table rows and stop at the same
 * ends as /set. */
static void
test_knobs(void)
{
	const struct sampler_setting *t = sampler_setting_find("temperature");

	st.next.gen.sp.temperature = 0.8f;
	st.next.gen.sp.top_p = 0.9f;
	CHECK(cmd_adjust(&st, "temperature", 1, &err) == 0);
	CHECK_NEAR(st.next.gen.sp.temperature, 0.9, 1e-6);
	for (int i = 0; i < 20; i++)
		cmd_adjust(&st, "temperature", -1, &err);
	CHECK(st.next.gen.sp.temperature == 0);	/* clamped, exactly greedy */
	cmd_adjust(&st, "temperature", 1, &err);
	cmd_adjust(&st, "temperature", 1, &err);
	cmd_adjust(&st, "temperature", 1, &err);
	CHECK_NEAR(st.next.gen.sp.temperature, 0.3, 1e-6);	/* no 0.30000004 */
	for (int i = 0; i < 2000; i++)
		cmd_adjust(&st, "temperature", 1, &err);
	CHECK(t != NULL && st.next.gen.sp.temperature == t->hi);	/* /set's end */
	CHECK(run("/temp") == CMD_DONE && has("temperature    100.00"));
	CHECK(run("/temp 100.01") == CMD_ERROR);

	CHECK(cmd_adjust(&st, "top-p", 1, &err) == 0);
	CHECK_NEAR(st.next.gen.sp.top_p, 0.95, 1e-6);
	cmd_adjust(&st, "top_p", 1, &err);
	cmd_adjust(&st, "top_p", 1, &err);
	CHECK(st.next.gen.sp.top_p == 1);
	for (int i = 0; i < 40; i++)
		cmd_adjust(&st, "top_p", -1, &err);
	CHECK_NEAR(st.next.gen.sp.top_p, 0.05, 1e-6);	/* never 0 */
	/* a knob without a live key */
	CHECK(cmd_adjust(&st, "top_k", 1, &err) == -1);
	CHECK(cmd_adjust(&st, "colour", 1, &err) == -1);
}

static void
test_needs_resources(void)
{
	CHECK(run("/history") == CMD_ERROR && strstr(err.msg, "history is off"));
	CHECK(run("/history search dog") == CMD_ERROR);
	CHECK(run("/show-turn 3") == CMD_ERROR);
	CHECK(run("/replay 3") == CMD_ERROR);
	CHECK(run("/tokens hello") == CMD_ERROR);
	CHECK(strcmp(err.msg, "tokens: no tokenizer loaded") == 0);
	CHECK(run("/model") == CMD_ERROR);
	/* no model: a turn fails with one line and leaves nothing running */
	CHECK(cmd_turn_begin(&st, "hi", &out, &err) == -1 && st.turn.sess == NULL);
	CHECK(strcmp(err.msg, "no model loaded") == 0);
}

/* One """ parser for both front ends. */
static void
test_block(void)
{
	struct cmd_block	 b = { 0 };
	char			*t = NULL;

	CHECK(cmd_block_line(&b, "Once", &t) == 0 && !b.open);
	CHECK(cmd_block_line(&b, "\"\"\"", &t) == 1 && b.open);
	CHECK(cmd_block_line(&b, "Once upon", &t) == 1);
	CHECK(cmd_block_line(&b, "", &t) == 1);	/* a blank line stays */
	CHECK(cmd_block_line(&b, "a time", &t) == 1);
	CHECK(cmd_block_line(&b, "\"\"\"", &t) == 2 && !b.open);
	CHECK(t != NULL && strcmp(t, "Once upon\n\na time") == 0);
	free(t);
	CHECK(cmd_block_line(&b, "\"\"\"one line\"\"\"", &t) == 2);
	CHECK(strcmp(t, "one line") == 0);
	free(t);
	CHECK(cmd_block_line(&b, "\"\"\"first", &t) == 1);
	CHECK(cmd_block_line(&b, "last\"\"\"", &t) == 2);
	CHECK(strcmp(t, "first\nlast") == 0);
	free(t);
	CHECK(cmd_block_line(&b, "\"\"\"gone", &t) == 1);
	cmd_block_reset(&b);
	CHECK(!b.open && b.text == NULL);
	CHECK(cmd_block_line(&b, "/show", &t) == 0);
}

/* The turn driver: tokens, notes and the poll that stops a turn. */
struct sink_log {
	int	n_tokens;	/* events with a piece or an id */
	int	n_polls;	/* calls of poll */
	int	stop_after;	/* poll says stop at this call */
	int	last_stop;	/* stop of the last event */
	char	notes[512];	/* "E:" or "N:" and each line, joined */
};

static void
sink_token(void *arg, const struct gen_token *tok)
{
	struct sink_log *l = arg;

	l->n_tokens += tok->id >= 0;
	l->last_stop = tok->stop;
}

static void
sink_note(void *arg, const char *line, int error)
{
	struct sink_log *l = arg;
	size_t n = strlen(l->notes);

	snprintf(l->notes + n, sizeof l->notes - n, "%s%s|", error ? "E:" :
	    "N:", line);
}

static int
sink_poll(void *arg)
{
	struct sink_log *l = arg;

	return ++l->n_polls == l->stop_after;
}

static void
test_driver(void)
{
	struct sink_log		l = { 0 };
	struct cmd_sink		k = { sink_token, sink_note, sink_poll, &l };

	st.next.gen.max_new_tokens = 4;
	CHECK(cmd_turn_run(&st, "abc", &k) == 0 && st.turn.sess == NULL);
	CHECK(l.n_tokens == 4 && l.last_stop == GEN_STOP_MAX);
	CHECK_MSG(l.notes[0] == '\0', "%s", l.notes);
	CHECK(l.n_polls == 3);		/* between steps, not after the last */
	memset(&l, 0, sizeof l);
	l.stop_after = 2;
	CHECK(cmd_turn_run(&st, "abc", &k) == 0);
	CHECK(l.n_tokens == 2 && l.last_stop == GEN_STOP_INTERRUPTED);
	CHECK_MSG(strcmp(l.notes, "N:interrupted after 2 tokens (kept)|") ==
	    0, "%s", l.notes);
	memset(&l, 0, sizeof l);
	CHECK(cmd_turn_run(&st, "", &k) == -1);
	CHECK_MSG(strcmp(l.notes, "E:nothing to continue: type a prompt|") ==
	    0, "%s", l.notes);
}

static void
test_help(void)
{
	CHECK(run("/help") == CMD_DONE);
	for (size_t i = 0; cmd_name(i) != NULL; i++) {
		char name[64];

		snprintf(name, sizeof name, "/%s", cmd_name(i));
		CHECK_MSG(has(name), "/help lacks %s", name);
	}
	/* it fits a 30-row, 80-column screen, with the prompt line */
	size_t rows = 0, col = 0, widest = 0;
	for (const char *p = out.data; *p != '\0'; p++) {
		if (*p == '\n') {
			rows++;
			widest = col > widest ? col : widest;
			col = 0;
		} else
			col++;
	}
	CHECK_MSG(rows < 30 && widest <= 80, "/help: %zu rows, %zu columns",
	    rows, widest);
	CHECK(has("/help keys"));
	CHECK(run("/help keys") == CMD_DONE);
	for (size_t i = 0; cmd_live_keys[i].keys != NULL; i++)
		CHECK_MSG(has(cmd_live_keys[i].keys), "/help keys lacks %s",
		    cmd_live_keys[i].keys);
	for (size_t i = 0; cmd_edit_keys[i].keys != NULL; i++)
		CHECK_MSG(has(cmd_edit_keys[i].what), "/help keys lacks %s",
		    cmd_edit_keys[i].keys);
	CHECK(cmd_name(0) != NULL && cmd_name(1000) == NULL);
}

static void
test_init(void)
{
	struct lm_options o;

	options_init(&o);
	o.gen->sp.temperature = 0.3f;
	o.gen->stop[0] = "\\n";
	o.gen->n_stop = 1;
	o.mode = "fresh";
	o.given |= OPTIONS_BIT(OPT_SEED);
	o.gen->seed = 7;
	cmd_fini(&st);
	cmd_init(&st, &o);
	options_fini(&o);
	CHECK_NEAR(st.next.gen.sp.temperature, 0.3, 1e-6);
	CHECK(st.next.gen.n_stop == 1 && strcmp(st.next.gen.stop[0], "\n") == 0);
	CHECK(st.next.mode == CMD_MODE_FRESH && st.next.seed_fixed && st.next.gen.seed == 7);
}

static void
drain(void)
{
	struct err e;

	while (cmd_turn_step(&st, NULL_FN, NULL, &e) == 1)
		;
}

static void
test_candidates(void)
{
	struct sampler_cand	 c[300];
	double			 raw[300], tmp[300], mx = -1e30, zr = 0, zt = 0;
	size_t			 n;
	float			 t = st.next.gen.sp.temperature;
	int			 bad = 0, kept_ok = 1;

	CHECK(st.panel.have_logits);
	n = cmd_candidates(&st, c, 300);
	CHECK(n > 0 && n <= 257);
	for (int i = 0; i < st.res.n_vocab; i++)
		if (st.panel.logits[i] > mx)
			mx = st.panel.logits[i];
	for (int i = 0; i < st.res.n_vocab; i++) {
		raw[i] = exp(st.panel.logits[i] - mx);
		tmp[i] = exp((st.panel.logits[i] - mx) / t);
		zr += raw[i];
		zt += tmp[i];
	}
	for (size_t i = 0; i < n; i++) {
		double pr = raw[c[i].id] / zr, pt = tmp[c[i].id] / zt;

		bad += fabs(pr - c[i].p_raw) > 1e-5 || fabs(pt - c[i].p_temp) > 1e-5;
		if (i > 0)
			bad += c[i].p_temp > c[i - 1].p_temp + 1e-7;
		/* the nucleus keeps a token while the mass before it is < p */
		kept_ok &= c[i].kept == (c[i].cum < st.next.gen.sp.top_p - 1e-6) ||
		    fabs(c[i].cum - st.next.gen.sp.top_p) < 1e-5;
	}
	CHECK_MSG(bad == 0, "%d candidates differ from the softmax", bad);
	CHECK(kept_ok);
	CHECK(c[0].kept);
}

static void
test_turns(void)
{
	char			 v[4096], m[4096];
	struct lm_model_source	 src;
	struct lm_model		*model;
	struct bpe		*bpe;
	struct gen_engine	*eng;
	struct lm_options	 o;
	struct sampler_cand	 c1[4], c2[4];
	const int32_t		*ids;
	size_t			 n;

	snprintf(v, sizeof v, "%s/models/tiny/vocab.json", check_data_dir());
	snprintf(m, sizeof m, "%s/models/tiny/merges.txt", check_data_dir());
	memset(&src, 0, sizeof src);
	snprintf(model_dir, sizeof model_dir, "%s/models/tiny",
	    check_data_dir());
	src.dir = model_dir;
	/* the tiny model is committed: without it the tree is broken */
	if ((bpe = bpe_load(v, m, &err)) == NULL ||
	    (model = model_open(&src, &err)) == NULL) {
		CHECK_MSG(0, "tiny model: %s", err.msg);
		bpe_free(bpe);
		return;
	}
	model_set_threads(model, 1);
	eng = gen_engine_new(model, bpe, 1, &err);
	CHECK(eng != NULL);
	options_init(&o);
	cmd_fini(&st);
	cmd_init(&st, &o);
	options_fini(&o);
	st.res.engine = eng;
	st.res.bpe = bpe;
	st.res.n_ctx = model_config(model)->context_length;
	st.res.n_vocab = model_config(model)->vocab_size;
	st.next.gen.eos_id = -1;
	st.next.gen.max_new_tokens = 5;
	st.panel.want_logits = 1;
	CHECK(st.res.n_ctx == 64 && st.res.n_vocab == 257);

	/* byte-level: ids are the bytes, pieces escaped */
	CHECK(run("/tokens h\xc3\xa9\n") == CMD_DONE);
	CHECK(run("/tokens hé") == CMD_DONE);
	CHECK_MSG(strcmp(out.data, "3 tokens:\n104 \"h\"  195 \"\\xc3\"  169 "
	    "\"\\xa9\"\n") == 0, "%s", out.data);
	CHECK(run("/model") == CMD_DONE && has("context_length 64"));

	/* continue mode: the second prompt follows the first turn */
	CHECK(cmd_turn_begin(&st, "Once upon a time", &out, &err) == 0);
	test_candidates();
	drain();
	CHECK(st.fig.n_generated == 5);
	CHECK(cmd_turn_end(&st, &out, &err) == 0 && st.turn.sess == NULL);
	CHECK(st.ctx.n_ids == 21 && memcmp(st.ctx.ids, (int32_t[]){ 'O', 'n',
	    'c', 'e' }, 4 * sizeof(int32_t)) == 0);
	CHECK(cmd_turn_begin(&st, ", then", &out, &err) == 0);
	ids = gen_prompt_ids(st.turn.sess, 0, &n);
	CHECK(n == 27 && memcmp(ids, st.ctx.ids, 21 * sizeof *ids) == 0 &&
	    ids[21] == ',' && ids[26] == 'n');

	/* the panel follows the knobs without a forward pass */
	cmd_candidates(&st, c1, 4);
	for (int i = 0; i < 5; i++)
		CHECK(cmd_adjust(&st, "temperature", 1, &err) == 0);
	cmd_candidates(&st, c2, 4);
	CHECK(c1[0].id == c2[0].id && c1[0].p_raw == c2[0].p_raw);
	CHECK(c2[0].p_temp < c1[0].p_temp);	/* hotter is flatter */
	test_candidates();

	/* Ctrl-C: stops before the next token, the reply is kept */
	CHECK(cmd_turn_step(&st, NULL_FN, NULL, &err) == 1);
	cmd_turn_interrupt(&st);
	drain();
	CHECK(gen_stop_reason(st.turn.sess, 0) == GEN_STOP_INTERRUPTED);
	CHECK(st.fig.n_generated == 1);
	CHECK(cmd_turn_end(&st, &out, &err) == 0 && st.ctx.n_ids == 28);

	/* 28 + 30 new + room for min(max, 64 / 4) = 16 makes 74: drop 10 */
	buf_fini(&out);
	buf_init(&out);
	st.next.gen.max_new_tokens = 40;
	CHECK(cmd_turn_begin(&st, "abcdefghijklmnopqrstuvwxyz0123", &out,
	    &err) == 0);
	CHECK_MSG(has("context full: dropped the oldest 10 tokens"), "%s",
	    out.data ? out.data : "");
	gen_prompt_ids(st.turn.sess, 0, &n);
	CHECK(n == 48);
	drain();
	CHECK(cmd_turn_end(&st, &out, &err) == 0);
	/* full: 64 positions, plus the last token, sampled but never fed */
	CHECK_MSG(st.ctx.n_ids == 65, "%zu", st.ctx.n_ids);

	/* fresh mode: nothing carried over */
	CHECK(run("/mode fresh") == CMD_DONE && st.ctx.n_ids == 0);
	st.next.gen.max_new_tokens = 3;
	CHECK(cmd_turn_begin(&st, "abc", &out, &err) == 0);
	gen_prompt_ids(st.turn.sess, 0, &n);
	CHECK(n == 3);
	drain();
	CHECK(cmd_turn_end(&st, &out, &err) == 0 && st.ctx.n_ids == 0);
	CHECK(cmd_turn_begin(&st, "", &out, &err) == -1 &&
	    strcmp(err.msg, "nothing to continue: type a prompt") == 0);

	test_driver();

	cmd_fini(&st);
	gen_engine_free(eng);
	model_close(model);
	bpe_free(bpe);
	options_init(&o);
	cmd_init(&st, &o);
	options_fini(&o);
}

int
main(void)
{
	struct lm_options o;

	options_init(&o);
	cmd_init(&st, &o);
	options_fini(&o);
	buf_init(&out);
	test_dispatch();
	test_settings();
	test_stop_and_mode();
	test_knobs();
	test_needs_resources();
	test_help();
	test_block();
	test_init();
	test_turns();
	cmd_fini(&st);
	buf_fini(&out);
	CHECK_RESULT();
}
