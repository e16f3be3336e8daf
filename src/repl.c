/*
 * repl.c: `lmsh` with no subcommand.  Parses the options, loads the
 * tokenizer and the model, opens the history, and hands a struct repl to
 * one of two front ends: the curses screen (ui.c) when stdin and stdout
 * are terminals, else the line mode (repl_line.c).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpe.h"
#include "cli.h"
#include "commands.h"
#include "generate.h"
#include "history.h"
#include "model.h"
#include "options.h"
#include "ui.h"
#include "util.h"

const char repl_usage[] =
"usage: lmsh [options]\n"
"       lmsh COMMAND [options] ...\n"
"\n"
"Without a command: the REPL.  Type a prompt and watch the reply stream in;\n"
"/help lists commands and keys.  It runs in line mode (plain lines on stdin\n"
"and stdout) when either is not a terminal, TERM=dumb, or --plain.\n"
"\n"
"  -m, --model DIR            model directory (default $LMSH_MODEL, else\n"
"                             the bundled model)\n"
"      --checkpoint-path FILE CS336 checkpoint, with --config FILE or the\n"
"                             shape flags\n"
"      --vocab FILE --merges FILE, --tokenizer FILE\n"
"                             tokenizer (default: the model directory's)\n"
"  -t, --temperature T        0 is greedy (default 0.8)\n"
"  -p, --top-p P              nucleus mass kept (default 0.9)\n"
"      --top-k K, --min-p P   more filters (default off)\n"
"      --repeat-penalty R, --repeat-window N\n"
"  -s, --seed N               seed of every turn (default: a new one per\n"
"                             turn, recorded in the history)\n"
"      --max-new-tokens N     most tokens per reply (default 256)\n"
"      --stop TEXT            stop string, repeatable\n"
"      --mode continue|fresh  prompts continue the transcript, or start\n"
"                             afresh (default continue)\n"
"      --plain                line mode even on a terminal\n"
"      --raw                  replies to a terminal unescaped (line mode)\n"
"      --history PATH         history database; --no-history: none\n"
"      --threads N            CPU threads (default all)\n"
"  -v, --log FILE             debug log (-v: lmsh.log)\n"
"  -h, --help, -V, --version\n"
"\n"
"Long options also accept underscores: --top_p, --max_new_tokens.\n";

/* The last path component, for the status line. */
static char *
repl_model_name(const char *path)
{
	size_t		 len;
	const char	*slash;
	char		*s;

	if (path == NULL)
		return xstrdup("model");
	s = xstrdup(path);
	while ((len = strlen(s)) > 1 && s[len - 1] == '/')
		s[len - 1] = '\0';
	slash = strrchr(s, '/');
	if (slash != NULL && slash[1] != '\0') {
		char *t = xstrdup(slash + 1);

		free(s);
		s = t;
	}
	return s;
}

/* The curses screen needs both ends on a terminal that can address the
 * cursor. */
static int
repl_use_curses(const struct lm_options *o)
{
	const char *term = getenv("TERM");

	if (o->plain || !isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
		return 0;
	return term != NULL && *term != '\0' && strcmp(term, "dumb") != 0;
}

/* Open the history and begin a session; failure turns history off with a
 * warning rather than refusing to start. */
static void
repl_open_history(struct repl *st, const struct lm_options *o,
    const struct lm_config *cfg)
{
	struct history_session_info	 info;
	struct err			 err;
	char				*cj;

	if (o->no_history)
		return;
	if ((st->hist = history_open(o->history, 0, &err)) == NULL) {
		cli_warn("history off: %s", err.msg);
		return;
	}
	memset(&info, 0, sizeof info);
	info.lmsh_version = PACKAGE_VERSION;
	info.model_path = st->model_path;
	info.config_json = cj = history_config_json(cfg);
	st->session_id = history_begin_session(st->hist, &info, &err);
	free(cj);
	if (st->session_id <= 0) {
		cli_warn("history off: %s", err.msg);
		history_close(st->hist);
		st->hist = NULL;
		st->session_id = 0;
	}
}

/*
 * The REPL's main: exit status 0, 1 when the model cannot be loaded (or a
 * line-mode turn failed), 2 for bad usage.
 */
int
repl_main(int argc, char **argv)
{
	static const struct cli_command	 cmd = { NULL, NULL, "the REPL",
	    repl_usage };
	struct lm_options		 o;
	struct repl			 st;
	struct bpe			*bpe = NULL;
	struct lm_model			*model = NULL;
	struct gen_engine		*engine = NULL;
	struct err			 err;
	const char			*env;
	int				 rc, optind_;

	if ((rc = cli_parse(&cmd, &o, argc, argv, &optind_)) >= 0)
		return rc;
	if (optind_ < argc) {
		cli_error("unexpected argument '%s': type prompts, or pipe "
		    "them in", argv[optind_]);
		fputs("Try 'lmsh --help'.\n", stderr);
		return CLI_EXIT_USAGE;
	}
	cmd_init(&st, &o);
	rc = CLI_EXIT_ERROR;
	if ((bpe = cli_load_bpe(&o, 1)) == NULL ||
	    (model = cli_load_model(&o)) == NULL)
		goto out;
	cli_check_vocab(bpe, model);
	if ((engine = gen_engine_new(model, bpe, 1, &err)) == NULL) {
		cli_error("%s", err.msg);
		goto out;
	}
	st.engine = engine;
	st.bpe = bpe;
	st.model_path = cli_model_path(&o);
	st.model_name = repl_model_name(st.model_path);
	st.n_ctx = model_config(model)->context_length;
	st.n_vocab = model_config(model)->vocab_size;
	if ((env = getenv("LMSH_TEST_STEP_MS")) != NULL)
		st.step_delay_ms = atoi(env);
	if (!o.eos_set) {
		st.gen.eos_id = bpe_token_id(bpe, "<|endoftext|>", 13);
		if (st.gen.eos_id >= st.n_vocab)
			st.gen.eos_id = -1;	/* a tokenizer bigger than
						   the model */
	}
	repl_open_history(&st, &o, model_config(model));
	rc = -1;
	if (repl_use_curses(&o))
		rc = ui_run(&st);
	if (rc < 0)
		rc = repl_line_run(&st);
	if (st.hist != NULL &&
	    history_end_session(st.hist, st.session_id, &err) != 0)
		cli_warn("history: %s", err.msg);
out:
	history_close(st.hist);
	cmd_fini(&st);
	gen_engine_free(engine);
	model_close(model);
	bpe_free(bpe);
	log_close();
	return rc;
}
