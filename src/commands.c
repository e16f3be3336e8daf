/*
 * commands.c: the REPL's command layer, shared by the curses screen (ui.c)
 * and the line mode (repl_line.c).  It owns struct repl: the settings of the
 * next turn, the transcript as token ids (continue mode), the running turn,
 * and the logits cached for the candidate panel.  The turns themselves
 * live in cmd_turn.c.
 *
 * Slash commands are rows of cmd_table, each with a handler; settings are
 * rows of cmd_settings.  Adding a command is adding a row, never another
 * branch of an if-chain.  Handlers append output to a struct buf and report
 * failure as one line in a struct err; the front end decides where either
 * is shown.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bpe.h"
#include "commands.h"
#include "generate.h"
#include "history.h"
#include "model.h"
#include "options.h"
#include "sampler.h"
#include "util.h"

#define CMD_HISTORY_DEFAULT	20	/* rows /history lists */
#define CMD_TEMP_MAX		5.0	/* live keys stop here */
#define CMD_TOP_P_MIN		0.05	/* live keys stop here */

struct cmd_entry;
typedef enum cmd_action cmd_fn(struct repl *, const struct cmd_entry *,
    const char *args, struct buf *, struct err *);

/* One slash command. */
struct cmd_entry {
	const char	*name;		/* as typed, without the slash */
	const char	*setting;	/* short form of /set this, or NULL */
	const char	*args;		/* argument synopsis for /help */
	const char	*help;		/* one line for /help */
	cmd_fn		*fn;		/* handler */
};

/* One setting of /set. */
struct cmd_setting {
	const char	*name;		/* canonical, as /show prints it */
	const char	*alias;		/* second spelling, or NULL */
	int		(*set)(struct repl *, const char *, struct err *);
};

const struct cmd_key cmd_live_keys[] = {
	{ "+  -", "temperature up / down by 0.1 (also F6 / F5)" },
	{ "]  [", "top-p up / down by 0.05 (also F8 / F7)" },
	{ "Space", "pause / resume the reply" },
	{ "Tab", "candidate panel on / off (also F2)" },
	{ "Ctrl-C", "stop the reply and keep it (recorded as interrupted)" },
	{ NULL, NULL }
};

const struct cmd_key cmd_edit_keys[] = {
	{ "Enter", "send the prompt; on an empty line in continue mode, "
	    "generate more" },
	{ "Alt-Enter", "insert a newline (or start a block with \"\"\")" },
	{ "Up  Down", "earlier prompts, from the history database" },
	{ "Ctrl-R", "search earlier prompts" },
	{ "Tab", "complete a /command or a file name" },
	{ "PgUp  PgDn", "scroll the transcript (also the mouse wheel)" },
	{ "F2", "candidate panel on / off" },
	{ "F5  F6", "temperature down / up" },
	{ "F7  F8", "top-p down / up" },
	{ "Ctrl-L", "redraw the screen" },
	{ "Ctrl-C", "clear the line (on an empty line: how to quit)" },
	{ "Ctrl-D", "quit (on an empty line)" },
	{ "Ctrl-Z", "suspend; fg resumes" },
	{ NULL, NULL }
};

/* Parsing helpers. */

static int
cmd_parse_double(const char *name, const char *s, double lo, double hi,
    double *out, struct err *err)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !isfinite(v) ||
	    v < lo || v > hi) {
		err_set(err, "%s: '%s' is not a number in [%g, %g]", name, s,
		    lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

static int
cmd_parse_long(const char *name, const char *s, long lo, long hi, long *out,
    struct err *err)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi) {
		err_set(err, "%s: '%s' is not an integer in [%ld, %ld]", name,
		    s, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

/* Compare names treating '-' and '_' alike, case-insensitively; n bytes of
 * a (the typed word) against all of b. */
static int
cmd_name_eq(const char *a, size_t n, const char *b, int prefix)
{
	size_t i;

	for (i = 0; i < n && b[i] != '\0'; i++) {
		int ca = tolower((unsigned char)a[i]);
		int cb = tolower((unsigned char)b[i]);

		if (ca == '-')
			ca = '_';
		if (cb == '-')
			cb = '_';
		if (ca != cb)
			return 0;
	}
	if (i < n)
		return 0;
	return prefix || b[i] == '\0';
}

/* Undo the escapes a user can type in a stop string: \n \t \r \\. */
static char *
cmd_unescape(const char *s)
{
	char *out = xmalloc(strlen(s) + 1), *o = out;

	for (; *s != '\0'; s++) {
		if (*s != '\\' || s[1] == '\0') {
			*o++ = *s;
			continue;
		}
		switch (*++s) {
		case 'n':	*o++ = '\n'; break;
		case 't':	*o++ = '\t'; break;
		case 'r':	*o++ = '\r'; break;
		default:	*o++ = *s; break;
		}
	}
	*o = '\0';
	return out;
}

/* Settings. */

static int
cmd_set_temperature(struct repl *st, const char *v, struct err *err)
{
	double d;

	if (cmd_parse_double("temperature", v, 0, 100, &d, err) != 0)
		return -1;
	st->gen.sp.temperature = (float)d;
	return 0;
}

static int
cmd_set_top_p(struct repl *st, const char *v, struct err *err)
{
	double d;

	if (cmd_parse_double("top_p", v, 0, 1, &d, err) != 0)
		return -1;
	if (d <= 0) {
		err_set(err, "top_p: must be in (0, 1]");
		return -1;
	}
	st->gen.sp.top_p = (float)d;
	return 0;
}

static int
cmd_set_top_k(struct repl *st, const char *v, struct err *err)
{
	long l;

	if (cmd_parse_long("top_k", v, 0, 1L << 30, &l, err) != 0)
		return -1;
	st->gen.sp.top_k = (int)l;
	return 0;
}

static int
cmd_set_min_p(struct repl *st, const char *v, struct err *err)
{
	double d;

	if (cmd_parse_double("min_p", v, 0, 0.999999, &d, err) != 0)
		return -1;
	st->gen.sp.min_p = (float)d;
	return 0;
}

static int
cmd_set_repeat_penalty(struct repl *st, const char *v, struct err *err)
{
	double d;

	if (cmd_parse_double("repeat_penalty", v, 1, 1e6, &d, err) != 0)
		return -1;
	st->gen.sp.repeat_penalty = (float)d;
	return 0;
}

static int
cmd_set_repeat_window(struct repl *st, const char *v, struct err *err)
{
	long l;

	if (cmd_parse_long("repeat_window", v, 0, 1L << 24, &l, err) != 0)
		return -1;
	st->gen.sp.repeat_window = (int)l;
	return 0;
}

static int
cmd_set_seed(struct repl *st, const char *v, struct err *err)
{
	char			*end;
	unsigned long long	 u;

	if (strcmp(v, "random") == 0) {
		st->seed_fixed = 0;
		return 0;
	}
	errno = 0;
	u = strtoull(v, &end, 10);
	if (*v == '\0' || *v == '-' || *end != '\0' || errno != 0) {
		err_set(err, "seed: '%s' is not a non-negative integer or "
		    "'random'", v);
		return -1;
	}
	st->gen.seed = (uint64_t)u;
	st->seed_fixed = 1;
	return 0;
}

static int
cmd_set_max(struct repl *st, const char *v, struct err *err)
{
	long l;

	if (cmd_parse_long("max", v, 1, 1L << 24, &l, err) != 0)
		return -1;
	st->gen.max_new_tokens = (int)l;
	return 0;
}

/* An empty value clears the stop strings; anything else adds one. */
static int
cmd_set_stop(struct repl *st, const char *v, struct err *err)
{
	if (*v == '\0') {
		for (int i = 0; i < st->gen.n_stop; i++) {
			free(st->stop_own[i]);
			st->stop_own[i] = NULL;
			st->gen.stop[i] = NULL;
		}
		st->gen.n_stop = 0;
		return 0;
	}
	if (st->gen.n_stop == GEN_MAX_STOP) {
		err_set(err, "stop: at most %d stop strings (/stop alone "
		    "clears them)", GEN_MAX_STOP);
		return -1;
	}
	st->stop_own[st->gen.n_stop] = cmd_unescape(v);
	st->gen.stop[st->gen.n_stop] = st->stop_own[st->gen.n_stop];
	st->gen.n_stop++;
	return 0;
}

static int
cmd_set_mode(struct repl *st, const char *v, struct err *err)
{
	if (strcmp(v, "continue") == 0)
		st->mode = CMD_MODE_CONTINUE;
	else if (strcmp(v, "fresh") == 0) {
		st->mode = CMD_MODE_FRESH;
		cmd_clear(st);
	} else {
		err_set(err, "mode: '%s': expected continue or fresh", v);
		return -1;
	}
	return 0;
}

static const struct cmd_setting cmd_settings[] = {
	{ "temperature",	"temp",		cmd_set_temperature },
	{ "top_p",		NULL,		cmd_set_top_p },
	{ "top_k",		NULL,		cmd_set_top_k },
	{ "min_p",		NULL,		cmd_set_min_p },
	{ "repeat_penalty",	NULL,		cmd_set_repeat_penalty },
	{ "repeat_window",	NULL,		cmd_set_repeat_window },
	{ "seed",		NULL,		cmd_set_seed },
	{ "max",		"max_new_tokens", cmd_set_max },
	{ "stop",		NULL,		cmd_set_stop },
	{ "mode",		NULL,		cmd_set_mode },
};
#define CMD_N_SETTINGS (sizeof cmd_settings / sizeof cmd_settings[0])

/*
 * Set one setting by name (either spelling, '-' or '_').  Takes effect from
 * the next turn, or at once for a running one.  Returns 0, or -1 with err
 * naming the setting and the problem.
 */
int
cmd_set(struct repl *st, const char *name, const char *value,
    struct err *err)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < CMD_N_SETTINGS; i++) {
		const struct cmd_setting *s = &cmd_settings[i];

		if (!cmd_name_eq(name, n, s->name, 0) && (s->alias == NULL ||
		    !cmd_name_eq(name, n, s->alias, 0)))
			continue;
		if (s->set(st, value, err) != 0)
			return -1;
		if (st->sess != NULL &&
		    gen_set_params(st->sess, &st->gen.sp, err) != 0)
			return -1;
		return 0;
	}
	err_set(err, "set: unknown setting '%s' (see /show)", name);
	return -1;
}

/*
 * Turn a knob by delta, clamped to a useful range and rounded to two
 * decimals so that repeated presses land on round values.  A running turn
 * gets the change from its next token (logged by the engine with its step).
 */
int
cmd_adjust(struct repl *st, enum cmd_knob knob, double delta,
    struct err *err)
{
	struct sampler_params	 sp = st->gen.sp;
	double			 v;

	switch (knob) {
	case CMD_KNOB_TEMPERATURE:
		v = round((sp.temperature + delta) * 100) / 100;
		sp.temperature = (float)fmin(fmax(v, 0), CMD_TEMP_MAX);
		break;
	case CMD_KNOB_TOP_P:
		v = round((sp.top_p + delta) * 100) / 100;
		sp.top_p = (float)fmin(fmax(v, CMD_TOP_P_MIN), 1);
		break;
	}
	if (st->sess != NULL && gen_set_params(st->sess, &sp, err) != 0)
		return -1;
	st->gen.sp = sp;
	return 0;
}

/*
 * Append the effective settings, one per line, in the words /set takes.
 */
void
cmd_show(const struct repl *st, struct buf *out)
{
	const struct sampler_params *sp = &st->gen.sp;

	buf_printf(out, "temperature    %.2f%s\n", sp->temperature,
	    sp->temperature == 0 ? " (greedy)" : "");
	buf_printf(out, "top_p          %.2f\n", sp->top_p);
	buf_printf(out, "top_k          %d%s\n", sp->top_k,
	    sp->top_k == 0 ? " (off)" : "");
	buf_printf(out, "min_p          %.3g%s\n", sp->min_p,
	    sp->min_p == 0 ? " (off)" : "");
	buf_printf(out, "repeat_penalty %.3g%s\n", sp->repeat_penalty,
	    sp->repeat_penalty == 1 ? " (off)" : "");
	buf_printf(out, "repeat_window  %d\n", sp->repeat_window);
	if (st->seed_fixed)
		buf_printf(out, "seed           %" PRIu64 "\n", st->gen.seed);
	else
		buf_printf(out, "seed           random (last %" PRIu64 ")\n",
		    st->turn_seed);
	buf_printf(out, "max            %d\n", st->gen.max_new_tokens);
	buf_puts(out, "stop           ");
	if (st->gen.n_stop == 0)
		buf_puts(out, "(none)");
	for (int i = 0; i < st->gen.n_stop; i++) {
		buf_puts(out, i ? " \"" : "\"");
		buf_escape(out, st->gen.stop[i], strlen(st->gen.stop[i]),
		    BUF_ESC_TOKEN);
		buf_puts(out, "\"");
	}
	buf_puts(out, "\n");
	buf_printf(out, "mode           %s\n",
	    st->mode == CMD_MODE_CONTINUE ? "continue" : "fresh");
	if (st->gen.eos_id >= 0)
		buf_printf(out, "eos            %d\n", st->gen.eos_id);
	buf_printf(out, "history        %s\n", st->hist != NULL ? "on" : "off");
}

/*
 * Forget the transcript: the next prompt starts from nothing, and the
 * engine drops its cached text.
 */
void
cmd_clear(struct repl *st)
{
	st->n_ctx_ids = 0;
	st->ctx_used = 0;
	st->have_logits = 0;
	if (st->engine != NULL && st->sess == NULL)
		gen_engine_forget(st->engine);
}

/* Command handlers. */

static enum cmd_action
cmd_do_help(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	(void)st; (void)e; (void)args; (void)err;
	cmd_help(out);
	return CMD_DONE;
}

/* "NAME VALUE": split at the first blank. */
static enum cmd_action
cmd_do_set(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	char		*name;
	const char	*v;
	int		 rc;

	(void)e;
	if (*args == '\0') {
		cmd_show(st, out);
		return CMD_DONE;
	}
	v = args + strcspn(args, " \t");
	name = xstrndup(args, (size_t)(v - args));
	v += strspn(v, " \t");
	if (*v == '\0' && !cmd_name_eq(name, strlen(name), "stop", 0)) {
		err_set(err, "set: usage: /set NAME VALUE");
		free(name);
		return CMD_ERROR;
	}
	rc = cmd_set(st, name, v, err);
	free(name);
	return rc == 0 ? CMD_DONE : CMD_ERROR;
}

/* /temp, /top_p ...: with a value set it, without one show it. */
static enum cmd_action
cmd_do_short(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	struct buf	 all;
	const char	*line;
	size_t		 n = strlen(e->setting);

	if (*args != '\0' || strcmp(e->setting, "stop") == 0)
		return cmd_set(st, e->setting, args, err) == 0 ? CMD_DONE :
		    CMD_ERROR;
	buf_init(&all);
	cmd_show(st, &all);
	for (line = all.data; line != NULL && *line != '\0';) {
		const char *nl = strchr(line, '\n');

		if (strncmp(line, e->setting, n) == 0 && line[n] == ' ') {
			buf_append(out, line, (size_t)(nl - line) + 1);
			break;
		}
		line = nl + 1;
	}
	buf_fini(&all);
	return CMD_DONE;
}

static enum cmd_action
cmd_do_show(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	(void)e; (void)args; (void)err;
	cmd_show(st, out);
	return CMD_DONE;
}

static enum cmd_action
cmd_do_clear(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	(void)e; (void)args; (void)out; (void)err;
	cmd_clear(st);
	return CMD_CLEAR;
}

static int
cmd_need_history(const struct repl *st, struct err *err)
{
	if (st->hist != NULL)
		return 0;
	err_set(err, "history is off (started with --no-history, or the "
	    "database could not be opened)");
	return -1;
}

static int
cmd_parse_id(const char *cmd, const char *args, int64_t *id, struct err *err)
{
	long l;

	if (*args == '\0') {
		err_set(err, "%s: usage: /%s ID (see /history)", cmd, cmd);
		return -1;
	}
	if (cmd_parse_long(cmd, args, 1, LONG_MAX, &l, err) != 0)
		return -1;
	*id = l;
	return 0;
}

/* /history, /history N, /history search TEXT. */
static enum cmd_action
cmd_do_history(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	long	 n = CMD_HISTORY_DEFAULT;
	size_t	 before = out->len;
	int	 rc;

	(void)e;
	if (cmd_need_history(st, err) != 0)
		return CMD_ERROR;
	if (strncmp(args, "search", 6) == 0 &&
	    (args[6] == '\0' || isspace((unsigned char)args[6]))) {
		const char *q = args + 6 + strspn(args + 6, " \t");

		if (*q == '\0') {
			err_set(err, "history: usage: /history search TEXT");
			return CMD_ERROR;
		}
		rc = history_search_turns(st->hist, q, CMD_HISTORY_DEFAULT, 0, out,
		    err);
	} else {
		if (*args != '\0' &&
		    cmd_parse_long("history", args, 1, 100000, &n, err) != 0)
			return CMD_ERROR;
		rc = history_list_turns(st->hist, (int)n, 0, 0, out, err);
	}
	if (rc != 0)
		return CMD_ERROR;
	if (out->len == before)
		buf_puts(out, "(no turns)\n");
	return CMD_DONE;
}

static enum cmd_action
cmd_do_show_turn(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	int64_t id;

	(void)e;
	if (cmd_need_history(st, err) != 0 ||
	    cmd_parse_id("show-turn", args, &id, err) != 0)
		return CMD_ERROR;
	return history_show(st->hist, id, out, err) == 0 ? CMD_DONE :
	    CMD_ERROR;
}

/*
 * Drop the turn /replay loaded, if any (shared with cmd_turn.c).
 */
void
cmd_replay_free(struct repl *st)
{
	if (st->replay == NULL)
		return;
	history_turn_fini(st->replay);
	free(st->replay);
	st->replay = NULL;
}

/* Load the turn; the front end runs it with cmd_turn_begin(st, NULL). */
static enum cmd_action
cmd_do_replay(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	int64_t id;

	(void)e; (void)out;
	if (cmd_need_history(st, err) != 0 ||
	    cmd_parse_id("replay", args, &id, err) != 0)
		return CMD_ERROR;
	if (st->engine == NULL) {
		err_set(err, "replay: no model loaded");
		return CMD_ERROR;
	}
	cmd_replay_free(st);
	st->replay = xcalloc(1, sizeof *st->replay);
	if (history_get_turn(st->hist, id, st->replay, err) != 0) {
		free(st->replay);
		st->replay = NULL;
		return CMD_ERROR;
	}
	return CMD_RUN;
}

static enum cmd_action
cmd_do_tokens(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	int32_t	*ids = NULL;
	size_t	 n = 0, col = 0;
	char	 piece[256];

	(void)e;
	if (st->bpe == NULL) {
		err_set(err, "tokens: no tokenizer loaded");
		return CMD_ERROR;
	}
	if (*args == '\0') {
		err_set(err, "tokens: usage: /tokens TEXT");
		return CMD_ERROR;
	}
	if (bpe_encode(st->bpe, args, strlen(args), BPE_UTF8_REPLACE, &ids,
	    &n, err) != 0) {
		err_prefix(err, "tokens");
		return CMD_ERROR;
	}
	buf_printf(out, "%zu token%s:\n", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		size_t before = out->len;

		cmd_token_text(st, ids[i], piece, sizeof piece);
		buf_printf(out, "%s%d \"%s\"", col ? "  " : "", ids[i], piece);
		col += out->len - before;
		if (col >= 60 || i + 1 == n) {
			buf_puts(out, "\n");
			col = 0;
		}
	}
	free(ids);
	return CMD_DONE;
}

static enum cmd_action
cmd_do_model(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	const struct lm_config	*c;
	double			 params;

	(void)e; (void)args;
	if (st->engine == NULL) {
		err_set(err, "model: no model loaded");
		return CMD_ERROR;
	}
	c = model_config(gen_engine_model(st->engine));
	/* embeddings and head, then per layer attention, SwiGLU, two norms */
	params = 2.0 * c->vocab_size * c->d_model + c->d_model +
	    (double)c->num_layers * (4.0 * c->d_model * c->d_model +
	    3.0 * c->d_model * c->d_ff + 2.0 * c->d_model);
	buf_printf(out, "model          %s\n", st->model_path != NULL ?
	    st->model_path : "(unnamed)");
	buf_printf(out, "parameters     %.3g M\n", params / 1e6);
	buf_printf(out, "vocab_size     %d (tokenizer %zu)\n", c->vocab_size,
	    st->bpe != NULL ? bpe_n_vocab(st->bpe) : (size_t)0);
	buf_printf(out, "context_length %d\n", c->context_length);
	buf_printf(out, "d_model        %d\n", c->d_model);
	buf_printf(out, "num_layers     %d\n", c->num_layers);
	buf_printf(out, "num_heads      %d\n", c->num_heads);
	buf_printf(out, "d_ff           %d\n", c->d_ff);
	buf_printf(out, "rope_theta     %g\n", c->rope_theta);
	return CMD_DONE;
}

static enum cmd_action
cmd_do_mode(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	(void)e;
	if (*args == '\0') {
		buf_printf(out, "mode           %s\n",
		    st->mode == CMD_MODE_CONTINUE ? "continue" : "fresh");
		return CMD_DONE;
	}
	return cmd_set(st, "mode", args, err) == 0 ? CMD_DONE : CMD_ERROR;
}

static enum cmd_action
cmd_do_quit(struct repl *st, const struct cmd_entry *e, const char *args,
    struct buf *out, struct err *err)
{
	(void)st; (void)e; (void)args; (void)out; (void)err;
	return CMD_QUIT;
}

static const struct cmd_entry cmd_table[] = {
	{ "help", NULL, "", "this list", cmd_do_help },
	{ "set", NULL, "NAME VALUE", "change a setting; alone, like /show",
	    cmd_do_set },
	{ "temp", "temperature", "[T]", "temperature (0 = greedy)",
	    cmd_do_short },
	{ "top_p", "top_p", "[P]", "nucleus mass kept, (0, 1]", cmd_do_short },
	{ "top_k", "top_k", "[K]", "keep the K most likely (0 = off)",
	    cmd_do_short },
	{ "min_p", "min_p", "[P]", "drop tokens below P times the best "
	    "(0 = off)", cmd_do_short },
	{ "seed", "seed", "[N|random]", "seed of every turn, or a new one "
	    "each turn", cmd_do_short },
	{ "max", "max", "[N]", "most tokens per reply", cmd_do_short },
	{ "stop", "stop", "[TEXT]", "add a stop string (\\n escapes); alone: "
	    "clear them", cmd_do_short },
	{ "show", NULL, "", "the settings in effect", cmd_do_show },
	{ "mode", NULL, "[continue|fresh]", "continue the transcript, or "
	    "start each prompt afresh", cmd_do_mode },
	{ "clear", NULL, "", "clear the transcript and the cached context",
	    cmd_do_clear },
	{ "history", NULL, "[N | search TEXT]", "recent turns, or turns "
	    "matching TEXT", cmd_do_history },
	{ "show-turn", NULL, "ID", "one turn in full, with its live changes",
	    cmd_do_show_turn },
	{ "replay", NULL, "ID", "run a turn again and check the tokens match",
	    cmd_do_replay },
	{ "tokens", NULL, "TEXT", "how TEXT tokenizes: ids and pieces",
	    cmd_do_tokens },
	{ "model", NULL, "", "model path and shape", cmd_do_model },
	{ "quit", NULL, "", "leave (also Ctrl-D on an empty line)",
	    cmd_do_quit },
};
#define CMD_N_TABLE (sizeof cmd_table / sizeof cmd_table[0])

/*
 * The /help text: commands, then the keys.  The man page lists the same.
 */
void
cmd_help(struct buf *out)
{
	buf_puts(out, "Commands (a unique prefix is enough):\n");
	for (size_t i = 0; i < CMD_N_TABLE; i++) {
		char syn[40];

		snprintf(syn, sizeof syn, "/%s %s", cmd_table[i].name,
		    cmd_table[i].args);
		buf_printf(out, "  %-24s %s\n", syn, cmd_table[i].help);
	}
	buf_puts(out, "Keys while a reply streams:\n");
	for (size_t i = 0; cmd_live_keys[i].keys != NULL; i++)
		buf_printf(out, "  %-12s %s\n", cmd_live_keys[i].keys,
		    cmd_live_keys[i].what);
	buf_puts(out, "Keys at the prompt:\n");
	for (size_t i = 0; cmd_edit_keys[i].keys != NULL; i++)
		buf_printf(out, "  %-12s %s\n", cmd_edit_keys[i].keys,
		    cmd_edit_keys[i].what);
}

/*
 * Name of command i (without the slash) for completion; NULL past the end.
 */
const char *
cmd_name(size_t i)
{
	return i < CMD_N_TABLE ? cmd_table[i].name : NULL;
}

/*
 * Completion of slash commands, in the shape readline's
 * rl_completion_matches() wants: state 0 restarts; each call returns the
 * next "/name" that starts with text (malloc'd, caller frees), then NULL.
 */
char *
cmd_complete(const char *text, int state)
{
	static size_t	i;
	size_t		n;

	if (state == 0)
		i = 0;
	if (text[0] != '/')
		return NULL;
	n = strlen(text + 1);
	while (i < CMD_N_TABLE) {
		const char *name = cmd_table[i++].name;

		if (strncmp(name, text + 1, n) == 0)
			return xasprintf("/%s", name);
	}
	return NULL;
}

/* Find a command by exact name, else by unique prefix. */
static const struct cmd_entry *
cmd_find(const char *word, size_t n, struct err *err)
{
	const struct cmd_entry *found = NULL;
	int n_found = 0;

	for (size_t i = 0; i < CMD_N_TABLE; i++)
		if (cmd_name_eq(word, n, cmd_table[i].name, 0))
			return &cmd_table[i];
	for (size_t i = 0; i < CMD_N_TABLE; i++) {
		if (cmd_name_eq(word, n, cmd_table[i].name, 1)) {
			found = &cmd_table[i];
			n_found++;
		}
	}
	if (n_found == 1)
		return found;
	err_set(err, "%s command '/%.*s' (try /help)", n_found ? "ambiguous" :
	    "unknown", (int)n, word);
	return NULL;
}

/*
 * Run one input line.  Lines that do not start with '/' (and lines that
 * start with "//", one slash removed by the caller) are prompts: CMD_PROMPT.
 * Anything else is a command from cmd_table; its output goes to out and a
 * failure to err as one line.
 */
enum cmd_action
cmd_run(struct repl *st, const char *line, struct buf *out, struct err *err)
{
	const struct cmd_entry	*e;
	const char		*args;
	char			*trimmed;
	size_t			 n, len;
	enum cmd_action		 act;

	err_clear(err);
	if (line[0] != '/' || line[1] == '/')
		return CMD_PROMPT;
	n = strcspn(line + 1, " \t");
	if (n == 0) {
		err_set(err, "empty command (try /help)");
		return CMD_ERROR;
	}
	if ((e = cmd_find(line + 1, n, err)) == NULL)
		return CMD_ERROR;
	args = line + 1 + n;
	args += strspn(args, " \t");
	len = strlen(args);
	while (len > 0 && isspace((unsigned char)args[len - 1]) &&
	    strcmp(e->name, "stop") != 0)
		len--;
	trimmed = xstrndup(args, len);
	act = e->fn(st, e, trimmed, out, err);
	free(trimmed);
	return act;
}

/*
 * A printable form of token id: its bytes through buf_escape() (\n, \x1b,
 * \u009b), or <|id N|> for an id the tokenizer lacks.  Returns out.
 */
char *
cmd_token_text(const struct repl *st, int32_t id, char *out, size_t out_cap)
{
	const char	*b = NULL;
	size_t		 len = 0;
	struct buf	 tmp;

	if (st->bpe != NULL)
		b = bpe_token_bytes(st->bpe, id, &len);
	if (b == NULL) {
		snprintf(out, out_cap, "<|id %d|>", id);
		return out;
	}
	buf_init(&tmp);
	buf_escape(&tmp, b, len, BUF_ESC_TOKEN);
	snprintf(out, out_cap, "%s", tmp.data != NULL ? tmp.data : "");
	/* never leave half a character at the cut */
	out[utf8_valid_prefix(out, strlen(out))] = '\0';
	buf_fini(&tmp);
	return out;
}

/*
 * Start from the options: sampling settings, seed, stop strings and mode.
 * The front end fills the resources (engine, tokenizer, history) after.
 */
void
cmd_init(struct repl *st, const struct lm_options *o)
{
	memset(st, 0, sizeof *st);
	st->gen = o->gen;
	st->gen.n_stop = 0;
	for (int i = 0; i < o->gen.n_stop; i++) {
		st->stop_own[i] = cmd_unescape(o->gen.stop[i]);
		st->gen.stop[st->gen.n_stop++] = st->stop_own[i];
	}
	st->seed_fixed = o->seed_set;
	st->replace_invalid = o->replace_invalid;
	st->raw = o->raw;
	st->turn_seed = o->gen.seed;
	st->mode = o->mode != NULL && strcmp(o->mode, "fresh") == 0 ?
	    CMD_MODE_FRESH : CMD_MODE_CONTINUE;
}

/*
 * Free what struct repl owns (not the borrowed resources); a running turn
 * is dropped unrecorded.
 */
void
cmd_fini(struct repl *st)
{
	cmd_turn_reset(st);
	for (int i = 0; i < GEN_MAX_STOP; i++)
		free(st->stop_own[i]);
	free(st->ctx_ids);
	free(st->logits);
	free(st->recent_own);
	sampler_free(st->sampler);
	free(st->model_name);
	memset(st, 0, sizeof *st);
}
