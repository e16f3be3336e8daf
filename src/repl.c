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
#include "record.h"
#include "sampler.h"
#include "ui.h"
#include "util.h"

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
repl_open_history(struct repl *st, const struct lm_options *o)
{
	struct err err;

	if (o->no_history)
		return;
	if ((st->res.hist = history_open(o->history, 0, &err)) == NULL) {
		cli_warn("history off: %s", err.msg);
		return;
	}
	if (cmd_session_begin(st, &err) != 0) {
		cli_warn("history off: %s", err.msg);
		history_close(st->res.hist);
		st->res.hist = NULL;
	}
}

/*
 * Settings the command line gave win over those a resumed story brings.
 */
static void
repl_keep_given(struct gen_settings *now, const struct lm_options *o)
{
	for (size_t i = 0; i < sampler_n_settings; i++)
		if (options_given(o, OPT_SETTING + (int)i))
			sampler_setting_store(&now->sp, &sampler_settings[i],
			    sampler_setting_get(&o->gen->sp,
			    &sampler_settings[i]));
	if (options_given(o, OPT_MAX_NEW))
		now->max_new_tokens = o->gen->max_new_tokens;
}

/* --resume [SESSION]: the story comes back before the first prompt; the
 * line on it goes to stderr (stdout is the story's in line mode). */
static int
repl_resume(struct repl *st, const struct lm_options *o)
{
	struct buf	out;
	struct err	err;
	int		rc;

	buf_init(&out);
	if ((rc = cmd_story_resume(st, o->resume_session, &out, &err)) != 0)
		cli_error("--resume: %s", err.msg);
	else {
		repl_keep_given(&st->next.gen, o);
		fputs(out.data, stderr);
	}
	buf_fini(&out);
	return rc;
}

/*
 * The REPL's main: exit status 0 after a normal quit (also when a command
 * failed on the way), 1 on a fatal error (the model cannot be loaded,
 * standard output cannot be written), 2 for bad usage.
 */
int
repl_main(int argc, char **argv)
{
	struct lm_options		 o;
	struct repl			 st;
	struct bpe			*bpe = NULL;
	struct lm_model			*model = NULL;
	struct gen_engine		*engine = NULL;
	struct err			 err;
	int				 rc, optind_;

	if ((rc = cli_parse(&cli_cmd_repl, &o, argc, argv, &optind_)) >= 0)
		return rc;
	/* --resume also takes its SESSION as the next word: an optional
	 * argument of getopt's is only ever --resume=SESSION */
	if (o.resume && o.resume_session == NULL && optind_ < argc)
		o.resume_session = argv[optind_++];
	if (optind_ < argc) {
		cli_error("unexpected argument '%s': type prompts, or pipe "
		    "them in", argv[optind_]);
		fputs("Try 'lmsh --help'.\n", stderr);
		options_fini(&o);
		return CLI_EXIT_USAGE;
	}
	cli_generation_defaults(&o);
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
	st.res.engine = engine;
	st.res.bpe = bpe;
	st.res.model = model;
	st.res.tokenizer = bpe;
	st.res.threads = o.threads;
	st.res.model_path = cli_model_path(&o);
	st.res.model_name = repl_model_name(st.res.model_path);
	st.res.n_ctx = model_config(model)->context_length;
	st.res.n_vocab = model_config(model)->vocab_size;
	if (!options_given(&o, OPT_EOS)) {
		st.next.gen.eos_id = bpe_token_id(bpe, "<|endoftext|>", 13);
		if (st.next.gen.eos_id >= st.res.n_vocab)
			st.next.gen.eos_id = -1;	/* a tokenizer bigger than
						   the model */
	}
	st.res.config_json = record_config_json(model);
	st.res.kernels = record_kernels(model);
	st.res.dtype = xstrdup(record_dtype(model));
	repl_open_history(&st, &o);
	if (o.resume && repl_resume(&st, &o) != 0)
		goto out;
	rc = -1;
	if (repl_use_curses(&o))
		rc = ui_run(&st);
	if (rc < 0)
		rc = repl_line_run(&st);
	if (st.res.hist != NULL &&
	    history_end_session(st.res.hist, st.res.session_id, &err) != 0)
		cli_warn("history: %s", err.msg);
out:
	if (st.res.engine != NULL) {
		/* /model may have replaced them */
		engine = st.res.engine;
		model = st.res.model;
		bpe = st.res.tokenizer;
	}
	history_close(st.res.hist);
	cmd_fini(&st);
	gen_engine_free(engine);
	model_close(model);
	bpe_free(bpe);
	log_close();
	options_fini(&o);
	return rc;
}
