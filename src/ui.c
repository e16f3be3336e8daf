/*
 * ui.c: the curses REPL; with ui_draw.c, the only user of curses.
 *
 * Screen, top to bottom: the transcript (with the candidate panel on its
 * right on wide terminals, under it on narrow ones), a message row (errors,
 * notices, key hints), the status bar, and the input line, which GNU
 * Readline edits through its callback interface: we read keys with curses,
 * queue their bytes, feed readline from the queue (rl_getc_function) and
 * draw its line ourselves (rl_redisplay_function).
 *
 * The transcript model and the drawing live in ui_draw.c; this file has
 * the loop, the keys, the readline glue and the turns.
 *
 * The loop is single-threaded and cooperative: decode one step, drain the
 * keyboard without blocking, and redraw at most UI_FPS times a second
 * (curses sends only the cells that changed, so nothing flickers).
 */
#include "config.h"

#include <curses.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "bpe.h"
#include "commands.h"
#include "sampler.h"
#include "ui.h"
#include "util.h"
#include "ui_int.h"

/* Readline's hooks take no argument, and signal handlers must find the
 * screen to restore it: the one running UI. */
static struct ui		*ui_cur;
static volatile sig_atomic_t	 ui_curses_on;
static volatile sig_atomic_t	 ui_exit_sig;	/* SIGTERM or SIGHUP came */

/* Terminal restoration, on every path out. */

static void
ui_restore(void)
{
	if (ui_curses_on) {
		ui_curses_on = 0;
		endwin();
	}
}

static void
ui_on_fatal_signal(int sig)
{
	ui_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* SIGTERM and SIGHUP (a timeout wrapper, a closed terminal window) end
 * lmsh as Ctrl-C then /quit would: a reply is stopped and recorded as
 * interrupted, the terminal restored, and the exit status is 128 + sig. */
static void
ui_on_term(int sig)
{
	ui_exit_sig = sig;
	if (ui_cur != NULL)
		ui_cur->quit = 1;
}

static void
ui_install_signals(void)
{
	static const int sigs[] = { SIGQUIT, SIGSEGV, SIGBUS, SIGFPE, SIGILL,
	    SIGABRT };
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = ui_on_fatal_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESETHAND;
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);
	sa.sa_handler = ui_on_term;	/* no SA_RESTART: wgetch() returns */
	sa.sa_flags = 0;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	util_set_fatal_hook(ui_restore);
	atexit(ui_restore);
}

/*
 * Whether the terminal has gone: its pty closed (a terminal window or a
 * tmux pane killed) without a SIGHUP reaching us, which the kernel sends
 * only to the session leader.  Every read then fails at once.
 */
static int
ui_tty_gone(void)
{
	struct pollfd p = { STDIN_FILENO, POLLIN, 0 };

	return poll(&p, 1, 0) == 1 &&
	    (p.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0;
}

/*
 * wgetch() for every loop that reads keys.  A read that fails because the
 * terminal is gone ends lmsh as SIGHUP does (a running reply is stopped
 * and recorded, the exit status is 128 + SIGHUP); waiting for keys again
 * would spin.
 */
static int
ui_getch(struct ui *u)
{
	int c = wgetch(u->iw);

	if (c == ERR && !u->hung_up && ui_tty_gone()) {
		u->hung_up = 1;
		u->quit = 1;
		if (ui_exit_sig == 0)
			ui_exit_sig = SIGHUP;
	}
	return c;
}

/* Readline, fed from our key queue. */

static void
ui_keyq_push(struct ui *u, const char *bytes, size_t n)
{
	for (size_t i = 0; i < n && u->kq_len < UI_KEYQ_CAP; i++)
		u->keyq[(u->kq_head + u->kq_len++) % UI_KEYQ_CAP] =
		    (unsigned char)bytes[i];
}

static void	ui_key(struct ui *, int);

static int
ui_rl_getc(FILE *f)
{
	struct ui	*u = ui_cur;
	int		 c;

	(void)f;
	/* readline wants more of a sequence than was queued: wait for it */
	while (u->kq_len == 0 && !u->quit) {
		wtimeout(u->iw, -1);
		if ((c = ui_getch(u)) != ERR)
			ui_key(u, c);
	}
	if (u->kq_len == 0)
		return '\n';
	c = u->keyq[u->kq_head];
	u->kq_head = (u->kq_head + 1) % UI_KEYQ_CAP;
	u->kq_len--;
	return c;
}

static int
ui_rl_input_available(void)
{
	return ui_cur != NULL && ui_cur->kq_len > 0;
}

static void
ui_rl_redisplay(void)
{
	struct ui *u = ui_cur;

	if (u == NULL || u->too_small || u->iw == NULL)
		return;
	ui_draw_input(u);
	doupdate();
}

static void
ui_rl_line(char *line)
{
	struct ui *u = ui_cur;

	u->line = line;
	u->got_line = 1;
}

/* Alt-Enter: a newline inside the prompt. */
static int
ui_rl_newline(int count, int key)
{
	(void)count; (void)key;
	rl_insert_text("\n");
	return 0;
}

static char **
ui_rl_complete(const char *text, int start, int end)
{
	(void)end;
	if (start == 0 && text[0] == '/') {
		rl_attempted_completion_over = 1;
		return rl_completion_matches(text, cmd_complete);
	}
	return NULL;
}

/* Readline would print the list of completions; show it in the message
 * row instead. */
static void
ui_rl_show_matches(char **matches, int n, int max_len)
{
	struct ui	*u = ui_cur;
	struct buf	 b;

	(void)max_len;
	buf_init(&b);
	for (int i = 1; i <= n; i++)
		buf_printf(&b, "%s%s", i > 1 ? "  " : "", matches[i]);
	ui_message(u, 0, "%s", b.data != NULL ? b.data : "");
	buf_fini(&b);
	ui_render(u, 0);
}

static void
ui_prompt_history(void *arg, const char *prompt)
{
	(void)arg;
	add_history(prompt);
}

static void
ui_rl_init(struct ui *u)
{
	struct err err;

	rl_readline_name = "lmsh";
	rl_catch_signals = 0;
	rl_catch_sigwinch = 0;
	rl_change_environment = 0;
	rl_prep_term_function = NULL;
	rl_deprep_term_function = NULL;
	u->devnull = fopen("/dev/null", "w");
	rl_outstream = u->devnull;
	rl_getc_function = ui_rl_getc;
	rl_input_available_hook = ui_rl_input_available;
	rl_redisplay_function = ui_rl_redisplay;
	rl_attempted_completion_function = ui_rl_complete;
	rl_completion_display_matches_hook = ui_rl_show_matches;
	rl_variable_bind("bell-style", "none");
	rl_add_defun("lmsh-newline", ui_rl_newline, -1);
	rl_bind_keyseq("\\e\\r", ui_rl_newline);
	rl_bind_keyseq("\\e\\n", ui_rl_newline);
	rl_bind_keyseq("\\e[3~", rl_delete);
	if (cmd_history_prompts(u->st, UI_N_HISTORY, ui_prompt_history, NULL,
	    &err) != 0)
		ui_message(u, 1, "history: %s", err.msg);
	using_history();
	rl_callback_handler_install("> ", ui_rl_line);
}

static void
ui_rl_fini(struct ui *u)
{
	rl_callback_handler_remove();
	if (u->devnull != NULL)
		fclose(u->devnull);
	rl_outstream = NULL;
}

/* Keys. */

static void
ui_scroll(struct ui *u, long rows)
{
	long max = (long)u->total_rows - u->tw_rows;
	long s = (long)u->scroll + rows;

	if (s > max)
		s = max;
	if (s < 0)
		s = 0;
	u->scroll = (size_t)s;
}

/* A live key turns the knob called name one step (dir +1 or -1). */
static void
ui_knob(struct ui *u, const char *name, int dir)
{
	const struct sampler_setting	*row = sampler_setting_find(name);
	struct err			 err;
	char				 v[32];

	if (cmd_adjust(u->st, name, dir, &err) != 0)
		ui_message(u, 1, "%s", err.msg);
	else if (u->generating && row != NULL) {
		snprintf(v, sizeof v, row->fmt,
		    sampler_setting_get(&u->st->next.gen.sp, row));
		ui_message(u, 0, "%s %s from token %d", row->name, v,
		    u->st->turn.step);
	}
}

static void
ui_toggle_panel(struct ui *u)
{
	u->panel = !u->panel;
	ui_relayout(u);
}

static void
ui_suspend(struct ui *u)
{
	struct sigaction sa, old;

	endwin();
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTSTP, &sa, &old);
	kill(0, SIGTSTP);
	/* fg: we run again */
	sigaction(SIGTSTP, &old, NULL);
	refresh();
	ui_relayout(u);
}

/* Keys that act the same while idle and while generating. */
static int
ui_key_common(struct ui *u, int c)
{
	MEVENT ev;

	switch (c) {
	case KEY_RESIZE:
		ui_relayout(u);
		return 1;
	case KEY_PPAGE:
		ui_scroll(u, u->tw_rows - 1);
		return 1;
	case KEY_NPAGE:
		ui_scroll(u, -(u->tw_rows - 1));
		return 1;
	case KEY_MOUSE:
		if (getmouse(&ev) == OK) {
			if (ev.bstate & BUTTON4_PRESSED)
				ui_scroll(u, UI_WHEEL_ROWS);
#ifdef BUTTON5_PRESSED
			else if (ev.bstate & BUTTON5_PRESSED)
				ui_scroll(u, -UI_WHEEL_ROWS);
#endif
		}
		return 1;
	case KEY_F(2):
		ui_toggle_panel(u);
		return 1;
	case KEY_F(3):
		u->st->view.color = !u->st->view.color;
		ui_message(u, 0, "color %s", u->st->view.color ?
		    "on: " CMD_COLOR_LEGEND : "off");
		return 1;
	case KEY_F(5):
		ui_knob(u, "temperature", -1);
		return 1;
	case KEY_F(6):
		ui_knob(u, "temperature", 1);
		return 1;
	case KEY_F(7):
		ui_knob(u, "top_p", -1);
		return 1;
	case KEY_F(8):
		ui_knob(u, "top_p", 1);
		return 1;
	case 'L' & 0x1f:
		ui_relayout(u);
		return 1;
	case 'Z' & 0x1f:
		ui_suspend(u);
		return 1;
	}
	return 0;
}

/* A key while a reply streams: the input line is inactive, so plain keys
 * are free for the live controls. */
static void
ui_key_live(struct ui *u, int c)
{
	switch (c) {
	case 'C' & 0x1f:
		cmd_turn_interrupt(u->st);
		u->paused = 0;
		break;
	case '+':
	case '=':
		ui_knob(u, "temperature", 1);
		break;
	case '-':
	case '_':
		ui_knob(u, "temperature", -1);
		break;
	case ']':
		ui_knob(u, "top_p", 1);
		break;
	case '[':
		ui_knob(u, "top_p", -1);
		break;
	case ' ':
		u->paused = !u->paused;
		break;
	case '.':
		u->step_once = u->paused;
		break;
	case '\t':
		ui_toggle_panel(u);
		break;
	}
}

/* Just after a reply: a live key still means what it meant while the
 * reply streamed (a knob turns for the next reply, Tab toggles the panel,
 * Space and '.' find nothing to pause), and never reaches the prompt. */
static int
ui_key_grace(struct ui *u, int c)
{
	/* only before anything is typed: then the keys are text */
	if (util_now() >= u->grace_until || rl_end > 0 || u->kq_len > 0)
		return 0;
	switch (c) {
	case '+': case '=': case '-': case '_': case '[': case ']':
		ui_key_live(u, c);
		ui_message(u, 0, "%s for the next reply", c == '[' ||
		    c == ']' ? "top-p changed" : "temperature changed");
		return 1;
	case '\t':
		ui_toggle_panel(u);
		return 1;
	case ' ':
	case '.':
		ui_message(u, 0, "the reply has ended");
		return 1;
	}
	return 0;
}

/* A key at the prompt: ours, or bytes for readline. */
static void
ui_key_idle(struct ui *u, int c)
{
	char	 b = (char)c;
	const char *seq = NULL;

	switch (c) {
	case 'C' & 0x1f:
		if (rl_end == 0 && !u->block.open)
			ui_message(u, 0, "type /quit or press Ctrl-D on an "
			    "empty line to quit");
		else
			ui_message(u, 0, "line cleared");
		rl_callback_sigcleanup();
		rl_replace_line("", 0);
		rl_point = rl_end = 0;
		cmd_block_reset(&u->block);
		rl_set_prompt("> ");
		ui_render(u, 0);
		return;
	case '\t':
		/* nothing to complete: never a list of files */
		if (rl_end == 0 && !u->block.open) {
			ui_toggle_panel(u);
			return;
		}
		break;
	case KEY_UP:	seq = "\033[A"; break;
	case KEY_DOWN:	seq = "\033[B"; break;
	case KEY_RIGHT:	seq = "\033[C"; break;
	case KEY_LEFT:	seq = "\033[D"; break;
	case KEY_HOME:	seq = "\033[H"; break;
	case KEY_END:	seq = "\033[F"; break;
	case KEY_DC:	seq = "\033[3~"; break;
	case KEY_BACKSPACE: seq = "\177"; break;
	case KEY_ENTER:	seq = "\r"; break;
	}
	if (seq != NULL)
		ui_keyq_push(u, seq, strlen(seq));
	else if (c >= 0 && c < 256)
		ui_keyq_push(u, &b, 1);
	/* other function keys mean nothing here */
}

static void	ui_turn(struct ui *, const char *);

/* Show the cursor's token in the transcript (on 1) or hide it. */
static void
ui_cursor_mark(struct ui *u, int on)
{
	size_t pos = (size_t)u->st->cursor.pos;

	if (pos < u->n_tok)
		ui_mark(u, u->tok[pos], pos + 1 < u->n_tok ? u->tok[pos + 1] :
		    u->tok[u->n_tok], on);
}

/* F4: the cursor on the last reply's last token, with the panel open. */
static void
ui_cursor_enter(struct ui *u)
{
	struct err err;

	if (u->n_tok == 0 || cmd_cursor_enter(u->st, &err) != 0) {
		ui_message(u, 1, "%s", u->n_tok == 0 ? "token cursor: no "
		    "reply on the screen" : err.msg);
		return;
	}
	ui_cursor_mark(u, 1);
	if (!u->panel)
		ui_toggle_panel(u);
}

/* Take the picked candidate (take 1) or sample afresh from the cursor:
 * the transcript is cut at its token and the branch streams from there. */
static void
ui_cursor_branch(struct ui *u, int take)
{
	struct ui_pos	at = u->tok[u->st->cursor.pos];
	struct err	err;

	ui_cursor_mark(u, 0);
	if (cmd_cursor_branch(u->st, take, &err) != 0) {
		ui_message(u, 1, "%s", err.msg);
		return;
	}
	ui_truncate(u, at);
	u->branching = 1;
	ui_turn(u, NULL);
	u->branching = 0;
}

/* A key while the token cursor is on; every key stays here. */
static void
ui_key_cursor(struct ui *u, int c)
{
	struct repl *st = u->st;

	switch (c) {
	case KEY_LEFT:
	case KEY_RIGHT:
		ui_cursor_mark(u, 0);
		cmd_cursor_move(st, c == KEY_LEFT ? -1 : 1);
		ui_cursor_mark(u, 1);
		break;
	case KEY_UP:
		if (st->cursor.pick > 0)
			st->cursor.pick--;
		break;
	case KEY_DOWN:
		if (st->cursor.pick + 1 < UI_N_CANDS)
			st->cursor.pick++;
		break;
	case '\r':
	case '\n':
	case KEY_ENTER:
		ui_cursor_branch(u, 1);
		break;
	case 'r':
		ui_cursor_branch(u, 0);
		break;
	case 27:
	case KEY_F(4):
	case 'C' & 0x1f:
		ui_cursor_mark(u, 0);
		cmd_cursor_leave(st);
		break;
	}
}

static void
ui_key(struct ui *u, int c)
{
	if (c != KEY_RESIZE && c != KEY_MOUSE && !u->generating)
		u->msg[0] = '\0';	/* a message lasts until the next key */
	if (ui_key_common(u, c))
		return;
	if (!u->generating && u->st->cursor.on) {
		ui_key_cursor(u, c);
		return;
	}
	if (!u->generating && c == KEY_F(4)) {
		ui_cursor_enter(u);
		return;
	}
	if (!u->generating && ui_key_grace(u, c))
		return;
	if (u->generating)
		ui_key_live(u, c);
	else
		ui_key_idle(u, c);
}

/* Turns. */

/* Drain the keyboard; while paused, wait for keys instead of spinning. */
static void
ui_poll_keys(struct ui *u)
{
	int c;

	wtimeout(u->iw, u->paused ? 100 : 0);
	while ((c = ui_getch(u)) != ERR) {
		ui_key(u, c);
		wtimeout(u->iw, 0);
	}
}

/* The first word from a running turn: the "waiting" message goes, and a
 * replayed turn shows its prompt. */
static void
ui_turn_started(struct ui *u)
{
	if (!u->waiting)
		return;
	u->waiting = 0;
	u->msg[0] = '\0';
	if (u->replaying && u->st->turn.prompt != NULL)
		ui_append_str(u, u->st->turn.prompt, UI_CLS_PROMPT);
}

/* Where the transcript ends now. */
static struct ui_pos
ui_end(const struct ui *u)
{
	struct ui_pos p = { u->n_lines - 1, u->lines[u->n_lines - 1].n };

	return p;
}

/* Note where token step of the reply starts (the cursor's map). */
static void
ui_tok_note(struct ui *u, int step)
{
	if (step < 0 || (size_t)step != u->n_tok)
		return;
	if (u->n_tok + 2 > u->tok_cap) {
		u->tok_cap = u->tok_cap ? 2 * u->tok_cap : 256;
		u->tok = xreallocarray(u->tok, u->tok_cap, sizeof *u->tok);
	}
	u->tok[u->n_tok++] = ui_end(u);
}

static void
ui_on_token(void *arg, const struct gen_token *tok)
{
	struct ui	*u = arg;
	char		 unknown[32];

	ui_turn_started(u);
	u->step_once = 0;
	if (tok->seq == 0 && tok->id >= 0)
		ui_tok_note(u, tok->step);
	if (tok->seq == 0 && tok->piece_len > 0)
		ui_append(u, tok->piece, tok->piece_len, (enum ui_cls)
		    (UI_CLS_OUTPUT | (cmd_band(tok->prob) + 1) <<
		    UI_BAND_SHIFT));
	/* an id the tokenizer lacks (a padded vocabulary) has no text: the
	 * transcript is a display, so show it rather than nothing */
	else if (tok->seq == 0 && tok->id != u->st->next.gen.eos_id &&
	    u->st->res.bpe != NULL && tok->id >= 0 &&
	    (size_t)tok->id >= bpe_n_vocab(u->st->res.bpe)) {
		snprintf(unknown, sizeof unknown, "<|id %d|>", (int)tok->id);
		ui_append(u, unknown, strlen(unknown), UI_CLS_OUTPUT);
	}
}

/* Notices of a turn, joined into the message row; an error turns it
 * red. */
static void
ui_on_note(void *arg, const char *line, int error)
{
	struct ui *u = arg;

	ui_turn_started(u);
	if (u->notes.len > 0)
		buf_puts(&u->notes, "; ");
	buf_puts(&u->notes, line);
	u->notes_err |= error;
	ui_message(u, u->notes_err, "%s", u->notes.data);
}

/* Between steps: keys, a redraw when one is due; while paused, wait. */
static int
ui_turn_poll(void *arg)
{
	struct ui *u = arg;

	do {
		ui_poll_keys(u);
		if (u->paused || ui_render_due(u))
			ui_render(u, 0);
	} while (u->paused && !u->quit && !u->step_once);
	/* step_once stays set until the token comes (ui_on_token): the pace
	 * may poll again before it lets the step run, and that poll must not
	 * wait for a second '.' */
	return u->quit;
}

/* A reply piece in its probability band (-1: none). */
static void
ui_band_piece(void *arg, const char *s, size_t n, int band)
{
	ui_append(arg, s, n, (enum ui_cls)(UI_CLS_OUTPUT | (band + 1) <<
	    UI_BAND_SHIFT));
}

/* A recorded turn's output as cmd_turn_bands() spells it, with the band
 * of each byte. */
struct ui_bands {
	struct buf	 text;		/* the output */
	signed char	*band;		/* per byte of text */
	size_t		 cap;		/* band entries allocated */
};

static void
ui_bands_collect(void *arg, const char *s, size_t n, int band)
{
	struct ui_bands *b = arg;

	if (b->text.len + n > b->cap) {
		b->cap = 2 * (b->text.len + n);
		b->band = xreallocarray(b->band, b->cap, sizeof *b->band);
	}
	memset(b->band + b->text.len, band, n);
	buf_append(&b->text, s, n);
}

/*
 * A story turn's reply, redrawn in the probability bands it streamed in
 * (from the history's record of it) as far as the record spells the same
 * text: a reply cut at a branch point, or one whose stop string the record
 * holds, may differ at the end, which is drawn plain.
 */
static void
ui_show_reply(struct ui *u, const struct repl_story_turn *t)
{
	struct ui_bands	 b;
	size_t		 len = t->reply_len, same = 0;

	memset(&b, 0, sizeof b);
	buf_init(&b.text);
	if (t->hist_id > 0 &&
	    cmd_turn_bands(u->st, t->hist_id, ui_bands_collect, &b) == 0) {
		while (same < len && same < b.text.len &&
		    b.text.data[same] == t->reply[same])
			same++;
		/* not inside a character */
		while (same > 0 && same < len &&
		    ((unsigned char)t->reply[same] & 0xc0) == 0x80)
			same--;
	}
	/* the pieces of a band never split a character */
	for (size_t i = 0, j; i < same; i = j) {
		for (j = i + 1; j < same && b.band[j] == b.band[i]; j++)
			;
		ui_band_piece(u, t->reply + i, j - i, b.band[i]);
	}
	/* by length: a reply may hold NUL bytes (token 0 of some models) */
	ui_append(u, t->reply + same, len - same, UI_CLS_OUTPUT);
	free(b.band);
	buf_fini(&b.text);
}

/* The story again, after /undo, /retry or /edit took turns out of it;
 * with keep, below what the transcript holds (the banner at start-up). */
static void
ui_show_story(struct ui *u, int keep)
{
	const struct repl_story *s = &u->st->story;

	if (!keep)
		ui_clear_transcript(u);
	for (size_t i = 0; i < s->n; i++) {
		ui_append(u, s->turns[i].text, s->turns[i].text_len,
		    UI_CLS_PROMPT);
		ui_show_reply(u, &s->turns[i]);
	}
	u->st->story.changed = 0;
	ui_dim_story(u, s->n_pinned_bytes, s->n_pinned_bytes +
	    s->n_shifted_bytes);
}

/* Dim what the model no longer sees of the story. */
static void
ui_dim(struct ui *u)
{
	const struct repl_story *s = &u->st->story;

	ui_dim_story(u, s->n_pinned_bytes, s->n_pinned_bytes +
	    s->n_shifted_bytes);
}

static void
ui_on_progress(void *arg, size_t done, size_t total)
{
	struct ui *u = arg;

	ui_message(u, 0, "rebuilding the context: %zu of %zu tokens (Ctrl-C "
	    "cancels)", done, total);
	ui_render(u, 0);
}

/* A resumed story: shown (at start-up below the banner), and its context
 * prefilled with progress. */
static void
ui_prefill(struct ui *u, int start)
{
	const struct cmd_sink sink = { ui_on_token, ui_on_note, ui_turn_poll,
	    u, ui_on_progress };

	if (u->st->story.changed)
		ui_show_story(u, start);
	if (!u->st->story.need_prefill)
		return;
	u->generating = 1;
	u->notes.len = 0;
	u->notes_err = 0;
	if (cmd_story_prefill(u->st, &sink) == 0)
		ui_message(u, 0, "resumed: %zu turn%s", u->st->story.n,
		    u->st->story.n == 1 ? "" : "s");
	else
		ui_clear_transcript(u);
	u->generating = 0;
	ui_dim(u);
	ui_render(u, 0);
}

/* Run a turn (prompt NULL: the one /replay loaded, or the one /retry or
 * /edit asks for), streaming it in. */
static void
ui_turn(struct ui *u, const char *prompt)
{
	const struct cmd_sink sink = { ui_on_token, ui_on_note, ui_turn_poll,
	    u, NULL };
	struct repl	*st = u->st;
	char		*joined = NULL;
	int		 rerun = prompt == NULL && st->story.rerun != NULL;

	if (st->story.changed)
		ui_show_story(u, 0);
	if (u->branching)
		;	/* it goes on where the cursor cut the transcript */
	else if (st->next.mode == CMD_MODE_FRESH || (prompt == NULL &&
	    !rerun)) {
		if (!ui_at_bol(u))
			ui_newline(u);
		if (u->n_lines > 1)
			ui_newline(u);
	} else if (u->n_lines > 0 && !ui_at_bol(u) &&
	    (u->lines[u->n_lines - 1].cls[u->lines[u->n_lines - 1].n - 1] &
	    UI_CLS_MASK) >= UI_CLS_INFO)
		ui_newline(u);
	u->scroll = 0;
	if (prompt != NULL) {
		/* as it joins the story: with a space or a newline */
		joined = cmd_story_join(st, prompt);
		ui_append_str(u, joined, UI_CLS_PROMPT);
		free(joined);
	}
	u->generating = 1;
	u->paused = 0;
	u->waiting = 1;
	u->n_tok = 0;
	u->replaying = prompt == NULL;
	u->notes.len = 0;
	u->notes_err = 0;
	ui_message(u, 0, "%s waiting for the first token",
	    u->utf8 ? "\xe2\x80\xa6" : "...");
	ui_render(u, 0);
	cmd_turn_run(st, prompt, &sink);
	ui_tok_note(u, (int)u->n_tok);	/* the reply's end */
	u->n_tok--;
	u->grace_until = util_now() + UI_GRACE_S;
	u->generating = 0;
	u->paused = 0;
	u->waiting = 0;
	if (st->next.mode == CMD_MODE_FRESH)
		ui_newline(u);
	ui_dim(u);
	ui_render(u, 0);
}

/* Command output goes to the transcript on lines of its own.  Under
 * /color, the output of a /show-turn is drawn token by token in the bands
 * it was written with. */
static void
ui_show_output(struct ui *u, const char *line, const struct buf *out)
{
	const char *cut = NULL;

	if (!ui_at_bol(u))
		ui_newline(u);
	ui_append_str(u, line, UI_CLS_COMMAND);
	ui_newline(u);
	if (u->st->view.shown > 0 && u->st->view.color && out->data != NULL)
		cut = strstr(out->data, "\n--- output\n");
	if (cut != NULL) {
		size_t head = (size_t)(cut - out->data) + 12;

		ui_append(u, out->data, head, UI_CLS_INFO);
		if (cmd_turn_bands(u->st, u->st->view.shown, ui_band_piece,
		    u) != 0)
			ui_append(u, out->data + head, out->len - head,
			    UI_CLS_INFO);
	} else
		ui_append(u, out->data, out->len, UI_CLS_INFO);
	u->st->view.shown = 0;
	if (!ui_at_bol(u))
		ui_newline(u);
	u->scroll = 0;
}

/* Run what /replay or /branch loaded.  A branch redraws the transcript as
 * its context first, so that it reads on from there. */
static void
ui_run_loaded(struct ui *u)
{
	size_t	 len;
	char	*text = cmd_branch_text(u->st, &len);

	if (text == NULL) {
		ui_turn(u, NULL);
		return;
	}
	ui_clear_transcript(u);
	ui_append(u, text, len, UI_CLS_OUTPUT);
	free(text);
	u->branching = 1;
	ui_turn(u, NULL);
	u->branching = 0;
}

/* A line readline accepted: a """ block part, a command or a prompt. */
static void
ui_handle_line(struct ui *u, char *line)
{
	struct buf	 out;
	struct err	 err;
	char		*text;

	if (*line != '\0' && !u->block.open) {
		add_history(line);
		using_history();	/* the up-arrow starts from this one */
	}
	switch (cmd_block_line(&u->block, line, &text)) {
	case 1:
		rl_set_prompt("... ");
		ui_render(u, 0);
		return;
	case 2:
		rl_set_prompt("> ");
		cmd_story_take_edit(u->st);
		ui_turn(u, text);
		free(text);
		return;
	}
	buf_init(&out);
	switch (cmd_run(u->st, line, &out, &err)) {
	case CMD_DONE:
		if (u->st->story.changed)
			ui_show_story(u, 0);
		ui_show_output(u, line, &out);
		break;
	case CMD_EDIT:
		/* the last prompt, back in the input line */
		ui_message(u, 0, "edit the prompt; Enter runs it in place of "
		    "the last turn");
		rl_replace_line(out.data != NULL ? out.data : "", 0);
		rl_point = rl_end;
		break;
	case CMD_ERROR:
		ui_message(u, 1, "%s", err.msg);
		break;
	case CMD_QUIT:
		u->quit = 1;
		break;
	case CMD_CLEAR:
		ui_clear_transcript(u);
		u->st->story.changed = 0;
		u->st->fig.n_generated = 0;
		break;
	case CMD_REDRAW:
		ui_clear_transcript(u);
		ui_append(u, out.data, out.len, UI_CLS_OUTPUT);
		u->n_tok = 0;
		break;
	case CMD_RUN:
		ui_run_loaded(u);
		break;
	case CMD_PROMPT:
		cmd_story_take_edit(u->st);
		ui_turn(u, line[0] == '/' ? line + 1 : line);
		break;
	}
	buf_fini(&out);
	if (u->st->story.need_prefill)
		ui_prefill(u, 0);
	ui_render(u, 0);
}

/* Feed queued bytes to readline; handle any line it accepts. */
static void
ui_feed_readline(struct ui *u)
{
	while (u->kq_len > 0 && !u->quit) {
		rl_callback_read_char();
		if (!u->got_line)
			continue;
		u->got_line = 0;
		if (u->line == NULL) {
			u->quit = 1;	/* Ctrl-D on an empty line */
			break;
		}
		ui_handle_line(u, u->line);
		free(u->line);
		u->line = NULL;
	}
}

static int
ui_start(struct ui *u)
{
	const char *nc = getenv("NO_COLOR");

	if (newterm(NULL, stdout, stdin) == NULL)
		return -1;
	ui_curses_on = 1;
	u->utf8 = MB_CUR_MAX > 1;
	raw();
	noecho();
	nonl();
	set_escdelay(25);
	mousemask(BUTTON4_PRESSED
#ifdef BUTTON5_PRESSED
	    | BUTTON5_PRESSED
#endif
	    , NULL);
	mouseinterval(0);
	u->color = has_colors() && (nc == NULL || *nc == '\0');
	if (u->color) {
		start_color();
		use_default_colors();
		init_pair(UI_PAIR_PROMPT, COLOR_CYAN, -1);
		init_pair(UI_PAIR_INFO, COLOR_BLUE, -1);
		init_pair(UI_PAIR_NOTE, COLOR_YELLOW, -1);
		init_pair(UI_PAIR_ERROR, COLOR_RED, -1);
		init_pair(UI_PAIR_KEPT, COLOR_GREEN, -1);
		init_pair(UI_PAIR_CUT, COLOR_RED, -1);
		init_pair(UI_PAIR_STATUS, -1, -1);
		init_pair(UI_PAIR_BAND1, COLOR_GREEN, -1);
		init_pair(UI_PAIR_BAND2, COLOR_YELLOW, -1);
		init_pair(UI_PAIR_BAND3, COLOR_RED, -1);
	}
	ui_layout(u);
	return 0;
}

/*
 * The transcript, printed to the normal screen after curses has left the
 * alternate one, so that the story stays in the terminal's scrollback
 * (as less -X leaves its last page).
 */
static void
ui_print_transcript(struct ui *u)
{
	char		mb[MB_LEN_MAX];
	mbstate_t	mbs;
	size_t		last = u->n_lines;

	/* no trailing empty lines */
	while (last > 0 && u->lines[last - 1].n == 0)
		last--;
	memset(&mbs, 0, sizeof mbs);
	for (size_t i = 0; i < last; i++) {
		for (size_t j = 0; j < u->lines[i].n; j++) {
			size_t len = wcrtomb(mb, u->lines[i].wc[j], &mbs);

			if (len != (size_t)-1)
				fwrite(mb, 1, len, stdout);
		}
		fputc('\n', stdout);
	}
	fflush(stdout);
}

/*
 * The curses REPL.  Returns 0 after /quit or Ctrl-D, or -1 (before drawing
 * anything) when the terminal cannot be used, so that the caller falls back
 * to line mode.
 */
int
ui_run(struct repl *st)
{
	struct ui	 u;
	int		 c;

	memset(&u, 0, sizeof u);
	u.st = st;
	u.tw_cols = 80;
	buf_init(&u.notes);
	ui_newline(&u);
	st->panel.want_logits = 1;
	if (st->view.pace < 0)
		st->view.pace = UI_PACE_DEFAULT;
	/* before the first rl_set_screen_size(): readline must not export
	 * LINES and COLUMNS, which would pin curses to the first size */
	rl_change_environment = 0;
	ui_install_signals();
	ui_cur = &u;
	if (ui_start(&u) != 0) {
		ui_cur = NULL;
		free(u.lines);
		return -1;
	}
	ui_rl_init(&u);
	ui_append_str(&u, "lmsh ", UI_CLS_INFO);
	ui_append_str(&u, PACKAGE_VERSION, UI_CLS_INFO);
	ui_append_str(&u, ": type a prompt and press Enter; /help lists "
	    "commands and keys.\n", UI_CLS_INFO);
	ui_render(&u, 1);
	if (st->story.need_prefill)
		ui_prefill(&u, 1);
	while (!u.quit) {
		wtimeout(u.iw, -1);
		if ((c = ui_getch(&u)) == ERR)
			continue;
		ui_key(&u, c);
		/* take whatever else is queued, so readline sees whole
		 * characters and escape sequences */
		wtimeout(u.iw, 0);
		while (!u.generating && (c = ui_getch(&u)) != ERR)
			ui_key(&u, c);
		ui_feed_readline(&u);
		if (!u.quit)
			ui_render(&u, 0);
	}
	ui_rl_fini(&u);
	ui_restore();
	ui_cur = NULL;
	if (!st->next.no_scrollback && !u.hung_up)
		ui_print_transcript(&u);
	for (size_t i = 0; i < u.n_lines; i++)
		ui_line_fini(&u.lines[i]);
	free(u.lines);
	free(u.tok);
	cmd_block_reset(&u.block);
	buf_fini(&u.notes);
	return ui_exit_sig ? 128 + ui_exit_sig : 0;
}
