#ifndef LMSH_CMD_INT_H
#define LMSH_CMD_INT_H
/*
 * cmd_int.h: what the files of the command layer share (commands.c the
 * handlers, cmd_set.c the settings, cmd_table.c the command table and
 * dispatch, cmd_turn.c the turns); private to them.
 */

#include <stddef.h>
#include <stdint.h>

struct buf;
struct err;
struct repl;
struct cmd_entry;

typedef enum cmd_action cmd_fn(struct repl *, const struct cmd_entry *,
    const char *args, struct buf *, struct err *);

/* One slash command. */
struct cmd_entry {
	const char	*name;		/* as typed, without the slash */
	const char	*setting;	/* short form of /set this, or NULL */
	const char	*args;		/* argument synopsis for /help */
	const char	*help;		/* one line for /help; NULL: the
					   setting's row says it */
	cmd_fn		*fn;		/* handler */
};

/* Names: n bytes of a (typed) against all of b, '-' and '_' alike,
 * case-insensitively; prefix: a may be a prefix of b. */
int	cmd_name_eq(const char *a, size_t n, const char *b, int prefix);
/* Undo the escapes a user can type in a stop string: \n \t \r \\. */
char	*cmd_unescape(const char *s);	/* caller frees */
int	cmd_parse_long(const char *name, const char *s, long lo, long hi,
	    long *out, struct err *);
/* The /show line of one setting (any /set spelling); 0 if it exists. */
int	cmd_show_one(const struct repl *, const char *name, struct buf *);
/* The one-line /help text of a setting's short command. */
void	cmd_setting_help(const char *name, char *out, size_t cap);

/* Handlers (commands.c). */
cmd_fn	cmd_do_help, cmd_do_set, cmd_do_short, cmd_do_show, cmd_do_clear,
	cmd_do_history, cmd_do_show_turn, cmd_do_replay, cmd_do_tokens,
	cmd_do_model, cmd_do_mode, cmd_do_quit,
	cmd_do_save, cmd_do_undo, cmd_do_retry, cmd_do_edit, cmd_do_keep,
	cmd_do_resume, cmd_do_name, cmd_do_shift;

/* The story (cmd_story.c), for the turns (cmd_turn.c). */
void	cmd_story_fit(struct repl *, int32_t *new_ids, size_t *n_new,
	    struct buf *note);
void	cmd_story_begin(struct repl *, const char *typed, size_t n_new);
void	cmd_story_end(struct repl *, const char *text, size_t text_len,
	    const char *reply, size_t reply_len, uint64_t seed, int64_t hist_id,
	    int closed);
void	cmd_story_abort(struct repl *);
void	cmd_story_replayed(struct repl *, int64_t hist_id);
size_t	cmd_story_bytes(const struct repl *, const int32_t *ids, size_t n);
/* The story that ends at recorded turn id (cmd_resume.c): after a branch
 * or /branches ID. */
int	cmd_story_follow(struct repl *, int64_t id, struct err *);

/* cmd_branch.c, cmd_view.c */
cmd_fn	cmd_do_branch, cmd_do_branches, cmd_do_pace, cmd_do_color;

#endif
