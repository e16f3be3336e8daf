#ifndef LMSH_OPTIONS_H
#define LMSH_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct err;
struct gen_settings;
struct lm_model_source;

#define OPTIONS_MAX_SPECIAL	16

/* Room for the rows of the sampler's settings table (sampler.h). */
#define OPTIONS_MAX_SETTINGS	12

/*
 * Every option lmsh knows; each subcommand takes a subset (options_use).
 * The groups are ranges that options.c dispatches on: a new option goes
 * into its group (a model option before OPT_SETTING, a stopping one before
 * OPT_PROMPT).  The sampling knobs are not listed: option OPT_SETTING + i
 * is row i of sampler_settings, named and checked by that row.
 */
enum options_id {
	/* model and tokenizer */
	OPT_MODEL, OPT_CHECKPOINT, OPT_CONFIG, OPT_VOCAB_SIZE,
	OPT_CONTEXT_LENGTH, OPT_D_MODEL, OPT_NUM_LAYERS, OPT_NUM_HEADS,
	OPT_D_FF, OPT_ROPE_THETA, OPT_VOCAB, OPT_MERGES, OPT_TOKENIZER,
	OPT_SPECIAL, OPT_THREADS, OPT_DEVICE,
	/* sampling and stopping */
	OPT_SETTING, OPT_SETTING_END = OPT_SETTING + OPTIONS_MAX_SETTINGS,
	OPT_SEED = OPT_SETTING_END, OPT_MAX_NEW, OPT_EOS, OPT_STOP,
	/* input and output */
	OPT_PROMPT, OPT_PROMPT_TOKENS, OPT_PROMPT_FILE, OPT_REPLACE_INVALID,
	OPT_NUM_SAMPLES, OPT_OUTPUT, OPT_HISTORY, OPT_NO_HISTORY, OPT_PLAIN,
	OPT_MODE, OPT_KEEP, OPT_SHIFT, OPT_NO_SCROLLBACK, OPT_RESUME,
	OPT_PACE, OPT_PROBS,
	/* subcommand specific */
	OPT_FORMAT, OPT_OUTPUT_DIR, OPT_DTYPE, OPT_COUNT, OPT_SESSION,
	OPT_JSON, OPT_ALL, OPT_TOKENS, OPT_DUMP_LOGITS, OPT_QUICK,
	OPT_NO_PROGRESS, OPT_COLOR, OPT_RAW,
	/* every subcommand */
	OPT_LOG, OPT_HELP, OPT_VERSION,
	OPT__N
};

/* One bit per enum options_id in lm_options.given. */
#define OPTIONS_BIT(id)		((uint64_t)1 << (id))

/*
 * An option a subcommand takes, with the --help text it shows there (NULL:
 * the table's).  OPT_GROUP starts a heading; OPT__N ends the list.  Every
 * command takes --help and --version without listing them.
 */
#define OPT_GROUP	(-1)
struct options_use {
	int		 id;		/* enum options_id, OPT_GROUP or OPT__N */
	const char	*help;		/* overrides the table's help text */
};

/* The option groups several commands take, for options_use lists. */
#define OPTIONS_USE_SHAPE \
	{ OPT_VOCAB_SIZE, NULL }, { OPT_CONTEXT_LENGTH, NULL }, \
	{ OPT_D_MODEL, NULL }, { OPT_NUM_LAYERS, NULL }, \
	{ OPT_NUM_HEADS, NULL }, { OPT_D_FF, NULL }, { OPT_ROPE_THETA, NULL }
#define OPTIONS_USE_MODEL \
	{ OPT_CHECKPOINT, NULL }, { OPT_CONFIG, NULL }, OPTIONS_USE_SHAPE, \
	{ OPT_VOCAB, NULL }, { OPT_MERGES, NULL }, { OPT_TOKENIZER, NULL }, \
	{ OPT_SPECIAL, NULL }
/* { OPT_SETTING, NULL } in a list stands for every row of the sampler's
 * settings table. */
#define OPTIONS_USE_SAMPLING \
	{ OPT_SETTING, NULL }

/*
 * Every option of every subcommand, filled from defaults, then the
 * environment, then the command line.  Each long option is accepted in two
 * spellings: GNU (--top-p) and the reference text's (--top_p).
 */
struct lm_options {
	uint64_t		 given;		/* OPTIONS_BIT of each option on argv */

	/* model and tokenizer */
	const char		*model;		/* --model DIR */
	struct lm_model_source	*src;		/* --checkpoint_path, --config, shape
						   flags (owned) */
	const char		*vocab;		/* --vocab vocab.json */
	const char		*merges;	/* --merges merges.txt */
	const char		*tokenizer;	/* --tokenizer tokenizer.json */
	const char		*special[OPTIONS_MAX_SPECIAL]; /* --special-token */
	int			 n_special;
	int			 threads;	/* --threads; 0 = all cores */
	const char		*device;	/* --device; only "cpu" */

	/* sampling and generation */
	struct gen_settings	*gen;		/* sampler params, seed, max, eos,
						   stops (owned) */
	int			 num_samples;	/* --num-samples */
	const char		*prompt;	/* --prompt TEXT */
	const char		*prompt_tokens;	/* --prompt-tokens "1,2,3" */
	const char		*prompt_file;	/* --prompt-file FILE */
	const char		*output;	/* --output text|ids|jsonl */
	int			 replace_invalid; /* --replace-invalid: U+FFFD */
	float			 pace;		/* --pace: most tokens/s shown;
						   0 full speed, -1 the front
						   end's default */
	int			 probs;		/* --probs (jsonl output) */
	int			 raw;		/* --raw: text to a terminal
						 * unescaped */

	/* history */
	const char		*history;	/* --history PATH */
	int			 no_history;	/* --no-history */

	/* front end */
	int			 plain;		/* --plain: line-mode REPL */
	const char		*mode;		/* --mode continue|fresh */
	int			 keep;		/* --keep N pinned tokens; -1:
						   the first prompt */
	float			 shift;		/* --shift: share of the unpinned
						   context a full one drops */
	int			 no_scrollback;	/* --no-scrollback */
	int			 resume;	/* --resume[=SESSION] given */
	const char		*resume_session; /* its id or name (=SESSION,
						   or the operand after it),
						   or NULL: the latest */
	const char		*log_path;	/* -v / --log FILE */

	/* subcommand specific */
	const char		*format;	/* --format */
	const char		*out;		/* -o / --output-dir */
	const char		*dtype;		/* --dtype f32|bf16|f16 */
	int			 count;		/* -n N */
	int			 json;		/* --json */
	int			 all;		/* --all */
	int64_t			 session;	/* --session ID */
	int			 tokens_input;	/* --tokens */
	const char		*dump_logits;	/* --dump-logits FILE.npy */
	int			 vocab_size;	/* --vocab-size (bpe-train) */
	int			 quick;		/* --quick (bench) */
	int			 no_progress;	/* --no-progress */
	int			 color;		/* --color (history show) */
};

enum options_result {
	OPTIONS_OK = 0,
	OPTIONS_HELP,		/* --help: the caller prints usage */
	OPTIONS_VERSION,	/* --version: the caller prints the version */
	OPTIONS_USAGE		/* bad usage, the message in err */
};

/* Defaults and environment; options_fini() frees (and may be repeated). */
void	options_init(struct lm_options *);
void	options_fini(struct lm_options *);
/* Parse argv against the options a subcommand takes.  On return
 * *optind_out indexes the first operand. */
enum options_result options_parse(struct lm_options *,
	    const struct options_use *, int argc, char **argv,
	    int *optind_out, struct err *);
int	options_given(const struct lm_options *, enum options_id);
/* Append the option list of --help to b. */
void	options_usage(struct buf *, const struct options_use *);

#endif
