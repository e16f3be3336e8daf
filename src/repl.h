#ifndef LMSH_REPL_H
#define LMSH_REPL_H
/*
 * repl.h: the REPL's state, shared by the curses screen (ui.c), the line
 * mode (repl_line.c) and the command layer (commands.h) that owns it,
 * grouped by concern: the settings of the next turn, the resources repl.c
 * opens, the transcript as token ids, the running turn, the status line's
 * figures and the candidate panel.  Unit tests use it without engine,
 * model or history (those fields NULL).
 */

#include <stddef.h>
#include <stdint.h>

#include "gen_types.h"
#include "sampler.h"

struct bpe;
struct gen_engine;
struct gen_session;
struct history;
struct history_turn;
struct lm_model;
struct replay;
struct sampler;

/* What each prompt starts from. */
enum cmd_mode {
	CMD_MODE_CONTINUE = 0,	/* the transcript so far, KV cache reused */
	CMD_MODE_FRESH		/* nothing */
};

/* The settings of the next turn (/set, the live keys). */
struct repl_next {
	struct gen_settings	 gen;		/* stop[] points into stop_own[] */
	char			*stop_own[GEN_MAX_STOP]; /* owned stop strings */
	int			 seed_fixed;	/* 1: every turn uses gen.seed */
	enum cmd_mode		 mode;		/* continue or fresh */
	int			 replace_invalid; /* 1: bad UTF-8 -> U+FFFD */
	int			 eos_fixed;	/* --eos-token-id given: a new
						   model keeps it */
	int			 no_scrollback;	/* --no-scrollback: the screen
						   leaves no transcript */
	int			 raw;		/* --raw: reply text unescaped */
};

/* What repl.c opens and closes; borrowed here except the strings. */
struct repl_res {
	struct gen_engine	*engine;	/* NULL in unit tests */
	const struct bpe	*bpe;		/* tokenizer, or NULL */
	struct lm_model		*model;		/* the engine's model, and */
	struct bpe		*tokenizer;	/* bpe, as repl.c frees them
						   (/model replaces both) */
	int			 threads;	/* --threads for a new model */
	char			*model_path_own; /* model_path after /model */
	struct history		*hist;		/* NULL: history off */
	int64_t			 session_id;	/* history session, 0 if none */
	const char		*model_path;	/* as the user named it */
	char			*model_name;	/* short name (owned) */
	int			 n_ctx;		/* context length (0: unknown) */
	int			 n_vocab;	/* logits per token */
	char			*config_json;	/* the model config (owned) */
	char			*kernels;	/* kernel set in use (owned) */
	char			*dtype;		/* weight dtype in use (owned) */
};

/* The transcript as the model sees it (continue mode). */
struct repl_ctx {
	int32_t			*ids;		/* token ids, oldest first */
	size_t			 n_ids;		/* ids used */
	size_t			 cap;		/* ids allocated */
};

/* The running turn (or the last one, for its seed). */
struct repl_turn {
	struct gen_session	*sess;		/* NULL between turns; a replay's
						   belongs to replaying */
	char			*prompt;	/* text of the turn (owned) */
	int32_t			*new_ids;	/* ids the turn adds (owned) */
	size_t			 n_new;		/* entries in new_ids */
	struct history_turn	*replay;	/* turn /replay loaded, or NULL */
	struct replay		*replaying;	/* its regeneration, or NULL */
	struct gen_settings	 replay_over;	/* settings /replay overrides */
	unsigned		 replay_mask;	/* which (replay.h's bits) */
	int			 step;		/* tokens sampled so far */
	uint64_t		 seed;		/* seed of this (or the last) turn */
	int64_t			 parent;	/* turn the running one continues */
	int64_t			 last_id;	/* recorded id of the story's last
						   turn, 0: none */
};

/* How replies are shown (/pace, /color); never changes a token. */
struct repl_view {
	double			 pace;		/* most tokens a second; 0: full
						   speed; < 0: the front end's
						   default */
	int			 color;		/* colour tokens by probability */
	int64_t			 shown;		/* turn /show-turn just showed */
};

/* The token cursor on the last reply (cmd_cursor.c). */
struct repl_cursor {
	float			*logits;	/* [n][n_vocab]: what each token
						   of the last reply was sampled
						   from */
	size_t			 n, cap;	/* steps kept, allocated */
	int			 on;		/* the cursor is shown */
	int			 pos;		/* its token (0-based step) */
	int			 max;		/* tokens it can reach */
	int			 pick;		/* candidate chosen in the panel */
	struct history_turn	*turn;		/* the reply's record (owned) */
	struct sampler_params	 sp;		/* settings in effect at pos */
};

/* A branch /branch asked for (run by cmd_turn_begin with no prompt) or
 * the one running; from is owned, NULL when there is none. */
struct repl_branch {
	struct history_turn	*from;		/* the parent turn */
	int			 step;		/* its tokens kept */
	int			 forced;	/* 1: token is forced at step */
	int32_t			 token;
	int			 running;	/* the turn running is the branch */
};

/* Figures for the status line (last or running turn). */
struct repl_fig {
	int			 n_generated;	/* tokens of the turn */
	double			 prefill_tps;	/* prompt tokens per second */
	double			 decode_tps;	/* generated tokens per second */
	int			 ctx_used;	/* context positions in use */
	double			 t0;		/* util_now() when decoding began */
};

/* The candidate panel: logits kept so that a new setting redraws it
 * without a forward pass. */
struct repl_panel {
	int			 want_logits;	/* copy logits after each step */
	struct sampler		*sampler;	/* for sampler_candidates() */
	float			*logits;	/* [n_vocab] next-token logits */
	int			 have_logits;	/* logits holds a distribution */
	const int32_t		*recent;	/* tokens before those logits */
	size_t			 n_recent;	/* entries in recent */
	int32_t			*recent_own;	/* owned copy behind recent */
	size_t			 recent_cap;	/* allocated entries */
};

/* One turn of the story as the screen shows it, with what undoing it
 * needs. */
struct repl_story_turn {
	char			*typed;		/* the prompt as typed (owned) */
	char			*text;		/* as joined to the story (owned) */
	char			*reply;		/* the reply's text (owned) */
	size_t			 text_len;	/* bytes in text */
	size_t			 reply_len;	/* bytes in reply, NUL bytes
						   (token 0) among them */
	int32_t			*ctx_before;	/* the model's ids before the
						   turn (owned) */
	size_t			 n_ctx_before;	/* entries in ctx_before */
	size_t			 n_keep_before;	/* pinned prefix before it */
	size_t			 n_shift_before; /* story bytes out of view */
	uint64_t		 seed;		/* the turn's seed */
	int64_t			 hist_id;	/* its history row, or 0 */
	int			 closed;	/* ended on end-of-text or a stop
						   string: a paragraph ends */
	int			 cut;		/* the story keeps only the first
						   cut_step tokens of the reply:
						   a branch of it followed */
	int			 cut_step;	/* see cut */
};

/* The story: the turns of continue mode since the last /clear, and how the
 * context slides when it fills. */
struct repl_story {
	struct repl_story_turn	*turns;		/* oldest first */
	size_t			 n;		/* turns used */
	size_t			 cap;		/* turns allocated */
	size_t			 keep;		/* pinned prefix tokens */
	int			 keep_set;	/* keep given (--keep, /keep);
						   else the first prompt's */
	double			 shift_share;	/* share of the unpinned part
						   a full context drops */
	size_t			 n_pinned_bytes; /* story bytes of the pinned
						   prefix (for dimming) */
	size_t			 n_shifted_bytes; /* story bytes after it that
						   the model no longer sees */
	char			*rerun;		/* prompt /retry, /edit run
						   next (owned), or NULL */
	int			 rerun_seed_set; /* rerun with rerun_seed */
	uint64_t		 rerun_seed;	/* the seed /retry keeps */
	int			 rerun_seed_new; /* /retry new: a new seed even
						   when --seed fixed one */
	int			 editing;	/* /edit: the next prompt
						   replaces the last turn */
	int			 changed;	/* turns were removed: the front
						   end redraws the story */
	int			 open;		/* turns[n] began, not ended */
	int			 need_prefill;	/* resumed: the cache is cold */
	int			 cancel;	/* Ctrl-C during that prefill */
};

struct repl {
	struct repl_next	 next;		/* settings of the next turn */
	struct repl_res		 res;		/* model, tokenizer, history */
	struct repl_ctx		 ctx;		/* the transcript's ids */
	struct repl_turn	 turn;		/* the running turn */
	struct repl_fig		 fig;		/* status line figures */
	struct repl_panel	 panel;		/* candidate panel */
	struct repl_story	 story;		/* the story so far */
	struct repl_branch	 branch;	/* /branch */
	struct repl_view	 view;		/* /pace, /color */
	struct repl_cursor	 cursor;	/* the token cursor */
};

#endif
