#ifndef LMSH_COMMANDS_H
#define LMSH_COMMANDS_H

#include <stddef.h>
#include <stdint.h>

#include "generate.h"
#include "repl.h"
#include "sampler.h"

struct err;
struct buf;
struct bpe;
struct history;
struct history_turn;
struct lm_options;
struct replay;

/* What a line asks its front end to do next. */
enum cmd_action {
	CMD_DONE = 0,		/* ran; any output is in the buffer */
	CMD_ERROR,		/* failed; err holds one line */
	CMD_QUIT,		/* /quit */
	CMD_CLEAR,		/* /clear: forget the transcript, redraw */
	CMD_RUN,		/* /replay, /branch, /retry, /edit TEXT: run
				   the loaded turn (cmd_turn_begin with no
				   prompt) */
	CMD_PROMPT,		/* not a command: the line is prompt text */
	CMD_EDIT,		/* /edit: out holds the last prompt for the
				   input line; the next prompt replaces it */
	CMD_REDRAW		/* the story changed: the transcript is now
				   the buffer's text */
};

/* A key binding, for /help, the man page and the hint line. */
struct cmd_key {
	const char	*keys;		/* "+ / -" */
	const char	*what;		/* "temperature up / down by 0.1" */
};
extern const struct cmd_key cmd_live_keys[];	/* ends with a NULL keys */
extern const struct cmd_key cmd_edit_keys[];	/* ends with a NULL keys */

/* The probability bands /color and history show --color use, highest
 * first: a token at or above CMD_BAND_HI is likely, below CMD_BAND_LO
 * unlikely. */
#define CMD_BAND_HI	0.5
#define CMD_BAND_MID	0.2
#define CMD_BAND_LO	0.05
#define CMD_COLOR_LEGEND \
	"p>=.5 plain, .2-.5 green, .05-.2 yellow, <.05 red"
/* The band of a probability: 0 (likely) to 3 (unlikely). */
int		 cmd_band(double p);
const char	*cmd_band_sgr(int band);	/* "\033[32m"; "" for band 0 */
/* Hand fn the output of turn id token by token, with each token's band
 * (-1 when it has no recorded probability).  -1 without a tokenizer, a
 * history or the turn. */
int		 cmd_turn_bands(struct repl *, int64_t id,
		    void (*fn)(void *, const char *, size_t, int), void *);

/* Set-up.  cmd_init copies the settings (and stop strings) of opts. */
void		 cmd_init(struct repl *, const struct lm_options *);
void		 cmd_fini(struct repl *);

/* Run one line: a slash command, or CMD_PROMPT for anything else.  Output
 * for the transcript or stdout is appended to out (lines end in '\n'). */
enum cmd_action	 cmd_run(struct repl *, const char *line, struct buf *out,
		    struct err *);
/* Set a setting by name ("temperature", "top_p", "seed", ...). */
int		 cmd_set(struct repl *, const char *name, const char *value,
		    struct err *);
/* One live-key press: the knob called name moves dir (+1, -1) steps of
 * its settings-table step; applies to a running turn at once. */
int		 cmd_adjust(struct repl *, const char *name, int dir,
		    struct err *);
/* Append the settings in effect ("temperature 0.80 ...") to out. */
void		 cmd_show(const struct repl *, struct buf *out);
/* Forget the transcript (and the engine's cached text). */
void		 cmd_clear(struct repl *);
/* Append the /help text to out: the commands, or with what "keys" the key
 * bindings (what may be NULL). */
void		 cmd_help(const char *what, struct buf *out);
/* Name of command i without the slash, NULL after the last. */
const char	*cmd_name(size_t i);
/* Readline-style completion generator for "/name": state 0 starts over;
 * returns a string the caller frees, NULL when done. */
char		*cmd_complete(const char *text, int state);

/*
 * The turn driver both front ends use: what a front end does while a turn
 * runs.  on_token gets each token (piece borrowed for the call; the last
 * event of the turn has stop != GEN_RUNNING); on_note one line of notice,
 * or of error when error is 1 (no newline); poll runs between steps (keys,
 * signals, redraws, a pause) and returns 1 to stop the turn, which is then
 * kept and recorded as interrupted.
 */
struct cmd_sink {
	gen_token_fn	*on_token;
	void		(*on_note)(void *arg, const char *line, int error);
	int		(*poll)(void *arg);
	void		*arg;		/* handed to all of them */
	/* a resumed story's prefill: done of total tokens; may be NULL */
	void		(*on_progress)(void *arg, size_t done, size_t total);
};
/* Run a whole turn (prompt NULL: the one /replay loaded): begin, step,
 * end, with notes and errors through the sink.  Returns 0, or -1 when the
 * turn could not start or the model failed (the error was noted). */
int		 cmd_turn_run(struct repl *, const char *prompt,
		    const struct cmd_sink *);

/* A multi-line prompt between lines of """.  The text is the rest of the
 * opening line, the lines between and the closing line up to its """,
 * each that is not empty at the ends, joined with newlines. */
struct cmd_block {
	struct buf	*text;		/* the block so far, or NULL */
	int		 open;		/* inside a block */
	int		 n_lines;	/* lines in text */
};
#define CMD_BLOCK	"\"\"\""
/* Feed one input line: 0 when it is not part of a block (run it), 1 when
 * the block takes it and goes on (prompt "... "), 2 when it closes the
 * block: *text gets the prompt (caller frees). */
int		 cmd_block_line(struct cmd_block *, const char *line,
		    char **text);
/* Forget a block being typed (Ctrl-C). */
void		 cmd_block_reset(struct cmd_block *);

/* A turn: begin (encode, trim the context, prefill), step, end (record).
 * prompt NULL runs the turn loaded by /replay.  Notices (context dropped,
 * replay check) are appended to note. */
int		 cmd_turn_begin(struct repl *, const char *prompt,
		    struct buf *note, struct err *);
int		 cmd_turn_step(struct repl *, gen_token_fn *, void *,
		    struct err *);
void		 cmd_turn_interrupt(struct repl *);
int		 cmd_turn_end(struct repl *, struct buf *note, struct err *);

/* The candidate panel: the top n candidates of the cached logits under the
 * current settings, or at the token cursor under the settings in effect
 * there; returns how many (0 when none are cached). */
size_t		 cmd_candidates(struct repl *, struct sampler_cand *, size_t n);
const struct sampler_params *cmd_panel_params(const struct repl *);

/* The token cursor on the last reply (cmd_cursor.c): enter it on the last
 * token, move it, leave it, or branch there (take 1: the picked
 * candidate; 0: sample afresh), which loads a /branch to run. */
int		 cmd_cursor_enter(struct repl *, struct err *);
void		 cmd_cursor_move(struct repl *, int delta);
void		 cmd_cursor_leave(struct repl *);
int		 cmd_cursor_branch(struct repl *, int take, struct err *);
/* Between cmd_turn.c and cmd_cursor.c. */
void		 cmd_cursor_reset(struct repl *);
void		 cmd_cursor_keep(struct repl *, const float *logits);
/* Printable form of a token's bytes for the panel and /tokens: control
 * characters and invalid UTF-8 escaped.  Returns out. */
/* A history session for the model the REPL runs (start-up, /model). */
int		 cmd_session_begin(struct repl *, struct err *);
char		*cmd_token_text(const struct repl *, int32_t id, char *out,
		    size_t out_cap);

/* Earlier prompts from the history database, oldest first, for readline's
 * up-arrow (the front ends include readline, which clashes with history.h).
 * 0 when history is off. */
int		 cmd_history_prompts(struct repl *, int n,
		    void (*fn)(void *, const char *), void *, struct err *);

/* The story (cmd_story.c): its text (Markdown marks the prompts), the
 * joined form of a typed prompt (caller frees), a pending /edit taken
 * before a prompt runs (1: the last turn went; redraw), and the end. */
void		 cmd_story_text(const struct repl *, int markdown,
		    struct buf *out);
char		*cmd_story_join(const struct repl *, const char *typed);
int		 cmd_story_take_edit(struct repl *);
/* Resume the story of session spec (an id or a name; NULL: the latest)
 * from the history; a line for the user goes to out. */
int		 cmd_story_resume(struct repl *, const char *spec,
		    struct buf *out, struct err *);
/* After a resume: rebuild the KV cache of the story's context in chunks,
 * with progress through the sink; the sink's poll (or Ctrl-C through
 * cmd_turn_interrupt) cancels the resume.  Returns 0 (also when there is
 * nothing to do), 1 when cancelled, -1 on a model error (noted). */
int		 cmd_story_prefill(struct repl *, const struct cmd_sink *);
void		 cmd_story_clear(struct repl *);
void		 cmd_story_fini(struct repl *);

/* Between commands.c and cmd_turn.c. */
void		 cmd_turn_reset(struct repl *);
void		 cmd_replay_free(struct repl *);
/* Between cmd_branch.c and cmd_turn.c: the pending branch's settings
 * (seed left to the caller) and context ids (caller frees); forgetting
 * it. */
int		 cmd_branch_setup(struct repl *, struct gen_settings *,
		    int32_t **ids, size_t *n, struct err *);
void		 cmd_branch_free(struct repl *);
/* The pending branch's context as text (caller frees), or NULL. */
char		*cmd_branch_text(struct repl *, size_t *len);

/* The line-mode front end (repl_line.c); returns an exit status. */
int		 repl_line_run(struct repl *);

#endif
