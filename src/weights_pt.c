/*
 * weights_pt.c: the tensors of a PyTorch .pt file, the zip that torch.save
 * writes.  <prefix>/data.pkl is parsed by the restricted unpickler of
 * pickle.c, which never executes anything; the state dict is found (raw, or
 * the "model" entry of a training checkpoint, whose optimizer storages are
 * never read), and each storage a tensor views is read once from
 * <prefix>/data/<key>, its CRC-32 checked, into a buffer the weights object
 * owns.  Sizes, offsets and strides from the pickle are checked against the
 * storage before any tensor points into it.
 *
 * A .pt is deflated, up to 1,000:1, so entry sizes are checked before
 * anything is inflated: a storage entry must be exactly the size the pickle
 * declares (numel x element size), and data.pkl at most the unpickler's
 * budget, so a small file cannot claim gigabytes.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zip.h>
#include <zlib.h>

#include "pickle.h"
#include "util.h"
#include "weights.h"
#include "weights_int.h"

static int weights_pt_parse(struct weights *, zip_t *, size_t,
    struct err *);

/* Open a zip archive held in memory; the buffer must outlive the archive. */
static zip_t *
weights_zip_open_mem(const void *p, size_t len, struct err *err)
{
	zip_error_t	 zerr;
	zip_source_t	*src;
	zip_t		*za;

	zip_error_init(&zerr);
	if ((src = zip_source_buffer_create(p, len, 0, &zerr)) == NULL) {
		err_set(err, "zip: %s", zip_error_strerror(&zerr));
		zip_error_fini(&zerr);
		return NULL;
	}
	if ((za = zip_open_from_source(src, ZIP_RDONLY, &zerr)) == NULL) {
		err_set(err, "not a readable zip archive: %s",
		    zip_error_strerror(&zerr));
		zip_source_free(src);
	}
	zip_error_fini(&zerr);
	return za;
}

/* Read a .pt from an open file; the descriptor is always consumed. */
int
weights_pt_open_fd(struct weights *w, int fd, size_t len, struct err *err)
{
	zip_t	*za;
	int	 zerr = 0;

	/* only reads and zip_discard() follow: the file is never written */
	if ((za = zip_fdopen(fd, 0, &zerr)) == NULL) {
		zip_error_t ze;
		zip_error_init_with_code(&ze, zerr);
		err_set(err, "not a readable zip archive: %s",
		    zip_error_strerror(&ze));
		zip_error_fini(&ze);
		close(fd);
		return -1;
	}
	int rc = weights_pt_parse(w, za, len, err);
	zip_discard(za);
	return rc;
}


/* Read a .pt zip image held in memory (it must outlive w). */
int
weights_pt_parse_mem(struct weights *w, const unsigned char *p, size_t len,
    struct err *err)
{
	zip_t	*za = weights_zip_open_mem(p, len, err);
	int	 rc;

	if (za == NULL)
		return -1;
	rc = weights_pt_parse(w, za, len, err);
	zip_discard(za);
	return rc;
}

/* A storage read from the archive, shared by the tensors that view it. */
struct weights_storage {
	const char	*key;		/* borrowed from the pickle */
	unsigned char	*data;		/* owned by the weights object */
	size_t		 len;		/* bytes */
};

/* The archive being read: entry names are <prefix>/data.pkl and
 * <prefix>/data/<key>. */
struct weights_pt {
	zip_t			*za;		/* the archive */
	size_t			 zip_len;	/* its size in bytes */
	char			*prefix;	/* "archive", owned */
	struct weights_storage	*st;		/* [n_st] storages read so far */
	size_t			 n_st;		/* storages read */
	size_t			 st_allow;	/* bytes all storages may take */
	size_t			 st_total;	/* bytes of those read */
};

/* Storages may exceed the tensors that view them (a saved view of a bigger
 * tensor) by this much in all, and no more: a pickle that declares 2 GiB
 * for a one-float tensor cannot make us inflate 2 GiB. */
#define WEIGHTS_PT_SLACK	((size_t)64 << 20)

/* weights_zip_read()'s want when any size up to its max will do */
#define WEIGHTS_PT_ANY_SIZE	SIZE_MAX

/*
 * Read a whole zip entry into a buffer the weights object owns.  The size
 * the archive claims is checked against what the compressed bytes can hold,
 * and against want (the size the pickle declares) or max, before anything
 * is allocated or inflated; nothing past that size is ever inflated.
 */
static int
weights_zip_read(struct weights *w, struct weights_pt *pt, zip_int64_t idx,
    const char *what, size_t want, size_t max, unsigned char **out,
    size_t *out_len, struct err *err)
{
	zip_t		*za = pt->za;
	zip_stat_t	 zs;
	zip_file_t	*zf = NULL;
	unsigned char	*buf = NULL;
	int		 rc = -1;

	if (zip_stat_index(za, (zip_uint64_t)idx, 0, &zs) != 0 ||
	    (zs.valid & (ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE |
	    ZIP_STAT_COMP_METHOD)) != (ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE |
	    ZIP_STAT_COMP_METHOD)) {
		err_set(err, "%s: bad zip entry", what);
		return -1;
	}
	/* the compressed bytes lie within the archive, and deflate cannot
	 * expand them more than about 1032 times */
	if (zs.size > SIZE_MAX - 1 || zs.comp_size > pt->zip_len ||
	    (zs.comp_method == ZIP_CM_STORE ?
	    zs.size != zs.comp_size : zs.size / 1100 > zs.comp_size)) {
		err_set(err, "%s: bad zip entry (size %llu from %llu bytes)",
		    what, (unsigned long long)zs.size,
		    (unsigned long long)zs.comp_size);
		return -1;
	}
	if (want != WEIGHTS_PT_ANY_SIZE && zs.size != want) {
		err_set(err, "%s: entry is %llu bytes, the pickle declares %zu",
		    what, (unsigned long long)zs.size, want);
		return -1;
	}
	if (zs.size > max) {
		err_set(err, "%s: entry is %llu bytes (at most %zu)", what,
		    (unsigned long long)zs.size, max);
		return -1;
	}
	if ((buf = malloc((size_t)zs.size + 1)) == NULL) {
		err_set(err, "%s: %llu bytes: out of memory", what,
		    (unsigned long long)zs.size);
		return -1;
	}
	if ((zf = zip_fopen_index(za, (zip_uint64_t)idx, 0)) == NULL) {
		err_set(err, "%s: %s", what, zip_strerror(za));
		goto out;
	}
	size_t got = 0;
	while (got < zs.size) {
		zip_int64_t n = zip_fread(zf, buf + got, zs.size - got);
		if (n < 0) {
			err_set(err, "%s: %s", what, zip_file_strerror(zf));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got != zs.size) {
		err_set(err, "%s: truncated zip entry", what);
		goto out;
	}
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
	/* (make fuzz skips this so that mutated entries reach the parsers) */
	if ((zs.valid & ZIP_STAT_CRC) && crc32_z(0, buf, got) != zs.crc) {
		err_set(err, "%s: CRC mismatch (corrupt file)", what);
		goto out;
	}
#endif
	*out = weights_own(w, buf);
	*out_len = got;
	buf = NULL;
	rc = 0;
out:
	if (zf != NULL)
		zip_fclose(zf);
	free(buf);
	return rc;
}

/* Find <prefix>/data.pkl; any single top-level directory is the prefix. */
static zip_int64_t
weights_pt_find_pkl(struct weights_pt *pt, struct err *err)
{
	zip_int64_t n = zip_get_num_entries(pt->za, 0);

	for (zip_int64_t i = 0; i < n; i++) {
		const char *name = zip_get_name(pt->za, (zip_uint64_t)i, 0);
		const char *slash = name ? strchr(name, '/') : NULL;
		if (slash == NULL || slash == name ||
		    strcmp(slash, "/data.pkl") != 0)
			continue;
		pt->prefix = xstrndup(name, (size_t)(slash - name));
		return i;
	}
	err_set(err, "no data.pkl in the archive (not a PyTorch checkpoint)");
	return -1;
}

/* Storages are little-endian; so are the dtypes we expose. */
static int
weights_pt_byteorder(struct weights *w, struct weights_pt *pt,
    struct err *err)
{
	char		*name = xasprintf("%s/byteorder", pt->prefix);
	zip_int64_t	 idx = zip_name_locate(pt->za, name, 0);
	unsigned char	*d;
	size_t		 len;
	int		 rc = 0;

	/* older files have no byteorder entry: they are little-endian */
	if (idx >= 0) {
		rc = weights_zip_read(w, pt, idx, "byteorder",
		    WEIGHTS_PT_ANY_SIZE, 64, &d, &len, err);
		if (rc == 0 && (len != 6 || memcmp(d, "little", 6) != 0)) {
			err_set(err, "byteorder: only little-endian "
			    "checkpoints are supported");
			rc = -1;
		}
	}
	free(name);
	return rc;
}

/* The bytes of a storage, read once however many tensors view it. */
static struct weights_storage *
weights_pt_storage(struct weights *w, struct weights_pt *pt,
    const char *tname, const struct pickle_value *s, struct err *err)
{
	for (size_t i = 0; i < pt->n_st; i++)
		if (strcmp(pt->st[i].key, s->s) == 0)
			return &pt->st[i];
	char *name = xasprintf("%s/data/%s", pt->prefix, s->s);
	char *what = xasprintf("data/%s", s->s);
	zip_int64_t idx = zip_name_locate(pt->za, name, 0);
	struct weights_storage st = { .key = s->s };
	size_t declared;
	int rc = -1;
	if (idx < 0)
		err_set(err, "tensor '%s': storage data/%s is missing", tname,
		    s->s);
	else if (s->i < 0 || (uint64_t)s->i > SIZE_MAX ||
	    util_mul_size((size_t)s->i, s->elem_size, &declared) != 0 ||
	    declared == WEIGHTS_PT_ANY_SIZE)
		err_set(err, "%s: the pickle declares %lld elements of %zu "
		    "bytes", what, (long long)s->i, s->elem_size);
	else if (declared > pt->st_allow - pt->st_total)
		err_set(err, "%s: the pickle declares %zu bytes, far more than "
		    "its tensors need (%zu bytes in all)", what, declared,
		    pt->st_allow - WEIGHTS_PT_SLACK);
	else
		rc = weights_zip_read(w, pt, idx, what, declared,
		    WEIGHTS_PT_ANY_SIZE, &st.data, &st.len, err);
	free(what);
	free(name);
	if (rc != 0)
		return NULL;
	pt->st_total += st.len;
	pt->st = xreallocarray(pt->st, pt->n_st + 1, sizeof *pt->st);
	pt->st[pt->n_st] = st;
	return &pt->st[pt->n_st++];
}

/* Row-major strides, ignoring dimensions of size 1 (any stride works). */
static int
weights_pt_contiguous(const struct pickle_value *t)
{
	int64_t want = 1;

	for (int d = t->n_dims - 1; d >= 0; d--) {
		if (t->shape[d] == 0)
			return 1;
		if (t->shape[d] != 1 && t->stride[d] != want)
			return 0;
		want *= t->shape[d];
	}
	return 1;
}

/* One state-dict entry: check the view and point at its bytes. */
static int
weights_pt_tensor(struct weights *w, struct weights_pt *pt, const char *name,
    const struct pickle_value *v, struct err *err)
{
	static const enum weights_dtype dts[] = { WEIGHTS_F32, WEIGHTS_BF16,
	    WEIGHTS_F16 };
	size_t bytes, off, end;

	if (v->kind != PICKLE_TENSOR) {
		err_set(err, "'%s' is a %s, not a tensor (expected a state "
		    "dict or {\"model\": state_dict, ...})", name,
		    pickle_kind_name(v->kind));
		return -1;
	}
	if (v->dtype == PICKLE_DT_OTHER) {
		err_set(err, "tensor '%s': %s is not supported (float32, "
		    "bfloat16, float16)", name, v->storage->storage->s);
		return -1;
	}
	struct weights_tensor *t = weights_add(w, name, dts[v->dtype],
	    v->n_dims, v->shape, &bytes, err);
	if (t == NULL)
		return -1;
	if (!weights_pt_contiguous(v)) {
		err_set(err, "tensor '%s' is not contiguous (save "
		    "tensor.contiguous())", name);
		return -1;
	}
	struct weights_storage *st = weights_pt_storage(w, pt, name,
	    v->storage, err);
	if (st == NULL)
		return -1;
	if (v->offset < 0 || (uint64_t)v->offset > SIZE_MAX ||
	    util_mul_size((size_t)v->offset, v->elem_size, &off) != 0 ||
	    util_add_size(off, bytes, &end) != 0 || end > st->len) {
		err_set(err, "tensor '%s': storage data/%s has %zu bytes, the "
		    "tensor needs %zu at offset %lld (truncated?)", name,
		    st->key, st->len, bytes, (long long)v->offset);
		return -1;
	}
	t->data = st->data + off;	/* malloc'd, so aligned */
	return 0;
}

/* Bytes the model's tensors take, as the pickle declares them, plus the
 * slack (saturating: an absurd shape is refused later, by name). */
static size_t
weights_pt_allow(const struct pickle_value *sd)
{
	size_t total = WEIGHTS_PT_SLACK;

	for (size_t i = 1; i < sd->n_items; i += 2) {
		const struct pickle_value *t = sd->items[i];
		size_t n = t->kind == PICKLE_TENSOR ? t->elem_size : 0;
		for (int d = 0; n != 0 && t->kind == PICKLE_TENSOR &&
		    d < t->n_dims; d++)
			if (t->shape[d] < 0 || util_mul_size(n,
			    (size_t)t->shape[d], &n) != 0)
				return SIZE_MAX;
		if (util_add_size(total, n, &total) != 0)
			return SIZE_MAX;
	}
	return total;
}

/* Pick the state dict: the root, or root["model"] of a training
 * checkpoint, whose "iteration" is kept. */
static const struct pickle_value *
weights_pt_state_dict(struct weights *w, const struct pickle_value *root,
    struct err *err)
{
	static const char *keys[] = { "model", "model_state_dict",
	    "state_dict" };

	if (root->kind != PICKLE_DICT) {
		err_set(err, "data.pkl holds a %s, not a state dict",
		    pickle_kind_name(root->kind));
		return NULL;
	}
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const struct pickle_value *sd = pickle_dict_get(root, keys[i]);
		if (sd == NULL || sd->kind != PICKLE_DICT)
			continue;
		const struct pickle_value *it = pickle_dict_get(root,
		    "iteration");
		if (it != NULL && it->kind == PICKLE_INT)
			w->iteration = it->i;
		return sd;
	}
	return root;
}

/* Read a .pt archive: parse data.pkl, then load the model's tensors. */
static int
weights_pt_parse(struct weights *w, zip_t *za, size_t zip_len,
    struct err *err)
{
	struct weights_pt	 pt = { .za = za, .zip_len = zip_len };
	struct pickle		*pk = NULL;
	unsigned char		*pkl;
	size_t			 pkl_len;
	int			 rc = -1;

	zip_int64_t idx = weights_pt_find_pkl(&pt, err);
	if (idx < 0 || weights_pt_byteorder(w, &pt, err) != 0 ||
	    weights_zip_read(w, &pt, idx, "data.pkl", WEIGHTS_PT_ANY_SIZE,
	    PICKLE_MAX_BYTES, &pkl, &pkl_len, err) != 0)
		goto out;
	if ((pk = pickle_parse(pkl, pkl_len, err)) == NULL) {
		err_prefix(err, "data.pkl");
		goto out;
	}
	const struct pickle_value *sd = weights_pt_state_dict(w,
	    pickle_root(pk), err);
	if (sd == NULL)
		goto out;
	pt.st_allow = weights_pt_allow(sd);
	for (size_t i = 0; i + 1 < sd->n_items; i += 2) {
		const struct pickle_value *k = sd->items[i];
		if (k->kind != PICKLE_STR) {
			err_set(err, "state dict key is a %s, not a string",
			    pickle_kind_name(k->kind));
			goto out;
		}
		if (weights_pt_tensor(w, &pt, k->s, sd->items[i + 1], err) != 0)
			goto out;
	}
	rc = weights_finish(w, err);
out:
	pickle_free(pk);
	free(pt.st);
	free(pt.prefix);
	return rc;
}
