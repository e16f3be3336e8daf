/*
 * options.c: one struct lm_options for every subcommand, filled from the
 * defaults, the environment (LMSH_MODEL, LMSH_HISTORY, NO_COLOR is read by
 * the UI) and the command line.  The option table lists each long option
 * once in its GNU spelling; options_parse() also accepts the spelling with
 * underscores that the CS336 reference text uses (--top_p, --max_new_tokens).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "util.h"

enum {
	OPT_MODEL = 256, OPT_CHECKPOINT, OPT_CONFIG, OPT_VOCAB, OPT_MERGES,
	OPT_TOKENIZER, OPT_SPECIAL, OPT_THREADS, OPT_DEVICE,
	OPT_VOCAB_SIZE, OPT_CONTEXT_LENGTH, OPT_D_MODEL, OPT_NUM_LAYERS,
	OPT_NUM_HEADS, OPT_D_FF, OPT_ROPE_THETA,
	OPT_SEED, OPT_MAX_NEW, OPT_EOS, OPT_STOP,
	OPT_NUM_SAMPLES, OPT_PROMPT, OPT_PROMPT_TOKENS, OPT_PROMPT_FILE,
	OPT_OUTPUT, OPT_REPLACE_INVALID, OPT_HISTORY, OPT_NO_HISTORY,
	OPT_PLAIN, OPT_MODE, OPT_LOG, OPT_FORMAT, OPT_DTYPE, OPT_JSON,
	OPT_ALL, OPT_SESSION, OPT_TOKENS, OPT_DUMP_LOGITS, OPT_BATCH,
	OPT_QUICK, OPT_NO_PROGRESS, OPT_HELP, OPT_VERSION, OPT_PACE, OPT_PROBS,
	OPT_COLOR,
	OPT_SETTING = 1024	/* + row of sampler_settings */
};

struct options_def {
	const char	*name;		/* GNU spelling */
	int		 has_arg;	/* getopt's no_argument/required_argument */
	int		 code;		/* OPT_* */
};

/* --vocab-size is both the model's vocab_size and bpe-train's target.  The
 * sampling knobs are not here: options_build() adds a row of the
 * sampler's settings table (sampler.h) for each, as --top-p and --top_p. */
static const struct options_def options_table[] = {
	{ "model",		required_argument,	OPT_MODEL },
	{ "checkpoint-path",	required_argument,	OPT_CHECKPOINT },
	{ "checkpoint",		required_argument,	OPT_CHECKPOINT },
	{ "config",		required_argument,	OPT_CONFIG },
	{ "vocab",		required_argument,	OPT_VOCAB },
	{ "merges",		required_argument,	OPT_MERGES },
	{ "tokenizer",		required_argument,	OPT_TOKENIZER },
	{ "special-token",	required_argument,	OPT_SPECIAL },
	{ "threads",		required_argument,	OPT_THREADS },
	{ "device",		required_argument,	OPT_DEVICE },
	{ "vocab-size",		required_argument,	OPT_VOCAB_SIZE },
	{ "context-length",	required_argument,	OPT_CONTEXT_LENGTH },
	{ "d-model",		required_argument,	OPT_D_MODEL },
	{ "num-layers",		required_argument,	OPT_NUM_LAYERS },
	{ "num-heads",		required_argument,	OPT_NUM_HEADS },
	{ "d-ff",		required_argument,	OPT_D_FF },
	{ "rope-theta",		required_argument,	OPT_ROPE_THETA },
	{ "seed",		required_argument,	OPT_SEED },
	{ "max-new-tokens",	required_argument,	OPT_MAX_NEW },
	{ "eos-token-id",	required_argument,	OPT_EOS },
	{ "stop",		required_argument,	OPT_STOP },
	{ "num-samples",	required_argument,	OPT_NUM_SAMPLES },
	{ "prompt",		required_argument,	OPT_PROMPT },
	{ "prompt-tokens",	required_argument,	OPT_PROMPT_TOKENS },
	{ "prompt-file",	required_argument,	OPT_PROMPT_FILE },
	{ "output",		required_argument,	OPT_OUTPUT },
	{ "replace-invalid",	no_argument,		OPT_REPLACE_INVALID },
	{ "history",		required_argument,	OPT_HISTORY },
	{ "no-history",		no_argument,		OPT_NO_HISTORY },
	{ "plain",		no_argument,		OPT_PLAIN },
	{ "mode",		required_argument,	OPT_MODE },
	{ "log",		required_argument,	OPT_LOG },
	{ "format",		required_argument,	OPT_FORMAT },
	{ "output-dir",		required_argument,	'o' },
	{ "dtype",		required_argument,	OPT_DTYPE },
	{ "json",		no_argument,		OPT_JSON },
	{ "all",		no_argument,		OPT_ALL },
	{ "session",		required_argument,	OPT_SESSION },
	{ "tokens",		no_argument,		OPT_TOKENS },
	{ "dump-logits",	required_argument,	OPT_DUMP_LOGITS },
	{ "batch",		required_argument,	OPT_BATCH },
	{ "quick",		no_argument,		OPT_QUICK },
	{ "no-progress",	no_argument,		OPT_NO_PROGRESS },
	{ "pace",		required_argument,	OPT_PACE },
	{ "probs",		no_argument,		OPT_PROBS },
	{ "color",		no_argument,		OPT_COLOR },
	{ "help",		no_argument,		OPT_HELP },
	{ "version",		no_argument,		OPT_VERSION },
};
#define OPTIONS_N (sizeof options_table / sizeof options_table[0])

void
options_init(struct lm_options *o)
{
	const char *env;

	memset(o, 0, sizeof *o);
	sampler_params_default(&o->gen.sp);
	o->gen.seed = 0;
	o->gen.max_new_tokens = GEN_MAX_NEW_DEFAULT;
	o->gen.eos_id = -1;
	o->num_samples = 1;
	o->output = "text";
	o->mode = "continue";
	o->count = 20;
	o->pace = -1;
	if ((env = getenv("LMSH_MODEL")) != NULL && *env != '\0')
		o->model = env;
	if ((env = getenv("LMSH_HISTORY")) != NULL && *env != '\0')
		o->history = env;
}

static int
options_int(const char *name, const char *s, long lo, long hi, int *out)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi) {
		fprintf(stderr, "lmsh: --%s: '%s' is not an integer in "
		    "[%ld, %ld]\n", name, s, lo, hi);
		return -1;
	}
	*out = (int)v;
	return 0;
}

static int
options_float(const char *name, const char *s, double lo, double hi,
    float *out)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !isfinite(v) ||
	    v < lo || v > hi) {
		fprintf(stderr, "lmsh: --%s: '%s' is not a number in "
		    "[%g, %g]\n", name, s, lo, hi);
		return -1;
	}
	*out = (float)v;
	return 0;
}

static int
options_u64(const char *name, const char *s, uint64_t *out)
{
	char			*end;
	unsigned long long	 v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s == '\0' || *s == '-' || *end != '\0' || errno != 0) {
		fprintf(stderr, "lmsh: --%s: '%s' is not a non-negative "
		    "integer\n", name, s);
		return -1;
	}
	*out = (uint64_t)v;
	return 0;
}

static const char *
options_name(int code)
{
	if (code >= OPT_SETTING && (size_t)(code - OPT_SETTING) <
	    sampler_n_settings)
		return sampler_settings[code - OPT_SETTING].name;
	for (size_t i = 0; i < OPTIONS_N; i++)
		if (options_table[i].code == code)
			return options_table[i].name;
	return "?";
}

/* A sampling knob: its row parses and checks the value. */
static int
options_setting(struct lm_options *o, const struct sampler_setting *row,
    const char *a)
{
	struct err	err;
	double		v;

	if (sampler_setting_parse(row, a, &v, &err) != 0) {
		fprintf(stderr, "lmsh: --%s\n", err.msg);
		return -1;
	}
	return sampler_setting_put(&o->gen.sp, row, v, NULL);
}

/* Apply one option; -1 on a bad value (message printed). */
static int
options_apply(struct lm_options *o, int c, const char *a)
{
	const char		*nm = options_name(c);
	struct lm_config	*cfg = &o->src.cfg;

	if (c >= OPT_SETTING && (size_t)(c - OPT_SETTING) < sampler_n_settings)
		return options_setting(o, &sampler_settings[c - OPT_SETTING],
		    a);
	switch (c) {
	case OPT_MODEL:		o->model = a; return 0;
	case OPT_CHECKPOINT:	o->src.checkpoint = a; return 0;
	case OPT_CONFIG:	o->src.config_path = a; return 0;
	case OPT_VOCAB:		o->vocab = a; return 0;
	case OPT_MERGES:	o->merges = a; return 0;
	case OPT_TOKENIZER:	o->tokenizer = a; return 0;
	case OPT_SPECIAL:
		if (o->n_special == OPTIONS_MAX_SPECIAL) {
			fprintf(stderr, "lmsh: --special-token: at most %d\n",
			    OPTIONS_MAX_SPECIAL);
			return -1;
		}
		o->special[o->n_special++] = a;
		return 0;
	case OPT_THREADS:	return options_int(nm, a, 0, 1024, &o->threads);
	case OPT_DEVICE:	o->device = a; return 0;
	case OPT_VOCAB_SIZE:
		if (options_int(nm, a, 1, INT_MAX, &cfg->vocab_size) != 0)
			return -1;
		o->vocab_size = cfg->vocab_size;
		return 0;
	case OPT_CONTEXT_LENGTH:
		return options_int(nm, a, 1, 1 << 24, &cfg->context_length);
	case OPT_D_MODEL:	return options_int(nm, a, 1, 1 << 20, &cfg->d_model);
	case OPT_NUM_LAYERS:	return options_int(nm, a, 1, 4096, &cfg->num_layers);
	case OPT_NUM_HEADS:	return options_int(nm, a, 1, 4096, &cfg->num_heads);
	case OPT_D_FF:		return options_int(nm, a, 1, 1 << 22, &cfg->d_ff);
	case OPT_ROPE_THETA:
		return options_float(nm, a, 1e-6, 1e12, &cfg->rope_theta);
	case OPT_SEED:
		o->seed_set = 1;
		return options_u64(nm, a, &o->gen.seed);
	case OPT_MAX_NEW:
		return options_int(nm, a, GEN_MAX_NEW_MIN, GEN_MAX_NEW_MAX,
		    &o->gen.max_new_tokens);
	case OPT_EOS:
		o->eos_set = 1;
		return options_int(nm, a, -1, INT_MAX, &o->gen.eos_id);
	case OPT_STOP:
		if (o->gen.n_stop == GEN_MAX_STOP || *a == '\0') {
			fprintf(stderr, "lmsh: --stop: at most %d non-empty "
			    "strings\n", GEN_MAX_STOP);
			return -1;
		}
		o->gen.stop[o->gen.n_stop++] = a;
		return 0;
	case OPT_NUM_SAMPLES:
		return options_int(nm, a, 1, 4096, &o->num_samples);
	case OPT_PROMPT:	o->prompt = a; return 0;
	case OPT_PROMPT_TOKENS:	o->prompt_tokens = a; return 0;
	case OPT_PROMPT_FILE:	o->prompt_file = a; return 0;
	case OPT_OUTPUT:	o->output = a; return 0;
	case OPT_REPLACE_INVALID: o->replace_invalid = 1; return 0;
	case OPT_HISTORY:	o->history = a; o->no_history = 0; return 0;
	case OPT_NO_HISTORY:	o->no_history = 1; return 0;
	case OPT_PLAIN:		o->plain = 1; return 0;
	case OPT_MODE:
		if (strcmp(a, "continue") != 0 && strcmp(a, "fresh") != 0) {
			fprintf(stderr, "lmsh: --mode: '%s': expected continue "
			    "or fresh\n", a);
			return -1;
		}
		o->mode = a;
		return 0;
	case OPT_LOG:		o->log_path = a; return 0;
	case OPT_FORMAT:	o->format = a; return 0;
	case 'o':		o->out = a; return 0;
	case OPT_DTYPE:		o->dtype = a; return 0;
	case 'n':		return options_int("n", a, 0, INT_MAX, &o->count);
	case OPT_JSON:		o->json = 1; return 0;
	case OPT_ALL:		o->all = 1; return 0;
	case OPT_SESSION: {
		uint64_t v;
		if (options_u64(nm, a, &v) != 0)
			return -1;
		o->session = (int64_t)v;
		return 0;
	}
	case OPT_TOKENS:	o->tokens_input = 1; return 0;
	case OPT_DUMP_LOGITS:	o->dump_logits = a; return 0;
	case OPT_BATCH:		return options_int(nm, a, 1, 4096, &o->batch);
	case OPT_QUICK:		o->quick = 1; return 0;
	case OPT_NO_PROGRESS:	o->no_progress = 1; return 0;
	case OPT_PACE:		return options_float(nm, a, 0, 1e6, &o->pace);
	case OPT_PROBS:		o->probs = 1; return 0;
	case OPT_COLOR:		o->color = 1; return 0;
	case 'v':		o->log_path = "lmsh.log"; return 0;
	}
	return -1;
}

/*
 * Build getopt's table: every GNU name, plus its underscore twin where the
 * name has a dash.  The caller frees the table and the twin names.
 */
static struct option *
options_build(char ***names, size_t *n_names)
{
	size_t		 n_all = OPTIONS_N + sampler_n_settings;
	struct option	*lo = xcalloc(2 * n_all + 1, sizeof *lo);
	size_t		 n = 0;

	*names = xcalloc(2 * n_all, sizeof **names);
	*n_names = 0;
	/* the sampling knobs: --top_p as the table names them, and --top-p */
	for (size_t i = 0; i < sampler_n_settings; i++) {
		const char	*nm = sampler_settings[i].name;
		char		*gnu = xstrdup(nm);
		int		 code = OPT_SETTING + (int)i;

		for (char *p = gnu; *p != '\0'; p++)
			if (*p == '_')
				*p = '-';
		(*names)[(*n_names)++] = gnu;
		lo[n++] = (struct option){ gnu, required_argument, NULL, code };
		if (strcmp(gnu, nm) != 0)
			lo[n++] = (struct option){ nm, required_argument, NULL,
			    code };
	}
	for (size_t i = 0; i < OPTIONS_N; i++) {
		const struct options_def *d = &options_table[i];

		lo[n++] = (struct option){ d->name, d->has_arg, NULL, d->code };
		if (strchr(d->name, '-') == NULL)
			continue;
		char *twin = xstrdup(d->name);
		for (char *p = twin; *p != '\0'; p++)
			if (*p == '-')
				*p = '_';
		(*names)[(*n_names)++] = twin;
		lo[n++] = (struct option){ twin, d->has_arg, NULL, d->code };
	}
	return lo;
}

enum options_result
options_parse(struct lm_options *o, const char *cmd, int argc, char **argv,
    int *optind_out)
{
	struct option		*lo;
	char			**names;
	size_t			 n_names;
	enum options_result	 rc = OPTIONS_OK;
	int			 c;

	lo = options_build(&names, &n_names);
	/* 0, not 1: glibc then forgets the permutation state of an earlier
	 * parse (callers parse the same argv twice) */
	optind = 0;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "hVvn:o:t:p:s:m:", lo, NULL)) != -1) {
		if (c == 'h' || c == OPT_HELP) {
			rc = OPTIONS_HELP;
			break;
		}
		if (c == 'V' || c == OPT_VERSION) {
			printf("lmsh %s\n", PACKAGE_VERSION);
			rc = OPTIONS_EXIT_OK;
			break;
		}
		/* short forms of the most used knobs */
		if (c == 't' || c == 'p')
			c = OPT_SETTING + (int)(sampler_setting_find(c == 't' ?
			    "temperature" : "top_p") - sampler_settings);
		else if (c == 's')
			c = OPT_SEED;
		else if (c == 'm')
			c = OPT_MODEL;
		if (c == '?' || options_apply(o, c, optarg) != 0) {
			fprintf(stderr, "Try 'lmsh%s%s --help'.\n",
			    cmd ? " " : "", cmd ? cmd : "");
			rc = OPTIONS_USAGE;
			break;
		}
	}
	if (rc == OPTIONS_OK && o->device != NULL &&
	    strcmp(o->device, "cpu") != 0) {
		fprintf(stderr, "lmsh: --device %s: lmsh runs on the CPU only; "
		    "use --device cpu\n", o->device);
		rc = OPTIONS_USAGE;
	}
	*optind_out = optind;
	for (size_t i = 0; i < n_names; i++)
		free(names[i]);
	free(names);
	free(lo);
	return rc;
}
