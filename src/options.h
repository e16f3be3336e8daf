#ifndef LMSH_OPTIONS_H
#define LMSH_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "generate.h"
#include "model.h"
#include "sampler.h"

#define OPTIONS_MAX_SPECIAL	16

/*
 * Every option of every subcommand, filled from defaults, then the
 * environment, then the command line.  Each long option is accepted in two
 * spellings: GNU (--top-p) and the reference text's (--top_p).
 */
struct lm_options {
	/* model and tokenizer */
	const char		*model;		/* --model DIR */
	struct lm_model_source	 src;		/* --checkpoint_path, --config, shape flags */
	const char		*vocab;		/* --vocab vocab.json */
	const char		*merges;	/* --merges merges.txt */
	const char		*tokenizer;	/* --tokenizer tokenizer.json */
	const char		*special[OPTIONS_MAX_SPECIAL]; /* --special-token */
	int			 n_special;
	int			 threads;	/* --threads; 0 = all cores */
	const char		*device;	/* --device; only "cpu" */

	/* sampling and generation */
	struct gen_settings	 gen;		/* sampler params, seed, max, eos, stops */
	int			 seed_set;	/* --seed given */
	int			 eos_set;	/* --eos-token-id given */
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
	int			 color;		/* --color (history show) */

	/* history */
	const char		*history;	/* --history PATH */
	int			 no_history;	/* --no-history */

	/* front end */
	int			 plain;		/* --plain: line-mode REPL */
	const char		*mode;		/* --mode continue|fresh */
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
	int			 batch;		/* --batch (bench) */
	int			 quick;		/* --quick (bench) */
	int			 no_progress;	/* --no-progress */
};

enum options_result {
	OPTIONS_OK = 0,
	OPTIONS_HELP,		/* --help: the caller prints usage */
	OPTIONS_EXIT_OK,	/* --version printed */
	OPTIONS_USAGE		/* bad usage, message printed */
};

void	options_init(struct lm_options *);
/* Parse argv for subcommand cmd (NULL for the REPL).  On return *optind_out
 * indexes the first operand. */
enum options_result options_parse(struct lm_options *, const char *cmd,
	    int argc, char **argv, int *optind_out);

#endif
