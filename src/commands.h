#ifndef LMSH_COMMANDS_H
#define LMSH_COMMANDS_H

#include <stddef.h>
#include <stdint.h>

#include "generate.h"
#include "sampler.h"

struct err;
struct buf;
struct bpe;
struct history;
struct history_turn;
struct lm_options;

/* What each prompt starts from. */
enum cmd_mode {
	CMD_MODE_CONTINUE = 0,	/* the transcript so far, KV cache reused */
	CMD_MODE_FRESH		/* nothing */
};

/* What a line asks its front end to do next. */
enum cmd_action {
	CMD_DONE = 0,		/* ran; any output is in the buffer */
	CMD_ERROR,		/* failed; err holds one line */
	CMD_QUIT,		/* /quit */
	CMD_CLEAR,		/* /clear: forget the transcript, redraw */
	CMD_RUN,		/* /replay: run the loaded turn (cmd_turn_begin) */
	CMD_PROMPT		/* not a command: the line is prompt text */
};

/* Knobs the live keys turn. */
enum cmd_knob {
	CMD_KNOB_TEMPERATURE,
	CMD_KNOB_TOP_P
};

/* A key binding, for /help, the man page and the hint line. */
struct cmd_key {
	const char	*keys;		/* "+ / -" */
	const char	*what;		/* "temperature up / down by 0.1" */
};
extern const struct cmd_key cmd_live_keys[];	/* ends with a NULL keys */
extern const struct cmd_key cmd_edit_keys[];	/* ends with a NULL keys */

/*
 * The REPL's state, shared by the curses screen and the line mode.  The
 * resources are borrowed: repl.c opens and closes them.  Unit tests use it
 * without engine, model or history (those fields NULL).
 */
struct repl {
	/* settings for the next turn */
	struct gen_settings	 gen;		/* stop[] points into stop_own[] */
	char			*stop_own[GEN_MAX_STOP]; /* owned stop strings */
	int			 seed_fixed;	/* 1: every turn uses gen.seed */
	enum cmd_mode		 mode;		/* continue or fresh */
	int			 replace_invalid; /* 1: bad UTF-8 -> U+FFFD */
	int			 raw;		/* --raw: reply text unescaped */

	/* resources (borrowed) */
	struct gen_engine	*engine;	/* NULL in unit tests */
	const struct bpe	*bpe;		/* tokenizer, or NULL */
	struct history		*hist;		/* NULL: history off */
	int64_t			 session_id;	/* history session, 0 if none */
	const char		*model_path;	/* as the user named it */
	char			*model_name;	/* short name for the status line */
	int			 n_ctx;		/* model context length (0: unknown) */

	/* the transcript as the model sees it (continue mode) */
	int32_t			*ctx_ids;	/* token ids, oldest first */
	size_t			 n_ctx_ids;	/* ids used */
	size_t			 ctx_ids_cap;	/* ids allocated */

	/* the running turn */
	struct gen_session	*sess;		/* NULL between turns */
	char			*turn_prompt;	/* text of the turn (owned) */
	int32_t			*turn_new_ids;	/* ids the turn adds (owned) */
	size_t			 n_turn_new;	/* entries in turn_new_ids */
	struct history_turn	*replay;	/* turn being replayed, or NULL */
	size_t			 replay_change;	/* next replay change to apply */
	int			 turn_step;	/* tokens sampled so far */
	uint64_t		 turn_seed;	/* seed of this (or the last) turn */

	/* figures for the status line (last or running turn) */
	int			 n_generated;	/* tokens of the turn */
	double			 prefill_tps;	/* prompt tokens per second */
	double			 decode_tps;	/* generated tokens per second */
	int			 ctx_used;	/* context positions in use */
	double			 turn_t0;	/* util_now() when decoding began */
	int			 step_delay_ms;	/* $LMSH_TEST_STEP_MS: slow steps
						   so tests can act mid-reply */

	/* candidate panel */
	int			 want_logits;	/* copy logits after each step */
	struct sampler		*sampler;	/* for sampler_candidates() */
	float			*logits;	/* [n_vocab] cached next-token logits */
	int			 n_vocab;	/* entries in logits */
	int			 have_logits;	/* logits holds a distribution */
	const int32_t		*recent;	/* tokens before the cached logits */
	size_t			 n_recent;	/* entries in recent */
	int32_t			*recent_own;	/* owned copy behind recent */
	size_t			 recent_cap;	/* allocated entries */
};

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
/* Turn a knob by delta (live keys); applies to a running turn at once. */
int		 cmd_adjust(struct repl *, enum cmd_knob, double delta,
		    struct err *);
/* Append the settings in effect ("temperature 0.80 ...") to out. */
void		 cmd_show(const struct repl *, struct buf *out);
/* Forget the transcript (and the engine's cached text). */
void		 cmd_clear(struct repl *);
/* Append the /help text to out. */
void		 cmd_help(struct buf *out);
/* Name of command i without the slash, NULL after the last. */
const char	*cmd_name(size_t i);
/* Readline-style completion generator for "/name": state 0 starts over;
 * returns a string the caller frees, NULL when done. */
char		*cmd_complete(const char *text, int state);

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
 * current settings; returns how many (0 when none are cached). */
size_t		 cmd_candidates(struct repl *, struct sampler_cand *, size_t n);
/* Printable form of a token's bytes for the panel and /tokens: control
 * characters and invalid UTF-8 escaped.  Returns out. */
char		*cmd_token_text(const struct repl *, int32_t id, char *out,
		    size_t out_cap);

/* Earlier prompts from the history database, oldest first, for readline's
 * up-arrow (the front ends include readline, which clashes with history.h).
 * 0 when history is off. */
int		 cmd_history_prompts(struct repl *, int n,
		    void (*fn)(void *, const char *), void *, struct err *);

/* Between commands.c and cmd_turn.c. */
void		 cmd_turn_reset(struct repl *);
void		 cmd_replay_free(struct repl *);

/* The line-mode front end (repl_line.c); returns an exit status. */
int		 repl_line_run(struct repl *);

#endif
