/*
 * history_model.c: what identifies the model of a session.  The fingerprint
 * is the SHA-256 of a listing of the digests of the model's files (weights,
 * config, tokenizer), so a change to any of them shows; the listing itself
 * is kept too, so that replay can name which file changed.  Digests of large
 * files are cached in the history's file_digests table, keyed by real path
 * and checked against device, inode, size and mtime.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "history.h"
#include "history_int.h"
#include "model.h"
#include "sha256.h"
#include "util.h"

/* The files that make a model directory what it is, in digest order. */
static const char *const history_model_files[] = {
	"config.json", "model.safetensors", "model.pt", "vocab.json",
	"merges.txt", "tokenizer.json"
};

/*
 * The digest of one file, from the cache table when its path, device,
 * inode, size and modification time (ns) are unchanged, so that a large
 * checkpoint is hashed once and not on every run.  h may be NULL (no
 * cache); a cache that cannot be read or written is ignored.
 */
static int
history_file_digest(struct history *h, const char *path,
    char hex[SHA256_HEX_LEN + 1], struct err *err)
{
	sqlite3_stmt	*st = NULL;
	struct stat	 sb;
	char		*abs = NULL, key[160];
	int		 rc = -1;

	if (h == NULL || stat(path, &sb) != 0 ||
	    (abs = realpath(path, NULL)) == NULL)
		return sha256_file(path, hex, err);
	snprintf(key, sizeof key, "%llu:%llu:%lld:%lld.%09ld",
	    (unsigned long long)sb.st_dev, (unsigned long long)sb.st_ino,
	    (long long)sb.st_size, (long long)sb.st_mtim.tv_sec,
	    sb.st_mtim.tv_nsec);
	if (sqlite3_prepare_v2(h->db, "SELECT sha256 FROM file_digests "
	    "WHERE path = ? AND stat = ?", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, abs, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW &&
		    sqlite3_column_bytes(st, 0) == SHA256_HEX_LEN) {
			memcpy(hex, sqlite3_column_text(st, 0), SHA256_HEX_LEN);
			hex[SHA256_HEX_LEN] = '\0';
			rc = 0;
		}
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc == 0)
		goto out;
	if ((rc = sha256_file(path, hex, err)) != 0 || h->read_only)
		goto out;
	if (sqlite3_prepare_v2(h->db, "INSERT OR REPLACE INTO file_digests "
	    "(path, stat, sha256) VALUES (?, ?, ?)", -1, &st, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_text(st, 1, abs, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, hex, -1, SQLITE_STATIC);
		sqlite3_step(st);
	}
	sqlite3_finalize(st);
out:
	free(abs);
	return rc;
}

/*
 * Digest a model's files (see history.h), through h's cache when h is not
 * NULL.  A directory contributes each of history_model_files[] that exists
 * (it must hold at least one); a file contributes itself under its base
 * name.
 */
int
history_model_fingerprint(struct history *h, const char *model_path,
    char **fingerprint, char **files, struct err *err)
{
	struct buf	 b;
	struct stat	 st;
	char		 hex[SHA256_HEX_LEN + 1];

	buf_init(&b);
	if (stat(model_path, &st) != 0) {
		err_set(err, "%s: %s", model_path, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		for (size_t i = 0; i < sizeof history_model_files /
		    sizeof history_model_files[0]; i++) {
			char *p = xasprintf("%s/%s", model_path,
			    history_model_files[i]);
			int rc = access(p, F_OK) != 0 ? 1 :
			    history_file_digest(h, p, hex, err);
			free(p);
			if (rc < 0) {
				buf_fini(&b);
				return -1;
			}
			if (rc == 0)
				buf_printf(&b, "%s  %s\n", hex,
				    history_model_files[i]);
		}
		if (b.len == 0) {
			err_set(err, "%s: no model files to fingerprint",
			    model_path);
			return -1;
		}
	} else {
		const char *base = strrchr(model_path, '/');
		if (history_file_digest(h, model_path, hex, err) != 0)
			return -1;
		buf_printf(&b, "%s  %s\n", hex, base ? base + 1 : model_path);
	}
	sha256_hex(b.data, b.len, hex);
	*fingerprint = xstrdup(hex);
	*files = b.data;
	return 0;
}

/* history_model_fingerprint() without a cache. */
int
history_fingerprint(const char *model_path, char **fingerprint, char **files,
    struct err *err)
{
	return history_model_fingerprint(NULL, model_path, fingerprint, files,
	    err);
}

/* The digest recorded for name in a files list, or NULL. */
static const char *
history_files_find(const char *files, const char *name, size_t name_len)
{
	for (const char *l = files; l != NULL && *l != '\0'; ) {
		const char *nl = strchr(l, '\n'), *nm = l + SHA256_HEX_LEN + 2;
		size_t len = nl ? (size_t)(nl - l) : strlen(l);

		if (len == SHA256_HEX_LEN + 2 + name_len &&
		    memcmp(nm, name, name_len) == 0)
			return l;
		l = nl ? nl + 1 : NULL;
	}
	return NULL;
}

/* Append "name" to out, comma-separated, with a note. */
static void
history_files_name(struct buf *out, const char *nm, size_t len,
    const char *note)
{
	if (out->len > 0)
		buf_puts(out, ", ");
	buf_append(out, nm, len);
	buf_puts(out, note);
}

/*
 * Name what changed between two files lists from history_fingerprint():
 * files whose digest differs, files gone, files new.  NULL when nothing
 * did; else the caller frees the text ("model.safetensors, vocab.json").
 */
char *
history_files_diff(const char *old_files, const char *new_files)
{
	struct buf out;

	buf_init(&out);
	/* changed files first, then gone ones, then new ones */
	for (int pass = 0; pass < 3; pass++) {
		const char *a = pass < 2 ? old_files : new_files;
		const char *b = pass < 2 ? new_files : old_files;

		for (const char *l = a; l != NULL && *l != '\0'; ) {
			const char	*nl = strchr(l, '\n');
			size_t		 len = nl ? (size_t)(nl - l) : strlen(l);
			const char	*nm = l + SHA256_HEX_LEN + 2, *o;
			size_t		 nm_len = len - SHA256_HEX_LEN - 2;

			l = nl ? nl + 1 : NULL;
			if (len <= SHA256_HEX_LEN + 2)
				continue;
			o = history_files_find(b, nm, nm_len);
			if (pass == 0 && o != NULL && memcmp(o, nm -
			    SHA256_HEX_LEN - 2, SHA256_HEX_LEN) != 0)
				history_files_name(&out, nm, nm_len, "");
			else if (pass > 0 && o == NULL)
				history_files_name(&out, nm, nm_len, pass == 1 ?
				    " (gone)" : " (new)");
		}
	}
	return out.data;
}

/* The model config as JSON with config.json's keys; caller frees. */
char *
history_config_json(const struct lm_config *c)
{
	return model_config_json(c);
}
