/*
 * weights.c: find the tensors of a checkpoint.
 *
 * Two formats are read.  A .safetensors file is memory-mapped: an 8-byte
 * little-endian header length, a JSON header naming each tensor's dtype,
 * shape and byte range, then the data area; F32 tensors point straight into
 * the mapping and are never copied.  A PyTorch .pt file (the zip written by
 * torch.save) is read by weights_pt.c into buffers the weights object owns.
 *
 * A struct weights holds an array of tensors sorted by name (for
 * weights_find's binary search) and a list of owned blocks (names, storages,
 * aligned copies) freed together by weights_close().  Every size read from a
 * file is checked against the bytes that are really there before it is used.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "util.h"
#include "weights.h"
#include "weights_int.h"

/* HF's reader refuses bigger headers too; it keeps a lying length cheap. */
#define WEIGHTS_ST_HEADER_MAX	(100u << 20)
#define WEIGHTS_ORIG_MOD	"_orig_mod."

static struct weights *
weights_new(void)
{
	struct weights *w = xcalloc(1, sizeof *w);

	w->iteration = -1;
	return w;
}

/* Take ownership of a heap block; it is freed by weights_close(). */
void *
weights_own(struct weights *w, void *p)
{
	if (w->n_blocks == w->blocks_cap) {
		w->blocks_cap = w->blocks_cap ? w->blocks_cap * 2 : 16;
		w->blocks = xreallocarray(w->blocks, w->blocks_cap,
		    sizeof *w->blocks);
	}
	w->blocks[w->n_blocks++] = p;
	return p;
}

/*
 * A mapped file that another process truncates turns reads of the lost
 * pages into SIGBUS, which would kill lmsh without a word.  The mappings
 * are noted here, and a SIGBUS inside one says which file changed, then
 * exits with status 1.  This is the one place a library module prints: a
 * signal handler has no caller to return an error to.  A SIGBUS elsewhere
 * gets the default action.
 */
#define WEIGHTS_MAX_MAPS	8

static struct {
	const unsigned char	*volatile addr;	/* mapping, or NULL: free */
	size_t			 len;		/* bytes */
	char			 path[512];	/* file, truncated to fit */
} weights_maps[WEIGHTS_MAX_MAPS];
static pthread_mutex_t weights_maps_lock = PTHREAD_MUTEX_INITIALIZER;

static void
weights_sigbus(int sig, siginfo_t *si, void *ctx)
{
	static const char tail[] = ": the file changed (truncated?) while "
	    "lmsh had it mapped\n";
	const unsigned char *a = si->si_addr;

	(void)ctx;
	for (int i = 0; i < WEIGHTS_MAX_MAPS; i++) {
		const unsigned char *m = weights_maps[i].addr;
		if (m == NULL || a < m || a >= m + weights_maps[i].len)
			continue;
		if (write(2, "lmsh: ", 6) < 0 || write(2, weights_maps[i].path,
		    strlen(weights_maps[i].path)) < 0 ||
		    write(2, tail, sizeof tail - 1) < 0)
			_exit(1);
		_exit(1);
	}
	signal(sig, SIG_DFL);		/* not ours: fault again, and die */
}

static void
weights_sigbus_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = weights_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
}

/* Note a mapping of path for the SIGBUS handler (silently not, when the
 * table is full: the default action then applies). */
static void
weights_map_note(const void *addr, size_t len, const char *path)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, weights_sigbus_install);
	pthread_mutex_lock(&weights_maps_lock);
	for (int i = 0; i < WEIGHTS_MAX_MAPS; i++) {
		if (weights_maps[i].addr != NULL)
			continue;
		weights_maps[i].len = len;
		snprintf(weights_maps[i].path, sizeof weights_maps[i].path,
		    "%s", path);
		weights_maps[i].addr = addr;
		break;
	}
	pthread_mutex_unlock(&weights_maps_lock);
}

static void
weights_map_forget(const void *addr)
{
	pthread_mutex_lock(&weights_maps_lock);
	for (int i = 0; i < WEIGHTS_MAX_MAPS; i++)
		if (weights_maps[i].addr == addr)
			weights_maps[i].addr = NULL;
	pthread_mutex_unlock(&weights_maps_lock);
}

/*
 * Close a weights object: unmap the file and free every buffer it owns.
 * Every tensor pointer obtained from it becomes invalid.  NULL is ignored.
 */
void
weights_close(struct weights *w)
{
	if (w == NULL)
		return;
	if (w->map != NULL) {
		weights_map_forget(w->map);
		munmap(w->map, w->map_len);
	}
	for (size_t i = 0; i < w->n_blocks; i++)
		free(w->blocks[i]);
	free(w->blocks);
	free(w->t);
	free(w);
}

/*
 * The caller has copied tensor t (the model packs its matrices): give the
 * memory its pages take back to the kernel where they can be read again
 * from the file, so that the copy does not double the resident weights.
 * Buffers are left alone (views of one storage may share them).  t stays
 * valid: a later read faults its pages back in.
 */
void
weights_release(const struct weights *w, const struct weights_tensor *t)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), es;
	uintptr_t lo, hi, a, b;

	if (w->map == NULL)
		return;
	es = t->dtype == WEIGHTS_F32 ? 4 : 2;
	lo = (uintptr_t)w->map;
	hi = lo + w->map_len;
	a = (uintptr_t)t->data;
	if (a < lo || a >= hi || t->n_elems > (hi - a) / es)
		return;
	b = (a + t->n_elems * es) / pg * pg;
	a = (a + pg - 1) / pg * pg;
	if (a < b)
		madvise((void *)a, b - a, MADV_DONTNEED);
}

/*
 * Return the number of tensors in an open checkpoint.
 */
size_t
weights_count(const struct weights *w)
{
	return w->n_t;
}

/*
 * Return tensor i (0 <= i < weights_count()), in name order, or NULL when i
 * is out of range.  Valid until weights_close().
 */
const struct weights_tensor *
weights_get(const struct weights *w, size_t i)
{
	return i < w->n_t ? &w->t[i] : NULL;
}

static int
weights_cmp_tensor(const void *a, const void *b)
{
	const struct weights_tensor *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/*
 * Find a tensor by name (without any "_orig_mod." prefix).  Returns NULL when
 * the checkpoint has no such tensor; the result is valid until
 * weights_close().
 */
const struct weights_tensor *
weights_find(const struct weights *w, const char *name)
{
	struct weights_tensor key = { .name = name };

	if (w->n_t == 0)
		return NULL;
	return bsearch(&key, w->t, w->n_t, sizeof *w->t, weights_cmp_tensor);
}

/*
 * Return the "iteration" stored in a training checkpoint, or -1 when the
 * checkpoint has none (a raw state dict, a safetensors file).
 */
int64_t
weights_iteration(const struct weights *w)
{
	return w->iteration;
}

/*
 * Return the safetensors spelling of a dtype ("F32", "F16", "BF16").
 */
const char *
weights_dtype_name(enum weights_dtype dt)
{
	switch (dt) {
	case WEIGHTS_F32:
		return "F32";
	case WEIGHTS_F16:
		return "F16";
	case WEIGHTS_BF16:
		return "BF16";
	}
	return "?";
}

static size_t
weights_dtype_size(enum weights_dtype dt)
{
	return dt == WEIGHTS_F32 ? 4 : 2;
}

/* binary32 to binary16, rounding to nearest even as PyTorch does. */
static uint16_t
weights_f32_to_f16(float f)
{
	uint32_t bits, sign, exp, man;

	memcpy(&bits, &f, 4);
	sign = (bits >> 16) & 0x8000;
	exp = (bits >> 23) & 0xff;
	man = bits & 0x7fffff;
	if (exp == 0xff)		/* inf stays inf; NaN stays a quiet NaN */
		return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
	int e = (int)exp - 127 + 15;
	if (e >= 0x1f)
		return (uint16_t)(sign | 0x7c00);
	if (e <= 0) {
		if (e < -10)
			return (uint16_t)sign;
		/* subnormal result: make the implicit bit explicit, shift */
		man |= 0x800000;
		unsigned shift = (unsigned)(14 - e);
		uint32_t half = man >> shift;
		uint32_t rest = man & ((1u << shift) - 1);
		uint32_t mid = 1u << (shift - 1);
		if (rest > mid || (rest == mid && (half & 1)))
			half++;
		return (uint16_t)(sign | half);
	}
	uint32_t half = ((uint32_t)e << 10) | (man >> 13);
	uint32_t rest = man & 0x1fff;
	if (rest > 0x1000 || (rest == 0x1000 && (half & 1)))
		half++;			/* may carry into the exponent: right */
	return (uint16_t)(sign | half);
}

/* binary32 to bfloat16, rounding to nearest even (torch's .bfloat16()). */
static uint16_t
weights_f32_to_bf16(float f)
{
	uint32_t bits;

	memcpy(&bits, &f, 4);
	if ((bits & 0x7fffffff) > 0x7f800000)
		return (uint16_t)((bits >> 16) | 0x40);
	bits += 0x7fff + ((bits >> 16) & 1);
	return (uint16_t)(bits >> 16);
}

/*
 * Convert n elements of dtype dt at src (little-endian, any alignment) to
 * fp32 at dst.  The conversion is exact: every F16 and BF16 value is an
 * fp32 value.
 */
void
weights_to_f32(enum weights_dtype dt, const void *src, float *dst, size_t n)
{
	const unsigned char *p = src;

	switch (dt) {
	case WEIGHTS_F32:
		memmove(dst, src, n * sizeof *dst);
		break;
	case WEIGHTS_F16:
		for (size_t i = 0; i < n; i++)
			dst[i] = util_f16_to_f32((uint16_t)(p[2 * i] |
			    p[2 * i + 1] << 8));
		break;
	case WEIGHTS_BF16:
		for (size_t i = 0; i < n; i++)
			dst[i] = util_bf16_to_f32((uint16_t)(p[2 * i] |
			    p[2 * i + 1] << 8));
		break;
	}
}

/* Strip every leading "_orig_mod." that torch.compile put on a name. */
static const char *
weights_strip_name(const char *name)
{
	size_t n = strlen(WEIGHTS_ORIG_MOD);

	while (strncmp(name, WEIGHTS_ORIG_MOD, n) == 0)
		name += n;
	return name;
}

/*
 * Append a tensor.  The shape's product is checked for overflow here, once,
 * for both formats; *bytes gets the tensor's size in bytes.
 */
struct weights_tensor *
weights_add(struct weights *w, const char *name, enum weights_dtype dt,
    int n_dims, const int64_t *shape, size_t *bytes, struct err *err)
{
	size_t n = 1;

	if (n_dims < 0 || n_dims > WEIGHTS_MAX_DIMS) {
		err_set(err, "tensor '%s': %d dimensions (at most %d)", name,
		    n_dims, WEIGHTS_MAX_DIMS);
		return NULL;
	}
	for (int i = 0; i < n_dims; i++) {
		if (shape[i] < 0 || (uint64_t)shape[i] > SIZE_MAX ||
		    util_mul_size(n, (size_t)shape[i], &n) != 0) {
			err_set(err, "tensor '%s': absurd shape", name);
			return NULL;
		}
	}
	if (util_mul_size(n, weights_dtype_size(dt), bytes) != 0) {
		err_set(err, "tensor '%s': absurd shape", name);
		return NULL;
	}
	if (w->n_t == w->t_cap) {
		w->t_cap = w->t_cap ? w->t_cap * 2 : 64;
		w->t = xreallocarray(w->t, w->t_cap, sizeof *w->t);
	}
	struct weights_tensor *t = &w->t[w->n_t++];
	memset(t, 0, sizeof *t);
	t->name = weights_own(w, xstrdup(weights_strip_name(name)));
	t->dtype = dt;
	t->n_dims = n_dims;
	memcpy(t->shape, shape, (size_t)n_dims * sizeof *shape);
	t->n_elems = n;
	return t;
}

/*
 * Point a tensor at its bytes.  Data that is not aligned for its element
 * type (possible in a hostile or odd file) is copied to an owned buffer, so
 * that callers may always read it as float or uint16_t.
 */
static void
weights_set_data(struct weights *w, struct weights_tensor *t,
    const unsigned char *p, size_t bytes)
{
	if ((uintptr_t)p % weights_dtype_size(t->dtype) == 0) {
		t->data = p;
		return;
	}
	void *copy = weights_own(w, xmalloc(bytes ? bytes : 1));
	memcpy(copy, p, bytes);
	t->data = copy;
}

/* Sort by name and refuse duplicates (possible once prefixes are gone). */
int
weights_finish(struct weights *w, struct err *err)
{
	if (w->n_t > 1)
		qsort(w->t, w->n_t, sizeof *w->t, weights_cmp_tensor);
	for (size_t i = 1; i < w->n_t; i++) {
		if (strcmp(w->t[i - 1].name, w->t[i].name) == 0) {
			err_set(err, "tensor '%s' appears twice", w->t[i].name);
			return -1;
		}
	}
	return 0;
}

/* --- safetensors ---------------------------------------------------- */

static int
weights_st_dtype(const char *s, enum weights_dtype *dt)
{
	if (strcmp(s, "F32") == 0)
		*dt = WEIGHTS_F32;
	else if (strcmp(s, "F16") == 0)
		*dt = WEIGHTS_F16;
	else if (strcmp(s, "BF16") == 0)
		*dt = WEIGHTS_BF16;
	else
		return -1;
	return 0;
}

/* One header entry: {"dtype": ..., "shape": [...], "data_offsets": [b, e]}. */
static int
weights_st_entry(struct weights *w, const char *name, json_t *e,
    const unsigned char *data, size_t data_len, struct err *err)
{
	json_t *jdt = json_object_get(e, "dtype");
	json_t *jshape = json_object_get(e, "shape");
	json_t *joff = json_object_get(e, "data_offsets");
	enum weights_dtype dt;
	int64_t shape[WEIGHTS_MAX_DIMS];
	size_t bytes;

	if (!json_is_object(e) || !json_is_string(jdt) ||
	    !json_is_array(jshape) || !json_is_array(joff) ||
	    json_array_size(joff) != 2) {
		err_set(err, "tensor '%s': malformed header entry", name);
		return -1;
	}
	if (weights_st_dtype(json_string_value(jdt), &dt) != 0) {
		err_set(err, "tensor '%s': dtype %s is not supported "
		    "(F32, F16, BF16)", name, json_string_value(jdt));
		return -1;
	}
	size_t n_dims = json_array_size(jshape);
	if (n_dims > WEIGHTS_MAX_DIMS) {
		err_set(err, "tensor '%s': %zu dimensions (at most %d)", name,
		    n_dims, WEIGHTS_MAX_DIMS);
		return -1;
	}
	for (size_t i = 0; i < n_dims; i++) {
		json_t *d = json_array_get(jshape, i);
		if (!json_is_integer(d) || json_integer_value(d) < 0) {
			err_set(err, "tensor '%s': bad shape", name);
			return -1;
		}
		shape[i] = json_integer_value(d);
	}
	json_t *jb = json_array_get(joff, 0), *je = json_array_get(joff, 1);
	if (!json_is_integer(jb) || !json_is_integer(je) ||
	    json_integer_value(jb) < 0 ||
	    json_integer_value(je) < json_integer_value(jb)) {
		err_set(err, "tensor '%s': bad data_offsets", name);
		return -1;
	}
	uint64_t b = (uint64_t)json_integer_value(jb);
	uint64_t end = (uint64_t)json_integer_value(je);
	if (end > data_len) {
		err_set(err, "tensor '%s': data_offsets [%llu, %llu] beyond "
		    "the %zu bytes of data (truncated file?)", name,
		    (unsigned long long)b, (unsigned long long)end, data_len);
		return -1;
	}
	struct weights_tensor *t = weights_add(w, name, dt, (int)n_dims, shape,
	    &bytes, err);
	if (t == NULL)
		return -1;
	if (end - b != bytes) {
		err_set(err, "tensor '%s': data_offsets give %llu bytes, its "
		    "shape needs %zu", name, (unsigned long long)(end - b),
		    bytes);
		return -1;
	}
	weights_set_data(w, t, data + b, bytes);
	return 0;
}

/*
 * Parse a safetensors image p[0..len).  The tensors point into p, which must
 * outlive w.  Errors do not name the file; the caller adds it.
 */
static int
weights_st_parse(struct weights *w, const unsigned char *p, size_t len,
    struct err *err)
{
	json_t		*root = NULL;
	json_error_t	 jerr;
	const char	*key;
	json_t		*val;
	int		 rc = -1;

	/* torch.save before PyTorch 1.6 (or with
	 * _use_new_zipfile_serialization=False) wrote a bare pickle stream:
	 * PROTO 2, then the LONG1 magic number 0x1950a86a20f9469cfc6c */
	static const unsigned char legacy[] = { 0x80, 0x02, 0x8a, 0x0a, 0x6c,
	    0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19 };
	if (len >= sizeof legacy && memcmp(p, legacy, sizeof legacy) == 0) {
		err_set(err, "a legacy PyTorch file (not a zip), which lmsh "
		    "does not read: save it again with torch.save() from "
		    "PyTorch 1.6 or later (the default zip format)");
		return -1;
	}
	if (len < 8) {
		err_set(err, "too short for a safetensors file (%zu bytes)",
		    len);
		return -1;
	}
	uint64_t hlen = 0;
	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | p[i];
	if (hlen > len - 8) {
		err_set(err, "header length %llu is beyond the end of the file "
		    "(%zu bytes; truncated or not safetensors)",
		    (unsigned long long)hlen, len);
		return -1;
	}
	if (hlen > WEIGHTS_ST_HEADER_MAX) {
		err_set(err, "header length %llu is absurd",
		    (unsigned long long)hlen);
		return -1;
	}
	root = json_loadb((const char *)p + 8, (size_t)hlen,
	    JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		err_set(err, "bad header: %s", jerr.text);
		goto out;
	}
	if (!json_is_object(root)) {
		err_set(err, "bad header: not a JSON object");
		goto out;
	}
	const unsigned char *data = p + 8 + hlen;
	size_t data_len = len - 8 - (size_t)hlen;
	json_object_foreach(root, key, val) {
		if (strcmp(key, "__metadata__") == 0)
			continue;
		if (weights_st_entry(w, key, val, data, data_len, err) != 0)
			goto out;
	}
	rc = weights_finish(w, err);
out:
	json_decref(root);
	return rc;
}

static int
weights_is_zip(const unsigned char *p, size_t len)
{
	return len >= 4 && memcmp(p, "PK\003\004", 4) == 0;
}

/* Parse a checkpoint image in memory: a .pt zip or safetensors. */
static int
weights_parse_mem(struct weights *w, const unsigned char *p, size_t len,
    struct err *err)
{
	if (weights_is_zip(p, len)) {
		return weights_pt_parse_mem(w, p, len, err);
	}
	return weights_st_parse(w, p, len, err);
}

/* Names and strings from a hostile file end up in messages: keep the
 * message one printable line. */
static void
weights_err_clean(struct err *err)
{
	if (err == NULL)
		return;
	for (char *c = err->msg; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

/*
 * Open a checkpoint held in memory (len bytes at data, copied): a
 * safetensors image or a .pt zip.  name is used only in error messages.
 * Meant for tests and fuzzers; weights_open() maps files instead.
 */
struct weights *
weights_open_mem(const char *name, const void *data, size_t len,
    struct err *err)
{
	struct weights *w = weights_new();
	unsigned char *copy = weights_own(w, xmalloc(len ? len : 1));

	if (len > 0)
		memcpy(copy, data, len);
	if (weights_parse_mem(w, copy, len, err) != 0) {
		err_prefix(err, "%s", name);
		weights_err_clean(err);
		weights_close(w);
		return NULL;
	}
	return w;
}

/*
 * Open a checkpoint: a .safetensors file (memory-mapped: F32 tensors point
 * into the mapping), a PyTorch .pt zip (raw state dict or a training
 * checkpoint {"model": ..., "optimizer": ..., "iteration": N}; the optimizer
 * state is parsed but its tensors are never read) or a model directory (its
 * model.safetensors).  The format is told by the file's first bytes, not its
 * name.  A .pt is read through libzip and its model's storages copied out
 * (CRC-checked); the optimizer's are never read.  Returns NULL with one line in err naming the file and the problem.
 * Caller closes with weights_close().
 */
struct weights *
weights_open(const char *path, struct err *err)
{
	struct weights	*w = NULL;
	struct stat	 st;
	char		*file = NULL;
	int		 fd = -1;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		path = file = xasprintf("%s/model.safetensors", path);
	if ((fd = open(path, O_RDONLY)) == -1 || fstat(fd, &st) != 0) {
		err_set(err, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err_set(err, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_size == 0) {
		err_set(err, "%s: empty file", path);
		goto out;
	}
	w = weights_new();
	unsigned char magic[4];
	if (pread(fd, magic, 4, 0) == 4 && weights_is_zip(magic, 4)) {
		/* storages are copied out of a .pt: reading it through libzip
		 * rather than a mapping keeps the peak at one copy */
		int rc = weights_pt_open_fd(w, fd, (size_t)st.st_size, err);
		fd = -1;	/* consumed either way */
		if (rc != 0)
			goto fail;
		goto out;
	}
	w->map_len = (size_t)st.st_size;
	w->map = mmap(NULL, w->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (w->map == MAP_FAILED) {
		w->map = NULL;
		err_set(err, "mmap: %s", strerror(errno)); /* fail: names path */
		goto fail;
	}
	weights_map_note(w->map, w->map_len, path);
	if (weights_st_parse(w, w->map, w->map_len, err) != 0)
		goto fail;
	goto out;
fail:
	err_prefix(err, "%s", path);
	weights_close(w);
	w = NULL;
out:
	if (w == NULL)
		weights_err_clean(err);
	if (fd != -1)
		close(fd);
	free(file);
	return w;
}

/* --- writing ------------------------------------------------------------- */

static int
weights_cmp_out(const void *a, const void *b)
{
	const struct weights_out *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

/* Convert and write one tensor's data in chunks (no full-size copy). */
static int
weights_write_data(FILE *f, const struct weights_out *o, size_t n,
    enum weights_dtype dt)
{
	unsigned char	chunk[8192];
	size_t		per = sizeof chunk / weights_dtype_size(dt);

	for (size_t i = 0; i < n; i += per) {
		size_t k = n - i < per ? n - i : per;
		for (size_t j = 0; j < k; j++) {
			float v = o->data[i + j];
			uint32_t bits;
			uint16_t h;

			switch (dt) {
			case WEIGHTS_F32:
				memcpy(&bits, &v, 4);
				for (int b = 0; b < 4; b++)
					chunk[4 * j + b] = bits >> (8 * b);
				break;
			case WEIGHTS_F16:
			case WEIGHTS_BF16:
				h = dt == WEIGHTS_F16 ? weights_f32_to_f16(v) :
				    weights_f32_to_bf16(v);
				chunk[2 * j] = h & 0xff;
				chunk[2 * j + 1] = h >> 8;
				break;
			}
		}
		if (fwrite(chunk, weights_dtype_size(dt), k, f) != k)
			return -1;
	}
	return 0;
}

/* Element counts of the outputs; -1 when a shape overflows. */
static int
weights_out_sizes(const struct weights_out *const *o, size_t n, size_t *ne,
    enum weights_dtype dt, struct err *err)
{
	for (size_t i = 0; i < n; i++) {
		size_t k = 1, b;
		if (o[i]->n_dims < 0 || o[i]->n_dims > WEIGHTS_MAX_DIMS)
			goto bad;
		for (int d = 0; d < o[i]->n_dims; d++)
			if (o[i]->shape[d] < 0 || util_mul_size(k,
			    (size_t)o[i]->shape[d], &k) != 0)
				goto bad;
		if (util_mul_size(k, weights_dtype_size(dt), &b) != 0)
			goto bad;
		ne[i] = k;
		continue;
bad:
		err_set(err, "tensor '%s': bad shape", o[i]->name);
		return -1;
	}
	return 0;
}

/*
 * Append the safetensors header of the sorted tensors o, laid out back to
 * back: compact JSON, metadata first.  0, or -1 when a name is not UTF-8.
 */
static int
weights_header(struct buf *h, const struct weights_out **o, const size_t *ne,
    size_t n, enum weights_dtype dt, struct err *err)
{
	json_t	*root = json_object(), *meta = json_object();
	size_t	 off = 0;
	char	*s;

	json_object_set_new(meta, "format", json_string("pt"));
	json_object_set_new(root, "__metadata__", meta);
	for (size_t i = 0; i < n; i++) {
		size_t	 bytes = ne[i] * weights_dtype_size(dt);
		json_t	*t = json_object(), *shape = json_array();

		for (int d = 0; d < o[i]->n_dims; d++)
			json_array_append_new(shape,
			    json_integer((json_int_t)o[i]->shape[d]));
		json_object_set_new(t, "dtype",
		    json_string(weights_dtype_name(dt)));
		json_object_set_new(t, "shape", shape);
		json_object_set_new(t, "data_offsets", json_pack("[II]",
		    (json_int_t)off, (json_int_t)(off + bytes)));
		if (json_object_set_new(root, o[i]->name, t) != 0) {
			err_set(err, "tensor name '%s' is not UTF-8",
			    o[i]->name);
			json_decref(root);
			return -1;
		}
		off += bytes;
	}
	if ((s = json_dumps(root, JSON_COMPACT)) == NULL)
		util_fatal("json: out of memory");
	buf_puts(h, s);
	free(s);
	json_decref(root);
	return 0;
}

/*
 * Write n tensors (fp32 data, converted to dt: F32, F16 or BF16) as a
 * .safetensors file at path.  As Hugging Face's writer does, tensors are
 * sorted by name, laid out back to back in that order, and the header is
 * padded with spaces to a multiple of 8 bytes.  The file is written to a
 * temporary name beside path and renamed, so path is either the old file or
 * the complete new one.  Returns 0, or -1 with err set.
 */
int
weights_write_safetensors(const char *path, const struct weights_out *out,
    size_t n, enum weights_dtype dt, struct err *err)
{
	const struct weights_out **o = xcalloc(n ? n : 1, sizeof *o);
	size_t		*ne = xcalloc(n ? n : 1, sizeof *ne);
	char		*tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	struct buf	 h;
	FILE		*f = NULL;
	int		 rc = -1;

	buf_init(&h);
	for (size_t i = 0; i < n; i++)
		o[i] = &out[i];
	qsort(o, n, sizeof *o, weights_cmp_out);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(o[i - 1]->name, o[i]->name) == 0) {
			err_set(err, "%s: tensor '%s' given twice", path,
			    o[i]->name);
			goto out;
		}
	}
	if (weights_out_sizes(o, n, ne, dt, err) != 0) {
		err_prefix(err, "%s", path);
		goto out;
	}

	/* header */
	if (weights_header(&h, o, ne, n, dt, err) != 0) {
		err_prefix(err, "%s", path);
		goto out;
	}
	while (h.len % 8 != 0)
		buf_puts(&h, " ");

	/* file */
	if ((f = fopen(tmp, "wb")) == NULL) {
		err_set(err, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	unsigned char le[8];
	for (int b = 0; b < 8; b++)
		le[b] = (unsigned char)((uint64_t)h.len >> (8 * b));
	if (fwrite(le, 1, 8, f) != 8 || fwrite(h.data, 1, h.len, f) != h.len)
		goto write_fail;
	for (size_t i = 0; i < n; i++)
		if (weights_write_data(f, o[i], ne[i], dt) != 0)
			goto write_fail;
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		goto write_fail;
	if (fclose(f) != 0) {
		f = NULL;
		goto write_fail;
	}
	f = NULL;
	if (rename(tmp, path) != 0) {
		err_set(err, "%s: rename: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	rc = 0;
	goto out;
write_fail:
	err_set(err, "%s: write: %s", path, strerror(errno));
	if (f != NULL)
		fclose(f);
	f = NULL;
	unlink(tmp);
out:
	buf_fini(&h);
	free(tmp);
	free(ne);
	free(o);
	return rc;
}
