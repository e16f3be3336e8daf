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
#define LINE_BLOCK	"\"\"\""	/* opens and closes a multi-line prompt */
#define LINE_N_HISTORY	1000		/* earlier prompts readline gets */

static volatile sig_atomic_t line_sigint;	/* Ctrl-C not yet handled */

struct line_state {
	struct repl	*st;		/* the REPL */
	int		 tty_in;	/* stdin is a terminal: readline */
	int		 at_bol;	/* stdout's last byte was a newline */
	int		 failed;	/* a line failed: exit status 1 */
	int		 escape;	/* replies to a terminal: escaped */
	int		 out_errno;	/* stdout failed (full, closed, EPIPE) */
};

/* Note the first failure to write or flush stdout: it ends the REPL with
 * one line and status 1, never silently. */
static void
line_check_out(struct line_state *ls, int failed)
{
	if ((failed || ferror(stdout)) && ls->out_errno == 0)
		ls->out_errno = errno != 0 ? errno : EIO;
}

static volatile sig_atomic_t line_exit_sig;	/* SIGTERM or SIGHUP came */

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
	    memchr(line, '\0', (size_t)n) != NULL) {
		/* refused, not cut at the NUL: prompts are text lines */
		fprintf(stderr, "lmsh: a line with a NUL byte: skipped\n");
		ls->failed = 1;
	}
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

/* The text of a """ block that started with first (its opening line):
 * everything up to a line ending in """, joined with newlines. */
static char *
line_read_block(struct line_state *ls, const char *first)
{
	struct buf	 b;
	const char	*rest = first + strlen(LINE_BLOCK);
	char		*line;
	size_t		 q = strlen(LINE_BLOCK), n;

	buf_init(&b);
	buf_puts(&b, rest);
	if ((n = strlen(rest)) >= q && strcmp(rest + n - q, LINE_BLOCK) == 0) {
		b.data[b.len -= q] = '\0';
		return b.data;
	}
	while ((line = line_read(ls, "... ")) != NULL) {
		n = strlen(line);
		if (b.len > 0 || rest[0] != '\0')
			buf_puts(&b, "\n");
		if (n >= q && strcmp(line + n - q, LINE_BLOCK) == 0) {
			buf_append(&b, line, n - q);
			free(line);
			break;
		}
		buf_puts(&b, line);
		free(line);
	}
	if (b.data == NULL)
		buf_puts(&b, "");
	return b.data;
}

static void
line_on_token(void *arg, const struct gen_token *tok)
{
	struct line_state *ls = arg;

	if (tok->piece_len == 0)
		return;
	errno = 0;
	line_check_out(ls, util_write_text(stdout, tok->piece, tok->piece_len,
	    ls->escape) != 0 || fflush(stdout) != 0);
	ls->at_bol = tok->piece[tok->piece_len - 1] == '\n';
}

/* Errors and notes may quote a prompt or a file: controls are shown. */
static void
line_error(const char *msg)
{
	fputs("lmsh: ", stderr);
	util_write_text(stderr, msg, strlen(msg), 1);
	fputc('\n', stderr);
}

static void
line_notes(struct buf *note)
{
	if (note->len > 0)
		util_write_text(stderr, note->data, note->len, 1);
	note->len = 0;
	if (note->data != NULL)
		note->data[0] = '\0';
}

/* Run one turn: prompt NULL runs the turn /replay loaded. */
static void
line_turn(struct line_state *ls, const char *prompt)
{
	struct repl	*st = ls->st;
	struct buf	 note;
	struct err	 err;
	int		 rc;

	buf_init(&note);
	line_sigint = 0;
	if (cmd_turn_begin(st, prompt, &note, &err) != 0) {
		line_notes(&note);
		line_error(err.msg);
		ls->failed = 1;
		goto out;
	}
	line_notes(&note);
	ls->at_bol = 1;
	while ((rc = cmd_turn_step(st, line_on_token, ls, &err)) == 1)
		if (line_sigint || ls->out_errno) {
			line_sigint = 0;
			cmd_turn_interrupt(st);
		}
	log_debug("line: %d tokens, %.3f s wall from the first step, "
	    "%.3f s in decode", st->n_generated, util_now() - st->turn_t0,
	    gen_decode_seconds(st->sess));
	errno = 0;
	if (!ls->at_bol || st->n_generated == 0)
		fputc('\n', stdout);
	line_check_out(ls, fflush(stdout) != 0);
	if (gen_stop_reason(st->sess, 0) == GEN_STOP_INTERRUPTED &&
	    ls->out_errno == 0)
		fprintf(stderr, "[interrupted after %d tokens; kept]\n",
		    st->n_generated);
	if (rc < 0) {
		line_error(err.msg);
		ls->failed = 1;
	}
	if (cmd_turn_end(st, &note, &err) != 0) {
		line_error(err.msg);
		ls->failed = 1;
	}
	line_notes(&note);
out:
	buf_fini(&note);
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

	if (strncmp(line, LINE_BLOCK, strlen(LINE_BLOCK)) == 0) {
		text = line_read_block(ls, line);
		line = text;
	} else if (ls->tty_in && *line != '\0')
		add_history(line);
	buf_init(&out);
	switch (cmd_run(ls->st, text != NULL ? "" : line, &out, &err)) {
	case CMD_DONE:
	case CMD_CLEAR:
		break;
	case CMD_ERROR:
		line_error(err.msg);
		ls->failed = 1;
		break;
	case CMD_QUIT:
		quit = 1;
		break;
	case CMD_RUN:
		line_turn(ls, NULL);
		break;
	case CMD_PROMPT:
		line_turn(ls, text == NULL && line[0] == '/' ? line + 1 : line);
		break;
	}
	if (out.len > 0) {
		errno = 0;
		line_check_out(ls, fputs(out.data, stdout) == EOF ||
		    fflush(stdout) != 0);
	}
	buf_fini(&out);
	free(text);
	return quit;
}

/*
 * The line-mode REPL: read lines until end of input or /quit.  Returns 0,
 * or 1 when any command or turn failed (so scripts notice).
 */
int
repl_line_run(struct repl *st)
{
	struct line_state	 ls = { st, isatty(STDIN_FILENO), 1, 0,
	    util_escape_for(stdout, st->raw), 0 };
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
	while (!line_exit_sig && (line = line_read(&ls, LINE_PROMPT)) != NULL) {
		int quit = line_exit_sig ? 1 : line_handle(&ls, line);

		free(line);
		if (ls.out_errno != 0) {
			fprintf(stderr, "lmsh: standard output: %s\n",
			    strerror(ls.out_errno));
			ls.failed = 1;
			break;
		}
		if (quit)
			break;
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
