/*
 * repl_line.c: the REPL without curses, for pipes, files and dumb
 * terminals.  Each input line is a prompt or a slash command, as on the
 * screen; a block between lines of """ is one multi-line prompt.  Replies
 * stream to stdout as they are sampled, each ended by a newline; command
 * output goes to stdout, errors and notices to stderr.  When stdin is a
 * terminal the line is read with readline, whose up-arrow walks the
 * prompts of the history database; otherwise lines are read plainly.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "commands.h"
#include "util.h"

#define LINE_PROMPT	"> "
#define LINE_N_HISTORY	1000		/* earlier prompts readline gets */

static volatile sig_atomic_t line_sigint;	/* Ctrl-C not yet handled */

struct line_state {
	struct repl	*st;		/* the REPL */
	int		 tty_in;	/* stdin is a terminal: readline */
	int		 at_bol;	/* stdout's last byte was a newline */
	int		 failed;	/* stdout failed: exit status 1 */
	struct cmd_block block;		/* a """ block being read */
	int		 replied;	/* the turn handed out a token */
	int		 escape;	/* replies to a terminal: escaped */
	int		 tty_out;	/* stdout is a terminal: /color shows */
	int		 out_errno;	/* stdout failed (full, closed, EPIPE) */
};

static volatile sig_atomic_t line_exit_sig;	/* SIGTERM or SIGHUP came */

/* Note the first failure to write or flush stdout: it ends the REPL with
 * one line and status 1, never silently. */
static void
line_check_out(struct line_state *ls, int failed)
{
	if ((failed || ferror(stdout)) && ls->out_errno == 0)
		ls->out_errno = errno != 0 ? errno : EIO;
}

static void
line_on_sigint(int sig)
{
	(void)sig;
	line_sigint = 1;
}

/* SIGTERM and SIGHUP (a timeout wrapper, a closed terminal) stop a reply
 * as Ctrl-C does, so that it is recorded as interrupted; then the REPL
 * ends with status 128 + the signal. */
static void
line_on_term(int sig)
{
	line_exit_sig = sig;
	line_sigint = 1;
}

/* Readline calls this when a read is interrupted by a signal: Ctrl-C at
 * the prompt clears the line, or says how to quit if it is empty. */
static int
line_rl_signal(void)
{
	if (line_exit_sig) {
		rl_done = 1;		/* readline restores the terminal */
		return 0;
	}
	if (!line_sigint)
		return 0;
	line_sigint = 0;
	if (rl_end == 0)
		fputs("\n(type /quit or press Ctrl-D to quit)\n", rl_outstream);
	else
		fputs("^C\n", rl_outstream);
	rl_replace_line("", 0);
	rl_on_new_line();
	rl_redisplay();
	return 0;
}

static char **
line_complete(const char *text, int start, int end)
{
	(void)end;
	if (start == 0 && text[0] == '/') {
		rl_attempted_completion_over = 1;
		return rl_completion_matches(text, cmd_complete);
	}
	return NULL;	/* readline's file-name completion */
}

static void
line_add_history(void *arg, const char *prompt)
{
	(void)arg;
	add_history(prompt);
}

/* One input line without its newline, or NULL at end of input; caller
 * frees. */
static char *
line_read(struct line_state *ls, const char *prompt)
{
	char	*line = NULL;
	size_t	 cap = 0;
	ssize_t	 n;

	if (ls->tty_in)
		return readline(prompt);
	while ((n = getline(&line, &cap, stdin)) >= 0 &&
	    memchr(line, '\0', (size_t)n) != NULL)
		/* refused, not cut at the NUL: prompts are text lines */
		fputs("lmsh: a line with a NUL byte: skipped\n", stderr);
	if (n < 0) {
		free(line);
		return NULL;
	}
	if (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	if (n > 0 && line[n - 1] == '\r')
		line[--n] = '\0';
	return line;
}

/* The sink of a turn: the reply streams to stdout, ended by a newline;
 * notices and errors go to stderr; Ctrl-C stops the turn. */
static void
line_on_token(void *arg, const struct gen_token *tok)
{
	struct line_state *ls = arg;

	const char *sgr = "";

	ls->replied = 1;
	errno = 0;
	/* /color on a terminal: the band's SGR around the piece (never into a
	 * pipe or a file, whose bytes stay exact) */
	if (ls->st->view.color && ls->tty_out && tok->piece_len > 0)
		sgr = cmd_band_sgr(cmd_band(tok->prob));
	if (tok->piece_len > 0) {
		line_check_out(ls, fputs(sgr, stdout) == EOF ||
		    util_write_text(stdout, tok->piece, tok->piece_len,
		    ls->escape) != 0 || (*sgr != '\0' &&
		    fputs("\033[0m", stdout) == EOF));
		ls->at_bol = tok->piece[tok->piece_len - 1] == '\n';
	}
	if (tok->stop != GEN_RUNNING && !ls->at_bol) {
		line_check_out(ls, fputc('\n', stdout) == EOF);
		ls->at_bol = 1;
	}
	line_check_out(ls, fflush(stdout) != 0);
}

/* Errors and notes may quote a prompt or a file: controls are shown. */
static void
line_on_note(void *arg, const char *line, int error)
{
	const struct line_state *ls = arg;

	/* once stdout failed, its one line is all there is to say */
	if (ls->out_errno != 0 && !error)
		return;
	if (error)
		fputs("lmsh: ", stderr);
	util_write_text(stderr, line, strlen(line), 1);
	fputc('\n', stderr);
}

/* Stop the turn on Ctrl-C, SIGTERM or SIGHUP, or when stdout failed. */
static int
line_poll(void *arg)
{
	struct line_state *ls = arg;

	if (!line_sigint && ls->out_errno == 0)
		return 0;
	line_sigint = 0;
	return 1;
}

static void
line_on_progress(void *arg, size_t done, size_t total)
{
	(void)arg;
	fprintf(stderr, "rebuilding the context: %zu of %zu tokens\n", done,
	    total);
}

/* A resumed story's context is prefilled before the next line. */
static void
line_prefill(struct line_state *ls)
{
	const struct cmd_sink sink = { line_on_token, line_on_note,
	    line_poll, ls, line_on_progress };

	line_sigint = 0;
	cmd_story_prefill(ls->st, &sink);
}

/* Run one turn: prompt NULL runs the turn /replay loaded. */
static void
line_turn(struct line_state *ls, const char *prompt)
{
	const struct cmd_sink sink = { line_on_token, line_on_note,
	    line_poll, ls, NULL };

	int rc;

	line_sigint = 0;
	ls->at_bol = 0;
	ls->replied = 0;
	rc = cmd_turn_run(ls->st, prompt, &sink);
	/* a turn that ran is one line or more, even with no token */
	errno = 0;
	if (!ls->at_bol && (ls->replied || rc == 0))
		line_check_out(ls, fputc('\n', stdout) == EOF);
	line_check_out(ls, fflush(stdout) != 0);
}

/* One input line: a command, a """ block or a prompt.  Returns 0 to go
 * on, 1 after /quit. */
static int
line_handle(struct line_state *ls, char *line)
{
	struct buf	 out;
	struct err	 err;
	char		*text = NULL;
	int		 quit = 0;

	switch (cmd_block_line(&ls->block, line, &text)) {
	case 1:
		return 0;
	case 2:
		line = text;
		break;
	default:
		if (ls->tty_in && *line != '\0')
			add_history(line);
	}
	buf_init(&out);
	switch (cmd_run(ls->st, text != NULL ? "" : line, &out, &err)) {
	case CMD_DONE:
	case CMD_CLEAR:
	case CMD_REDRAW:
		break;
	case CMD_ERROR:
		line_on_note(ls, err.msg, 1);
		break;
	case CMD_QUIT:
		quit = 1;
		break;
	case CMD_RUN:
		line_turn(ls, NULL);
		break;
	case CMD_EDIT:
		/* the next line replaces the last turn's prompt */
		buf_puts(&out, "\n");
		break;
	case CMD_PROMPT:
		cmd_story_take_edit(ls->st);
		line_turn(ls, text == NULL && line[0] == '/' ? line + 1 : line);
		break;
	}
	errno = 0;
	if (out.len > 0)
		line_check_out(ls, fputs(out.data, stdout) == EOF);
	/* a story redrawn (/branches ID) ends its line */
	if (out.len > 0 && out.data[out.len - 1] != '\n')
		line_check_out(ls, fputc('\n', stdout) == EOF);
	line_check_out(ls, fflush(stdout) != 0);
	buf_fini(&out);
	if (ls->st->story.need_prefill)
		line_prefill(ls);
	free(text);
	return quit;
}

/*
 * The line-mode REPL: read lines until end of input or /quit.  Returns 0
 * after a normal end, even if a command failed on the way (its error went
 * to stderr); 1 when standard output could not be written (full, closed,
 * EPIPE), as the curses REPL does; 128 + the signal after SIGTERM or
 * SIGHUP, once the reply being written was recorded as interrupted.
 */
int
repl_line_run(struct repl *st)
{
	struct line_state	 ls = { .st = st, .tty_in = isatty(STDIN_FILENO),
	    .at_bol = 1, .escape = util_escape_for(stdout, st->next.raw),
	    .tty_out = isatty(STDOUT_FILENO) };
	struct sigaction	 sa, old, old_term, old_hup;
	struct err		 err;
	char			*line = NULL;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = line_on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old);	/* no SA_RESTART: reads see EINTR */
	sa.sa_handler = line_on_term;
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	if (ls.tty_in) {
		rl_readline_name = "lmsh";
		rl_catch_signals = 0;
		rl_signal_event_hook = line_rl_signal;
		rl_attempted_completion_function = line_complete;
		if (!isatty(STDOUT_FILENO))
			rl_outstream = stderr;
		if (cmd_history_prompts(st, LINE_N_HISTORY, line_add_history,
		    NULL, &err) != 0)
			fprintf(stderr, "lmsh: history: %s\n", err.msg);
	}
	line_prefill(&ls);
	while (!line_exit_sig && ls.out_errno == 0 && (line = line_read(&ls,
	    ls.block.open ? "... " : LINE_PROMPT)) != NULL) {
		int quit = line_exit_sig ? 1 : line_handle(&ls, line);

		free(line);
		if (quit)
			break;
	}
	/* the end of input closes a block */
	if (line == NULL && ls.block.open && !line_exit_sig &&
	    ls.out_errno == 0)
		line_handle(&ls, CMD_BLOCK);
	if (ls.out_errno != 0) {
		fprintf(stderr, "lmsh: standard output: %s\n",
		    strerror(ls.out_errno));
		ls.failed = 1;
	}
	if ((line == NULL || line_exit_sig) && ls.tty_in)
		fputc('\n', rl_outstream);
	sigaction(SIGINT, &old, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	if (line_exit_sig)
		return 128 + line_exit_sig;
	return ls.failed ? 1 : 0;
}
