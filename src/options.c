/*
 * options.c: one struct lm_options for every subcommand, filled from the
 * defaults, the environment (LMSH_MODEL, LMSH_HISTORY; NO_COLOR is read by
 * the UI) and the command line.
 *
 * options_table lists every option once, indexed by enum options_id, with
 * its GNU spelling, short form, argument and --help text.  A subcommand
 * names the options it takes in a struct options_use list; options_parse()
 * refuses the others ("option --x does not apply") and records each option
 * given as a bit in lm_options.given, and options_usage() writes --help's
 * option list from the same list, so the two cannot disagree.  Every long
 * option is also accepted with underscores, as the CS336 reference text
 * spells them (--top_p, --max_new_tokens).  The sampling knobs come from
 * the sampler's settings table: option OPT_SETTING + i is row i, which
 * names it, checks its range and gives its --help line, so a new knob needs
 * no change here.  Nothing here prints: errors come back in a struct err.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generate.h"
#include "model.h"
#include "options.h"
#include "sampler.h"
#include "util.h"

struct options_def {
	const char	*name;		/* GNU spelling; NULL: short form only */
	char		 short_name;	/* 0 if none */
	const char	*arg;		/* argument as --help names it; NULL: a
					   flag; "[=X]": optional, given only
					   as --name=X */
	const char	*help;		/* --help text unless a subcommand has its own */
};

static const struct options_def options_table[OPT__N] = {
	[OPT_MODEL] = { "model", 'm', "DIR",
	    "model directory (default $LMSH_MODEL, else the bundled model)" },
	[OPT_CHECKPOINT] = { "checkpoint-path", 0, "FILE",
	    ".pt or .safetensors checkpoint (also --checkpoint)" },
	[OPT_CONFIG] = { "config", 0, "FILE",
	    "the checkpoint's model_config.json (default: model_config.json "
	    "or config.json beside it; else the shape flags, and what the "
	    "tensors tell)" },
	[OPT_VOCAB_SIZE] = { "vocab-size", 0, "N", NULL },
	[OPT_CONTEXT_LENGTH] = { "context-length", 0, "N", NULL },
	[OPT_D_MODEL] = { "d-model", 0, "N", NULL },
	[OPT_NUM_LAYERS] = { "num-layers", 0, "N", NULL },
	[OPT_NUM_HEADS] = { "num-heads", 0, "N", NULL },
	[OPT_D_FF] = { "d-ff", 0, "N", NULL },
	[OPT_ROPE_THETA] = { "rope-theta", 0, "X",
	    "the model's shape, when there is no --config" },
	[OPT_VOCAB] = { "vocab", 0, "FILE", "GPT-2 vocab.json (with --merges; "
	    "default: the model directory's)" },
	[OPT_MERGES] = { "merges", 0, "FILE", "GPT-2 merges.txt (with --vocab)" },
	[OPT_TOKENIZER] = { "tokenizer", 0, "FILE",
	    "Hugging Face tokenizer.json" },
	[OPT_SPECIAL] = { "special-token", 0, "TOK",
	    "also treat TOK as a special token (repeatable)" },
	[OPT_THREADS] = { "threads", 0, "N", "threads (default: all cores)" },
	[OPT_DEVICE] = { "device", 0, "cpu", "the only device" },
	[OPT_SEED] = { "seed", 's', "N",
	    "RNG seed (default: a new one, recorded in the history)" },
	[OPT_MAX_NEW] = { "max-new-tokens", 0, "N",
	    "most tokens per reply (default 256)" },
	[OPT_EOS] = { "eos-token-id", 0, "ID",
	    "end-of-text id (default <|endoftext|>; -1 none)" },
	[OPT_STOP] = { "stop", 0, "TEXT", "stop before TEXT (repeatable, "
	    "up to 8)" },
	[OPT_PROMPT] = { "prompt", 0, "TEXT", "prompt text" },
	[OPT_PROMPT_TOKENS] = { "prompt-tokens", 0, "IDS",
	    "prompt as token ids, \"1,2,3\"" },
	[OPT_PROMPT_FILE] = { "prompt-file", 0, "FILE",
	    "one prompt per line (- for standard input)" },
	[OPT_REPLACE_INVALID] = { "replace-invalid", 0, NULL,
	    "turn bytes that are not UTF-8 into U+FFFD instead of failing" },
	[OPT_NUM_SAMPLES] = { "num-samples", 0, "N",
	    "samples per prompt, one batch (default 1)" },
	[OPT_OUTPUT] = { "output", 0, "FMT", "text (default), ids, or jsonl: "
	    "one JSON object per sample" },
	[OPT_HISTORY] = { "history", 0, "PATH", "the history database "
	    "(default $LMSH_HISTORY, else $XDG_DATA_HOME/lmsh/history.db)" },
	[OPT_NO_HISTORY] = { "no-history", 0, NULL, "do not record" },
	[OPT_PLAIN] = { "plain", 0, NULL, "line mode even on a terminal" },
	[OPT_MODE] = { "mode", 0, "MODE", "continue: prompts continue the "
	    "transcript (default); fresh: each starts afresh" },
	[OPT_KEEP] = { "keep", 0, "N", "tokens pinned when the context "
	    "slides (default: the first prompt's)" },
	[OPT_SHIFT] = { "shift", 0, "X", "share of the context after the "
	    "pinned part that a full context drops (default 0.5)" },
	[OPT_NO_SCROLLBACK] = { "no-scrollback", 0, NULL,
	    "leave no transcript on the terminal at the end" },
	[OPT_RESUME] = { "resume", 0, "[=SESSION]", "go on with the story of "
	    "the last session, or of SESSION (an id or a /name; also the "
	    "word after --resume)" },
	[OPT_PACE] = { "pace", 0, "N", "show at most N tokens a second "
	    "(0 = full speed, the default)" },
	[OPT_PROBS] = { "probs", 0, NULL, "jsonl: each token's probability "
	    "and log-probability (\"probs\", \"logprobs\")" },
	[OPT_FORMAT] = { "format", 0, "FMT", "output format" },
	[OPT_OUTPUT_DIR] = { "output-dir", 'o', "DIR",
	    "where to write (created if missing)" },
	[OPT_DTYPE] = { "dtype", 0, "TYPE",
	    "weight type written: f32 (default), bf16 or f16" },
	[OPT_COUNT] = { NULL, 'n', "N", "at most N (default 20; 0 = all)" },
	[OPT_SESSION] = { "session", 0, "ID", "only turns of session ID" },
	[OPT_JSON] = { "json", 0, NULL, "print JSON instead of text" },
	[OPT_ALL] = { "all", 0, NULL, "every turn" },
	[OPT_TOKENS] = { "tokens", 0, NULL, "the file holds token ids, "
	    "not text" },
	[OPT_DUMP_LOGITS] = { "dump-logits", 0, "FILE", "write the float32 "
	    "logits of every position as a NumPy array" },
	[OPT_QUICK] = { "quick", 0, NULL, "one small shape, fewer runs" },
	[OPT_NO_PROGRESS] = { "no-progress", 0, NULL,
	    "no progress line on a terminal" },
	[OPT_COLOR] = { "color", 0, NULL, "colour the output by token "
	    "probability" },
	[OPT_RAW] = { "raw", 0, NULL, "text to a terminal as it is (by "
	    "default controls are shown there, not obeyed)" },
	[OPT_LOG] = { "log", 'v', "FILE", "debug log (-v: lmsh.log)" },
	[OPT_HELP] = { "help", 'h', NULL, "show this help" },
	[OPT_VERSION] = { "version", 'V', NULL, "show the version" },
};

/* Other spellings getopt accepts besides the table's (and underscores). */
static const struct {
	const char	*name;
	int		 id;
} options_aliases[] = {
	{ "checkpoint", OPT_CHECKPOINT },
};
#define OPTIONS_N_ALIASES (sizeof options_aliases / sizeof options_aliases[0])

/* The settings rows with a short option. */
static const struct {
	char		 short_name;
	const char	*setting;
} options_setting_shorts[] = {
	{ 't', "temperature" },
	{ 'p', "top_p" },
};
#define OPTIONS_N_SETTING_SHORTS \
	(sizeof options_setting_shorts / sizeof options_setting_shorts[0])

/* getopt_long's val for an option id, clear of the short option chars. */
#define OPTIONS_VAL(id)		(256 + (id))

_Static_assert(OPT__N <= 64, "lm_options.given has 64 bits");

/* Whether id is a row of the sampler's settings table. */
static int
options_is_setting(int id)
{
	return id >= OPT_SETTING && id < OPT_SETTING_END &&
	    (size_t)(id - OPT_SETTING) < sampler_n_settings;
}

/* Option id's entry; a settings row is described from the row ("top_p" as
 * "top-p", its --help line).  Returns d, or the table's entry. */
static const struct options_def *
options_def(int id, struct options_def *d, char name[static 40])
{
	const struct sampler_setting *row;

	if (!options_is_setting(id))
		return &options_table[id];
	row = &sampler_settings[id - OPT_SETTING];
	snprintf(name, 40, "%s", row->name);
	for (char *p = name; *p != '\0'; p++)
		if (*p == '_')
			*p = '-';
	*d = (struct options_def){ name, 0, row->type == SAMPLER_INT ? "N" :
	    "X", row->help };
	for (size_t i = 0; i < OPTIONS_N_SETTING_SHORTS; i++)
		if (strcmp(options_setting_shorts[i].setting, row->name) == 0)
			d->short_name = options_setting_shorts[i].short_name;
	return d;
}

void
options_init(struct lm_options *o)
{
	const char *env;

	assert(sampler_n_settings <= OPTIONS_MAX_SETTINGS);
	memset(o, 0, sizeof *o);
	o->gen = xcalloc(1, sizeof *o->gen);
	o->src = xcalloc(1, sizeof *o->src);
	sampler_params_default(&o->gen->sp);
	o->gen->seed = 0;
	o->gen->max_new_tokens = GEN_MAX_NEW_DEFAULT;
	o->gen->eos_id = -1;
	o->num_samples = 1;
	o->output = "text";
	o->mode = "continue";
	o->keep = -1;
	o->shift = 0.5f;
	o->count = 20;
	o->pace = -1;
	if ((env = getenv("LMSH_MODEL")) != NULL && *env != '\0')
		o->model = env;
	if ((env = getenv("LMSH_HISTORY")) != NULL && *env != '\0')
		o->history = env;
}

void
options_fini(struct lm_options *o)
{
	free(o->gen);
	free(o->src);
	o->gen = NULL;
	o->src = NULL;
}

/* The option as messages name it: "--top-p", or "-n" when it has no long
 * name.  Returns out. */
static const char *
options_spell(char out[static 40], int id)
{
	struct options_def		 tmp;
	char				 name[40];
	const struct options_def	*d = options_def(id, &tmp, name);

	if (d->name != NULL)
		snprintf(out, 40, "--%s", d->name);
	else
		snprintf(out, 40, "-%c", d->short_name);
	return out;
}

/* Return nonzero when the command line gave option id. */
int
options_given(const struct lm_options *o, enum options_id id)
{
	return (o->given & OPTIONS_BIT(id)) != 0;
}

static int
options_int(const char *s, long lo, long hi, int *out, struct err *err)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi) {
		err_set(err, "'%s' is not an integer in [%ld, %ld]", s, lo, hi);
		return -1;
	}
	*out = (int)v;
	return 0;
}

static int
options_float(const char *s, double lo, double hi, float *out,
    struct err *err)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !isfinite(v) ||
	    v < lo || v > hi) {
		err_set(err, "'%s' is not a number in [%g, %g]", s, lo, hi);
		return -1;
	}
	*out = (float)v;
	return 0;
}

static int
options_u64(const char *s, uint64_t *out, struct err *err)
{
	char			*end;
	unsigned long long	 v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s == '\0' || *s == '-' || *end != '\0' || errno != 0) {
		err_set(err, "'%s' is not a non-negative integer", s);
		return -1;
	}
	*out = (uint64_t)v;
	return 0;
}

/* The model and tokenizer options; -1 on a bad value. */
static int
options_apply_model(struct lm_options *o, int id, const char *a,
    struct err *err)
{
	struct lm_config *cfg = &o->src->cfg;

	switch (id) {
	case OPT_MODEL:		o->model = a; return 0;
	case OPT_CHECKPOINT:	o->src->checkpoint = a; return 0;
	case OPT_CONFIG:	o->src->config_path = a; return 0;
	case OPT_VOCAB_SIZE:
		/* also bpe-train's target size */
		if (options_int(a, 1, INT_MAX, &cfg->vocab_size, err) != 0)
			return -1;
		o->vocab_size = cfg->vocab_size;
		return 0;
	case OPT_CONTEXT_LENGTH:
		return options_int(a, 1, 1 << 24, &cfg->context_length, err);
	case OPT_D_MODEL:
		return options_int(a, 1, 1 << 20, &cfg->d_model, err);
	case OPT_NUM_LAYERS:
		return options_int(a, 1, 4096, &cfg->num_layers, err);
	case OPT_NUM_HEADS:
		return options_int(a, 1, 4096, &cfg->num_heads, err);
	case OPT_D_FF:		return options_int(a, 1, 1 << 22, &cfg->d_ff, err);
	case OPT_ROPE_THETA:
		return options_float(a, 1e-6, 1e12, &cfg->rope_theta, err);
	case OPT_VOCAB:		o->vocab = a; return 0;
	case OPT_MERGES:	o->merges = a; return 0;
	case OPT_TOKENIZER:	o->tokenizer = a; return 0;
	case OPT_SPECIAL:
		if (o->n_special == OPTIONS_MAX_SPECIAL) {
			err_set(err, "at most %d", OPTIONS_MAX_SPECIAL);
			return -1;
		}
		o->special[o->n_special++] = a;
		return 0;
	case OPT_THREADS:	return options_int(a, 0, 1024, &o->threads, err);
	case OPT_DEVICE:
		if (strcmp(a, "cpu") != 0) {
			err_set(err, "'%s': lmsh runs on the CPU only; use "
			    "--device cpu", a);
			return -1;
		}
		o->device = a;
		return 0;
	}
	abort();
}

/* The sampling and stopping options; -1 on a bad value. */
static int
options_apply_sampling(struct lm_options *o, int id, const char *a,
    struct err *err)
{
	if (options_is_setting(id)) {
		const struct sampler_setting	*row =
		    &sampler_settings[id - OPT_SETTING];
		struct err			 e;
		double				 v;

		if (sampler_setting_parse(row, a, &v, &e) != 0) {
			/* the option names the setting: drop "top_p: " */
			size_t n = strlen(row->name);

			err_set(err, "%s", strncmp(e.msg, row->name, n) == 0 &&
			    strncmp(e.msg + n, ": ", 2) == 0 ? e.msg + n + 2 :
			    e.msg);
			return -1;
		}
		return sampler_setting_put(&o->gen->sp, row, v, err);
	}
	switch (id) {
	case OPT_SEED:	return options_u64(a, &o->gen->seed, err);
	case OPT_MAX_NEW:
		return options_int(a, GEN_MAX_NEW_MIN, GEN_MAX_NEW_MAX,
		    &o->gen->max_new_tokens, err);
	case OPT_EOS:
		return options_int(a, -1, INT_MAX, &o->gen->eos_id, err);
	case OPT_STOP:
		if (o->gen->n_stop == GEN_MAX_STOP || *a == '\0') {
			err_set(err, "at most %d non-empty strings",
			    GEN_MAX_STOP);
			return -1;
		}
		o->gen->stop[o->gen->n_stop++] = a;
		return 0;
	}
	abort();
}

/* Any other option; -1 on a bad value. */
static int
options_apply_other(struct lm_options *o, int id, const char *a,
    struct err *err)
{
	switch (id) {
	case OPT_PROMPT:	o->prompt = a; return 0;
	case OPT_PROMPT_TOKENS:	o->prompt_tokens = a; return 0;
	case OPT_PROMPT_FILE:	o->prompt_file = a; return 0;
	case OPT_REPLACE_INVALID: o->replace_invalid = 1; return 0;
	case OPT_NUM_SAMPLES:
		return options_int(a, 1, 4096, &o->num_samples, err);
	case OPT_OUTPUT:	o->output = a; return 0;
	case OPT_RAW:		o->raw = 1; return 0;
	case OPT_HISTORY:	o->history = a; o->no_history = 0; return 0;
	case OPT_NO_HISTORY:	o->no_history = 1; return 0;
	case OPT_PLAIN:		o->plain = 1; return 0;
	case OPT_MODE:
		if (strcmp(a, "continue") != 0 && strcmp(a, "fresh") != 0) {
			err_set(err, "'%s': expected continue or fresh", a);
			return -1;
		}
		o->mode = a;
		return 0;
	case OPT_KEEP:		return options_int(a, 0, INT_MAX, &o->keep, err);
	case OPT_SHIFT:		return options_float(a, 0, 1, &o->shift, err);
	case OPT_NO_SCROLLBACK:	o->no_scrollback = 1; return 0;
	case OPT_RESUME:
		o->resume = 1;
		if (a != NULL)
			o->resume_session = a;
		return 0;
	case OPT_PACE:		return options_float(a, 0, 1e6, &o->pace, err);
	case OPT_PROBS:		o->probs = 1; return 0;
	case OPT_FORMAT:	o->format = a; return 0;
	case OPT_OUTPUT_DIR:	o->out = a; return 0;
	case OPT_DTYPE:		o->dtype = a; return 0;
	case OPT_COUNT:		return options_int(a, 0, INT_MAX, &o->count, err);
	case OPT_SESSION: {
		uint64_t v;

		if (options_u64(a, &v, err) != 0)
			return -1;
		if (v > INT64_MAX) {
			err_set(err, "'%s' is not a session id", a);
			return -1;
		}
		o->session = (int64_t)v;
		return 0;
	}
	case OPT_JSON:		o->json = 1; return 0;
	case OPT_ALL:		o->all = 1; return 0;
	case OPT_TOKENS:	o->tokens_input = 1; return 0;
	case OPT_DUMP_LOGITS:	o->dump_logits = a; return 0;
	case OPT_QUICK:		o->quick = 1; return 0;
	case OPT_NO_PROGRESS:	o->no_progress = 1; return 0;
	case OPT_COLOR:		o->color = 1; return 0;
	case OPT_LOG:		o->log_path = a ? a : "lmsh.log"; return 0;
	}
	abort();
}

/* Apply one option; -1 on a bad value, with err naming the option. */
static int
options_apply(struct lm_options *o, int id, const char *a, struct err *err)
{
	char	spelled[40];
	int	rc;

	if (id < OPT_SETTING)
		rc = options_apply_model(o, id, a, err);
	else if (id < OPT_PROMPT)
		rc = options_apply_sampling(o, id, a, err);
	else
		rc = options_apply_other(o, id, a, err);
	if (rc != 0)
		err_prefix(err, "%s", options_spell(spelled, id));
	return rc;
}

/*
 * Build getopt's tables: every long name and alias, plus an underscore
 * twin of each name with a dash, and the short options.  The caller frees
 * the long table and the twin names (each lo[i].name in names).
 */
static struct option *
options_build(char ***names, size_t *n_names, char *shorts)
{
	size_t		 cap = 2 * (OPT__N + OPTIONS_N_ALIASES) + 1;
	struct option	*lo = xcalloc(cap, sizeof *lo);
	size_t		 n = 0;
	char		*sp = shorts;

	*names = xcalloc(cap, sizeof **names);
	*n_names = 0;
	/* ':' first: a missing argument is ':', not '?' */
	*sp++ = ':';
	for (size_t i = 0; i < OPT__N + OPTIONS_N_ALIASES; i++) {
		int				 id = i < OPT__N ? (int)i :
		    options_aliases[i - OPT__N].id;
		struct options_def		 tmp;
		char				 buf[40];
		const struct options_def	*d = options_def(id, &tmp, buf);
		const char			*nm = i < OPT__N ? d->name :
		    options_aliases[i - OPT__N].name;
		int				 ha = d->arg == NULL ?
		    no_argument : d->arg[0] == '[' ? optional_argument :
		    required_argument;

		if (i < OPT__N && d->short_name != 0) {
			*sp++ = d->short_name;
			/* -v alone is the log to lmsh.log */
			if (ha == required_argument && i != OPT_LOG)
				*sp++ = ':';
		}
		if (nm == NULL)
			continue;
		if (nm == buf)		/* a settings row's name: keep it */
			nm = (*names)[(*n_names)++] = xstrdup(buf);
		lo[n++] = (struct option){ nm, ha, NULL, OPTIONS_VAL(id) };
		if (strchr(nm, '-') == NULL)
			continue;
		char *twin = xstrdup(nm);
		for (char *p = twin; *p != '\0'; p++)
			if (*p == '-')
				*p = '_';
		(*names)[(*n_names)++] = twin;
		lo[n++] = (struct option){ twin, ha, NULL, OPTIONS_VAL(id) };
	}
	*sp = '\0';
	return lo;
}

/* The option id of a getopt result, or -1. */
static int
options_id_of(int c)
{
	if (c >= OPTIONS_VAL(0) && c < OPTIONS_VAL(OPT__N))
		return c - OPTIONS_VAL(0);
	for (int i = 0; i < OPT__N; i++) {
		struct options_def	tmp;
		char			buf[40];

		if (c != 0 && options_def(i, &tmp, buf)->short_name == c)
			return i;
	}
	return -1;
}

/* The option as the user typed it, without any "=value". */
static void
options_typed(char *out, size_t cap, const char *arg)
{
	snprintf(out, cap, "%.*s", (int)strcspn(arg, "="), arg);
}

/* How many options "--prefix" could abbreviate (either spelling). */
static int
options_n_prefixed(const char *typed)
{
	char	p[128];
	size_t	len;
	int	n = 0;

	if (strncmp(typed, "--", 2) != 0)
		return 0;
	snprintf(p, sizeof p, "%s", typed + 2);
	for (char *c = p; *c != '\0'; c++)
		if (*c == '_')
			*c = '-';
	len = strlen(p);
	for (int i = 0; i < OPT__N; i++) {
		struct options_def		 tmp;
		char				 buf[40];
		const struct options_def	*d = options_def(i, &tmp, buf);

		if (d->name != NULL && strncmp(d->name, p, len) == 0)
			n++;
	}
	return n;
}

/* Explain getopt's '?' or ':' for the argument it stopped at. */
static void
options_getopt_error(int c, int argc, char **argv, struct err *err)
{
	char		 typed[128];
	const char	*arg = optind > 0 && optind <= argc ? argv[optind - 1] :
	    "";
	int		 id = options_id_of(optopt);

	if (optopt != 0 && id < 0) {
		err_set(err, "unknown option '-%c'", optopt);
		return;
	}
	if (strncmp(arg, "--", 2) == 0)
		options_typed(typed, sizeof typed, arg);
	else	/* a short option, perhaps after others in one word */
		snprintf(typed, sizeof typed, "-%c", optopt);
	if (c == ':')
		err_set(err, "option '%s' needs an argument", typed);
	else if (id >= 0)
		err_set(err, "option '%s' takes no argument", typed);
	else if (options_n_prefixed(typed) > 1)
		err_set(err, "option '%s' is ambiguous", typed);
	else
		err_set(err, "unrecognized option '%s'", typed);
}

/* Whether the subcommand's list takes option id. */
static int
options_takes(const struct options_use *use, int id)
{
	for (; use->id != OPT__N; use++)
		if (use->id == id || (use->id == OPT_SETTING &&
		    options_is_setting(id)))
			return 1;
	return id == OPT_HELP || id == OPT_VERSION;	/* every command's */
}

/*
 * Parse argv with getopt_long against the options of use.  Returns
 * OPTIONS_OK with *optind_out at the first operand (getopt moves operands
 * after the options); OPTIONS_HELP or OPTIONS_VERSION for the caller to
 * print; or OPTIONS_USAGE with err set ("--top-p: must be in (0, 1]",
 * "option --format does not apply").
 */
enum options_result
options_parse(struct lm_options *o, const struct options_use *use, int argc,
    char **argv, int *optind_out, struct err *err)
{
	char			 shorts[2 * OPT__N + 2], **names, spelled[40];
	struct option		*lo;
	size_t			 n_names;
	enum options_result	 rc = OPTIONS_OK;
	int			 c, id;

	lo = options_build(&names, &n_names, shorts);
	/* 0, not 1: glibc then forgets the permutation state of an earlier
	 * parse */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		/* an option the command does not take is refused as such,
		 * even with a missing or unexpected argument */
		id = options_id_of(c == '?' || c == ':' ? optopt : c);
		rc = OPTIONS_USAGE;
		if (id >= 0 && !options_takes(use, id)) {
			err_set(err, "option %s does not apply",
			    options_spell(spelled, id));
			break;
		}
		if (c == '?' || c == ':') {
			options_getopt_error(c, argc, argv, err);
			break;
		}
		if (id == OPT_HELP || id == OPT_VERSION) {
			rc = id == OPT_HELP ? OPTIONS_HELP : OPTIONS_VERSION;
			break;
		}
		if (options_apply(o, id, optarg, err) != 0)
			break;
		o->given |= OPTIONS_BIT(id);
		rc = OPTIONS_OK;
	}
	*optind_out = optind;
	for (size_t i = 0; i < n_names; i++)
		free(names[i]);
	free(names);
	free(lo);
	return rc;
}

/* Append text to b at column col, wrapped to 79 columns with hang. */
static void
options_wrap(struct buf *b, const char *text, int col, int hang)
{
	while (*text != '\0') {
		size_t w = strcspn(text, " ");

		if (col > hang && col + 1 + (int)w > 79) {
			buf_printf(b, "\n%*s", hang, "");
			col = hang;
		} else if (col > hang) {
			buf_puts(b, " ");
			col++;
		}
		buf_append(b, text, w);
		col += (int)w;
		text += w;
		text += strspn(text, " ");
	}
	buf_puts(b, "\n");
}

/* One option's entry in --help's list (see options_usage). */
static void
options_usage_one(struct buf *b, int id, const char *help_own,
    size_t *line, int *open)
{
	enum { HANG = 29 };
	struct options_def		 tmp;
	char				 buf[40], form[64];
	const struct options_def	*d = options_def(id, &tmp, buf);
	const char			*help = help_own ? help_own : d->help;

	snprintf(form, sizeof form, "%s%c%s%s%s%s%s",
	    d->short_name ? "-" : "", d->short_name ? d->short_name : '-',
	    d->short_name && d->name ? ", --" : d->short_name ? "" : "-",
	    d->name ? d->name : "", d->arg && d->arg[0] != '[' ? " " : "",
	    d->arg ? d->arg : "", help == NULL ? "," : "");
	if (!*open) {
		buf_puts(b, d->short_name ? "  " : "      ");
	} else if (b->len - *line + 1 + strlen(form) > 79) {
		buf_puts(b, "\n      ");
		*line = b->len - 6;
	} else {
		buf_puts(b, " ");
	}
	buf_puts(b, form);
	*open = help == NULL;
	if (*open)
		return;
	if (b->len - *line >= HANG)
		buf_printf(b, "\n%*s", HANG, "");
	else
		buf_printf(b, "%*s", HANG - (int)(b->len - *line), "");
	options_wrap(b, help, HANG, HANG);
	*line = b->len;
}

/*
 * Append --help's option list for use to b: one line per option, its
 * short and long forms and argument, then the help text wrapped at 79
 * columns.  An entry with no help text shares the next entry's line (the
 * shape flags).  { OPT_SETTING } lists every row of the settings table.
 */
void
options_usage(struct buf *b, const struct options_use *use)
{
	size_t	line = b->len;		/* where the current line starts */
	int	open = 0;		/* a line of options awaits its help */

	for (; use->id != OPT__N; use++) {
		if (use->id == OPT_GROUP) {
			buf_printf(b, "%s\n", use->help);
			line = b->len;
		} else if (use->id == OPT_SETTING) {
			for (size_t i = 0; i < sampler_n_settings; i++)
				options_usage_one(b, OPT_SETTING + (int)i,
				    NULL, &line, &open);
		} else {
			options_usage_one(b, use->id, use->help, &line, &open);
		}
	}
	if (open)
		buf_puts(b, "\n");
	/* every command takes these two */
	for (int id = OPT_HELP; id <= OPT_VERSION; id++)
		buf_printf(b, "  -%c, --%-20s %s\n", options_table[id].short_name,
		    options_table[id].name, options_table[id].help);
	buf_puts(b, "Long options also accept underscores (--top_p).\n");
}
