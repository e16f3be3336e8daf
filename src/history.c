/* Placeholder generated so that everything links; the owner replaces it. */
#include "config.h"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <stdio.h>
#include <stdlib.h>
#include "util.h"
#include "history.h"

char *
history_default_path(void)
{
	return NULL;
}

struct history *
history_open(const char *path, int read_only, struct err *a2)
{
	err_set(a2, "history_open: not implemented yet");
	return NULL;
}

void
history_close(struct history *a0)
{

}

const char *
history_path(const struct history *a0)
{
	return NULL;
}

int64_t
history_begin_session(struct history *a0, const struct history_session_info *a1, struct err *a2)
{
	err_set(a2, "history_begin_session: not implemented yet");
	return -1;
}

int
history_end_session(struct history *a0, int64_t a1, struct err *a2)
{
	err_set(a2, "history_end_session: not implemented yet");
	return -1;
}

int
history_record_turn(struct history *a0, struct history_turn *a1, struct err *a2)
{
	err_set(a2, "history_record_turn: not implemented yet");
	return -1;
}

void
history_turn_from_gen(struct history_turn *a0, const struct gen_session *a1, int seq, const char *prompt)
{

}

int
history_get_turn(struct history *a0, int64_t id, struct history_turn *a2, struct err *a3)
{
	err_set(a3, "history_get_turn: not implemented yet");
	return -1;
}

void
history_turn_fini(struct history_turn *a0)
{

}

int
history_list(struct history *a0, int n, int64_t session_id, int json, struct buf *out, struct err *a5)
{
	err_set(a5, "history_list: not implemented yet");
	return -1;
}

int
history_search(struct history *a0, const char *query, int n, int json, struct buf *out, struct err *a5)
{
	err_set(a5, "history_search: not implemented yet");
	return -1;
}

int
history_show(struct history *a0, int64_t id, struct buf *out, struct err *a3)
{
	err_set(a3, "history_show: not implemented yet");
	return -1;
}

int
history_export(struct history *a0, const int64_t *ids, size_t n, int markdown, struct buf *out, struct err *a5)
{
	err_set(a5, "history_export: not implemented yet");
	return -1;
}

int
history_delete(struct history *a0, int64_t id, struct err *a2)
{
	err_set(a2, "history_delete: not implemented yet");
	return -1;
}

int
history_prompts(struct history *a0, int n, void (*fn)(void *, const char *), void *a3, struct err *a4)
{
	err_set(a4, "history_prompts: not implemented yet");
	return -1;
}
