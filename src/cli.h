#ifndef LMSH_CLI_H
#define LMSH_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct err;
struct lm_options;
struct options_use;
struct lm_model;
struct bpe;

/* A subcommand: main.c dispatches on name; each lives in its own cli_*.c. */
struct cli_command {
	const char	*name;		/* as typed: "generate" */
	int		(*run)(int argc, char **argv); /* exit status 0, 1 or 2 */
	const char	*summary;	/* one line for lmsh --help */
	const char	*usage;		/* lmsh CMD --help: usage lines and prose */
	const struct options_use *opts;	/* the options it takes, for the
					   parser and the rest of --help */
};

extern const struct cli_command cli_cmd_tokenize;
extern const struct cli_command cli_cmd_detokenize;
extern const struct cli_command cli_cmd_bpe_train;
extern const struct cli_command cli_cmd_generate;
extern const struct cli_command cli_cmd_eval;
extern const struct cli_command cli_cmd_convert;
extern const struct cli_command cli_cmd_bench;
extern const struct cli_command cli_cmd_history;
extern const struct cli_command cli_cmd_replay;

/* The REPL (repl.c): curses, or line mode when not on a terminal.  Its
 * options are cli_cmd_repl's (main.c). */
int	repl_main(int argc, char **argv);
extern const struct cli_command cli_cmd_repl;

/* Shared front-end helpers (cli_common.c).  Messages go to stderr. */
#define CLI_EXIT_OK	0
#define CLI_EXIT_ERROR	1
#define CLI_EXIT_USAGE	2

/* Parse options for cmd; returns -1 to continue (the caller ends with
 * options_fini), else an exit status. */
int	cli_parse(const struct cli_command *, struct lm_options *, int argc,
	    char **argv, int *optind_out);
/* The same, for commands with operands: options may stand anywhere among
 * them (getopt permutes argv); *ops gets a copy of the operand pointers
 * (caller frees the array, not the strings). */
int	cli_parse_ops(const struct cli_command *, struct lm_options *, int argc,
	    char **argv, char ***ops, int *n_ops);
/* Print cmd's --help: its usage text, then the options it takes. */
void	cli_usage(const struct cli_command *, FILE *);
void	cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The bundled model's directory (installed or in the build tree), or NULL. */
const char *cli_default_model(void);
/* Load the tokenizer named by the options (--tokenizer, --vocab/--merges, or
 * the model directory), with any --special-token added. */
struct bpe *cli_load_bpe(const struct lm_options *, int required);
/* Load the model named by the options (--model DIR, --checkpoint_path with
 * --config or shape flags, else the bundled model). */
struct lm_model *cli_load_model(const struct lm_options *);
/* Token ids written as text ("1, 2 3", "[1, 2]"), appended to *ids. */
int	cli_parse_ids(const char *, size_t, int32_t **ids, size_t *n,
	    size_t *cap, struct err *);
/* Warn when the tokenizer is smaller than the model's vocabulary. */
void	cli_check_vocab(const struct bpe *, const struct lm_model *);
/* The model path as a user would name it (for messages and history). */
const char *cli_model_path(const struct lm_options *);

#endif
