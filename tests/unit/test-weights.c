/*
 * test-weights.c: the checkpoint loader (src/weights.c).
 *
 * Covers: safetensors F32/BF16/F16 against the values torch reads back
 * (tests/data/weights/expected.txt, from tools/gen-weights-fixtures.py),
 * unaligned data, "_orig_mod." prefixes, model directories, the writer
 * (bit-exact f16/bf16 rounding against torch, sorted names, 8-byte header
 * padding, atomic replace), and refusals: truncation at every offset, lying
 * headers, absurd shapes, bad dtypes.  PyTorch .pt checkpoints: raw state
 * dicts, training checkpoints (iteration, optimizer skipped), _orig_mod.,
 * bf16/f16 storages, views with a storage offset, protocol 4, a real file
 * from another PyTorch version, and hostile or broken archives, memory
 * bombs included: a storage entry bigger than the pickle declares, a
 * storage far bigger than the tensors that view it, a data.pkl
 * of EMPTY_LIST opcodes, a data.pkl over the unpickler's budget.  A legacy
 * (non-zip) torch file is named as such; a mapped file truncated while it
 * is read gives a message naming it, not a bare SIGBUS.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <zip.h>

#include "check.h"
#include "pickle.h"
#include "util.h"
#include "weights.h"

static char tmpdir[256];

static char *
data_path(const char *name)
{
	return xasprintf("%s/weights/%s", check_data_dir(), name);
}

static char *
read_all(const char *name, size_t *len)
{
	char		*p = data_path(name), *d = NULL;
	struct err	 err;

	if (util_read_file(p, &d, len, &err) != 0) {
		fprintf(stderr, "%s\n", err.msg);
		exit(99);
	}
	free(p);
	return d;
}

static struct weights *
open_fixture(const char *name, struct err *err)
{
	char *p = data_path(name);
	struct weights *w = weights_open(p, err);

	free(p);
	return w;
}

/* Does err name the file and contain the phrase? */
static int
err_says(const struct err *err, const char *file, const char *phrase)
{
	return strstr(err->msg, file) != NULL &&
	    strstr(err->msg, phrase) != NULL;
}

/* One line of expected.txt: check the tensor's dtype, shape and values. */
static void
check_expected_line(char *line)
{
	char		*save, *file, *name, *dt, *shape;
	struct err	 err;
	struct weights	*w;

	file = strtok_r(line, " \n", &save);
	name = strtok_r(NULL, " \n", &save);
	dt = strtok_r(NULL, " \n", &save);
	shape = strtok_r(NULL, " \n", &save);
	if (file == NULL || shape == NULL)
		return;
	if ((w = open_fixture(file, &err)) == NULL) {
		CHECK_MSG(0, "%s", err.msg);
		return;
	}
	const struct weights_tensor *t = weights_find(w, name);
	CHECK_MSG(t != NULL, "%s: no tensor %s", file, name);
	if (t == NULL)
		goto out;
	CHECK_MSG(strcmp(weights_dtype_name(t->dtype), dt) == 0, "%s %s: %s",
	    file, name, weights_dtype_name(t->dtype));
	int n_dims = 0;
	if (strcmp(shape, "-") != 0) {
		for (char *s2, *d = strtok_r(shape, ",", &s2); d != NULL;
		    d = strtok_r(NULL, ",", &s2)) {
			CHECK(n_dims < t->n_dims &&
			    t->shape[n_dims] == atoll(d));
			n_dims++;
		}
	}
	CHECK_MSG(n_dims == t->n_dims, "%s %s: %d dims", file, name,
	    t->n_dims);
	CHECK((uintptr_t)t->data % (t->dtype == WEIGHTS_F32 ? 4 : 2) == 0);
	float *f = xcalloc(t->n_elems + 1, sizeof *f);
	weights_to_f32(t->dtype, t->data, f, t->n_elems);
	size_t i = 0;
	for (char *v = strtok_r(NULL, " \n", &save); v != NULL;
	    v = strtok_r(NULL, " \n", &save), i++) {
		float want = strtof(v, NULL);
		CHECK_MSG(i < t->n_elems && memcmp(&f[i], &want, 4) == 0,
		    "%s %s[%zu]: %.9g, torch %.9g", file, name, i,
		    i < t->n_elems ? f[i] : NAN, want);
	}
	CHECK_MSG(i == t->n_elems, "%s %s: %zu values, torch %zu", file, name,
	    t->n_elems, i);
	free(f);
out:
	weights_close(w);
}

static void
test_expected(void)
{
	char *path = data_path("expected.txt");
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	int n = 0;

	if (f == NULL) {
		perror(path);
		exit(99);
	}
	while (getline(&line, &cap, f) > 0) {
		if (line[0] == '#')
			continue;
		check_expected_line(line);
		n++;
	}
	CHECK(n >= 15);
	free(line);
	fclose(f);
	free(path);
}

static void
test_safetensors_basics(void)
{
	struct err err;
	struct weights *w = open_fixture("f32.safetensors", &err);

	CHECK_MSG(w != NULL, "%s", err.msg);
	if (w == NULL)
		return;
	CHECK(weights_count(w) == 4);
	CHECK(weights_iteration(w) == -1);
	/* sorted by name, so weights_get walks in name order */
	CHECK(strcmp(weights_get(w, 0)->name, "layers.0.ln1.weight") == 0);
	CHECK(strcmp(weights_get(w, 3)->name, "token_embeddings.weight") == 0);
	CHECK(weights_get(w, 4) == NULL);
	CHECK(weights_find(w, "nope") == NULL);
	const struct weights_tensor *s = weights_find(w, "scalar");
	CHECK(s != NULL && s->n_dims == 0 && s->n_elems == 1 &&
	    *(const float *)s->data == 2.5f);

	/* "_orig_mod." is stripped and the data is the same */
	struct weights *p = open_fixture("orig-mod.safetensors", &err);
	CHECK_MSG(p != NULL, "%s", err.msg);
	if (p != NULL) {
		CHECK(weights_count(p) == 4);
		const struct weights_tensor *a, *b;
		a = weights_find(w, "lm_head.weight");
		b = weights_find(p, "lm_head.weight");
		CHECK(a != NULL && b != NULL &&
		    memcmp(a->data, b->data, 4 * 20) == 0);
	}
	weights_close(p);
	weights_close(w);
	weights_close(NULL);
}

/* Bytes of one tensor's data, from a file or a written file. */
static int
tensor_bytes_equal(const char *path_a, const char *path_b, const char *name)
{
	struct err err;
	struct weights *a = weights_open(path_a, &err);
	struct weights *b = a ? weights_open(path_b, &err) : NULL;
	int eq = 0;

	if (b == NULL)
		fprintf(stderr, "%s\n", err.msg);
	else {
		const struct weights_tensor *x = weights_find(a, name);
		const struct weights_tensor *y = weights_find(b, name);
		eq = x != NULL && y != NULL && x->dtype == y->dtype &&
		    x->n_elems == y->n_elems && memcmp(x->data, y->data,
		    x->n_elems * (x->dtype == WEIGHTS_F32 ? 4 : 2)) == 0;
	}
	weights_close(b);
	weights_close(a);
	return eq;
}

/* f16/bf16 rounding of the writer matches torch bit for bit. */
static void
test_write_rounding(void)
{
	struct err err;
	struct weights *w = open_fixture("special-f32.safetensors", &err);
	const enum weights_dtype dts[] = { WEIGHTS_F32, WEIGHTS_BF16,
	    WEIGHTS_F16 };
	const char *ref[] = { "special-f32.safetensors",
	    "special-bf16.safetensors", "special-f16.safetensors" };

	CHECK_MSG(w != NULL, "%s", err.msg);
	if (w == NULL)
		return;
	const struct weights_tensor *t = weights_find(w, "special");
	struct weights_out o = { .name = "special", .n_dims = 1,
	    .shape = { t->shape[0] }, .data = t->data };
	for (int i = 0; i < 3; i++) {
		char *out = xasprintf("%s/r%d.safetensors", tmpdir, i);
		char *rp = data_path(ref[i]);
		CHECK_MSG(weights_write_safetensors(out, &o, 1, dts[i], &err) ==
		    0, "%s", err.msg);
		CHECK_MSG(tensor_bytes_equal(out, rp, "special"),
		    "%s differs from torch", ref[i]);
		free(rp);
		free(out);
	}
	weights_close(w);
}

/* The writer's layout, and a round trip through a model directory. */
static void
test_write_layout(void)
{
	struct err err;
	struct weights *w = open_fixture("f32.safetensors", &err);
	struct weights_out o[4];
	size_t n = 0;

	CHECK_MSG(w != NULL, "%s", err.msg);
	if (w == NULL)
		return;
	/* give them in reverse order: the writer sorts */
	for (size_t i = weights_count(w); i-- > 0; n++) {
		const struct weights_tensor *t = weights_get(w, i);
		o[n].name = t->name;
		o[n].n_dims = t->n_dims;
		memcpy(o[n].shape, t->shape, sizeof t->shape);
		o[n].data = t->data;
	}
	char *dir = xasprintf("%s/model", tmpdir);
	char *out = xasprintf("%s/model.safetensors", dir);
	CHECK(mkdir(dir, 0755) == 0);
	CHECK_MSG(weights_write_safetensors(out, o, n, WEIGHTS_F32, &err) == 0,
	    "%s", err.msg);
	/* byte-identical to the generator's HF-layout file */
	size_t la, lb;
	char *a = read_all("f32.safetensors", &la), *b;
	CHECK(util_read_file(out, &b, &lb, &err) == 0);
	CHECK(la == lb && memcmp(a, b, la) == 0);
	uint64_t hlen = 0;
	memcpy(&hlen, b, 8);
	CHECK(hlen % 8 == 0 && b[8 + hlen - 1] == ' ');
	free(a);
	free(b);

	/* a directory opens its model.safetensors */
	struct weights *d = weights_open(dir, &err);
	CHECK_MSG(d != NULL, "%s", err.msg);
	CHECK(d != NULL && weights_count(d) == 4);
	weights_close(d);

	/* a failing write leaves the old file in place */
	o[0].shape[0] = -1;
	CHECK(weights_write_safetensors(out, o, n, WEIGHTS_F32, &err) == -1);
	CHECK(err_says(&err, out, "bad shape"));
	o[0].shape[0] = o[1].shape[0];
	o[0].name = o[1].name;
	CHECK(weights_write_safetensors(out, o, n, WEIGHTS_F32, &err) == -1);
	CHECK(err_says(&err, out, "twice"));
	d = weights_open(out, &err);
	CHECK(d != NULL && weights_count(d) == 4);
	weights_close(d);
	CHECK(weights_write_safetensors("/nonexistent/x.safetensors", o, 1,
	    WEIGHTS_F32, &err) == -1);
	CHECK(strstr(err.msg, "/nonexistent/x.safetensors") != NULL);
	unlink(out);
	rmdir(dir);
	free(out);
	free(dir);
	weights_close(w);
}

/* Every proper prefix of a valid file is refused with the file's name. */
static void
test_truncated(const char *name)
{
	size_t len;
	char *d = read_all(name, &len);
	struct err err;
	int bad = 0;

	for (size_t cut = 0; cut < len; cut++) {
		struct weights *w = weights_open_mem(name, d, cut, &err);
		if (w != NULL || strncmp(err.msg, name, strlen(name)) != 0) {
			if (bad++ < 3)
				fprintf(stderr, "%s cut at %zu: %s\n", name,
				    cut, w ? "accepted" : err.msg);
		}
		weights_close(w);
	}
	CHECK_MSG(bad == 0, "%s: %d cuts accepted or badly reported", name,
	    bad);
	struct weights *w = weights_open_mem(name, d, len, &err);
	CHECK_MSG(w != NULL, "%s", err.msg);
	weights_close(w);
	free(d);
}

/* A safetensors image from a header string and n data bytes. */
static struct weights *
open_st(const char *hdr, size_t n_data, struct err *err)
{
	size_t hl = strlen(hdr), len = 8 + hl + n_data;
	unsigned char *p = xcalloc(1, len);

	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)((uint64_t)hl >> (8 * i));
	memcpy(p + 8, hdr, hl);
	struct weights *w = weights_open_mem("x.safetensors", p, len, err);
	free(p);
	return w;
}

static void
expect_st_error(const char *hdr, size_t n_data, const char *phrase)
{
	struct err err;
	struct weights *w = open_st(hdr, n_data, &err);

	CHECK_MSG(w == NULL, "accepted: %s", hdr);
	CHECK_MSG(w != NULL || err_says(&err, "x.safetensors", phrase),
	    "%s: got '%s', want '%s'", hdr, err.msg, phrase);
	weights_close(w);
}

static void
test_safetensors_errors(void)
{
	struct err err;

	/* a good one first, so the helper itself is known to work */
	struct weights *w = open_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
	    "\"data_offsets\":[0,8]},\"__metadata__\":{\"x\":\"y\"}}", 8, &err);
	CHECK_MSG(w != NULL && weights_count(w) == 1, "%s", err.msg);
	weights_close(w);
	/* overlapping ranges are harmless for a read-only mapping */
	w = open_st("{\"a\":{\"dtype\":\"F16\",\"shape\":[2],"
	    "\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"BF16\",\"shape\":[1],"
	    "\"data_offsets\":[2,4]}}", 4, &err);
	CHECK_MSG(w != NULL && weights_count(w) == 2, "%s", err.msg);
	weights_close(w);

	expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
	    "\"data_offsets\":[0,8]}}", 7, "beyond");
	expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],"
	    "\"data_offsets\":[0,8]}}", 8, "shape needs 12");
	expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
	    "\"data_offsets\":[4,0]}}", 8, "bad data_offsets");
	expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
	    "\"data_offsets\":[-8,0]}}", 8, "bad data_offsets");
	expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
	    "\"data_offsets\":[0,18446744073709551615]}}", 8, "bad header");
	expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":"
	    "[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
	    "absurd shape");
	expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":"
	    "[4611686018427387904],\"data_offsets\":[0,8]}}", 8,
	    "absurd shape");
	expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],"
	    "\"data_offsets\":[0,8]}}", 8, "bad shape");
	expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,"
	    "1],\"data_offsets\":[0,4]}}", 8, "9 dimensions");
	expect_st_error("{\"a\":{\"dtype\":\"I64\",\"shape\":[1],"
	    "\"data_offsets\":[0,8]}}", 8, "dtype I64 is not supported");
	expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8,
	    "malformed");
	expect_st_error("{\"a\":[1,2]}", 8, "malformed");
	expect_st_error("[1,2]", 8, "not a JSON object");
	expect_st_error("{\"a\":", 8, "bad header");
	expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],"
	    "\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],"
	    "\"data_offsets\":[4,8]}}", 8, "bad header");
	expect_st_error("{\"_orig_mod.a\":{\"dtype\":\"F32\",\"shape\":[1],"
	    "\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],"
	    "\"data_offsets\":[4,8]}}", 8, "'a' appears twice");

	/* control characters from the file never reach the message */
	w = open_st("{\"a\\nb\":{\"dtype\":\"I8\\u0007\",\"shape\":[1],"
	    "\"data_offsets\":[0,1]}}", 8, &err);
	CHECK_MSG(w == NULL && strstr(err.msg, "'a?b': dtype I8? is") != NULL,
	    "%s", err.msg);

	/* a header length past the end of the file */
	unsigned char big[16] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, '{', '}' };
	w = weights_open_mem("x.safetensors", big, sizeof big, &err);
	CHECK(w == NULL && err_says(&err, "x.safetensors", "beyond the end"));
	big[0] = 8;
	memset(big + 1, 0, 7);
	memset(big + 10, ' ', 6);
	w = weights_open_mem("x.safetensors", big, sizeof big, &err);
	CHECK_MSG(w != NULL && weights_count(w) == 0, "%s", err.msg);
	weights_close(w);

	/* files */
	w = open_fixture("no-such-file", &err);
	CHECK(w == NULL && strstr(err.msg, "no-such-file") != NULL);
	char *empty = xasprintf("%s/empty", tmpdir);
	FILE *f = fopen(empty, "w");
	fclose(f);
	w = weights_open(empty, &err);
	CHECK(w == NULL && err_says(&err, empty, "empty"));
	w = weights_open(tmpdir, &err);
	CHECK(w == NULL && err_says(&err, "model.safetensors", "No such"));
	unlink(empty);
	free(empty);
}

static void
test_pt_forms(void)
{
	struct err err;
	struct weights *w = open_fixture("train.pt", &err);

	/* a training checkpoint: the model only, prefixes gone */
	CHECK_MSG(w != NULL, "%s", err.msg);
	if (w != NULL) {
		CHECK(weights_count(w) == 2);
		CHECK(weights_iteration(w) == 1234);
		CHECK(weights_find(w, "weight") != NULL);
		CHECK(weights_find(w, "_orig_mod.weight") == NULL);
	}
	weights_close(w);

	/* views share one storage: "view" is big[3:6] */
	w = open_fixture("raw.pt", &err);
	CHECK_MSG(w != NULL, "%s", err.msg);
	if (w != NULL) {
		const struct weights_tensor *big = weights_find(w, "big");
		const struct weights_tensor *view = weights_find(w, "view");
		CHECK(big != NULL && view != NULL && view->n_elems == 12 &&
		    (const float *)view->data == (const float *)big->data + 12);
		CHECK(weights_iteration(w) == -1);
	}
	weights_close(w);

	/* the real file's data.pkl (another PyTorch), zeroed and deflated */
	w = open_fixture("cs336-2024-zeros.pt", &err);
	CHECK_MSG(w != NULL, "%s", err.msg);
	if (w != NULL) {
		const struct weights_tensor *t = weights_find(w,
		    "position_embeddings.weight");
		CHECK(weights_count(w) == 20);
		CHECK(t != NULL && t->n_dims == 2 && t->shape[0] == 64 &&
		    t->shape[1] == 128 && ((const float *)t->data)[100] == 0);
	}
	weights_close(w);
}

/* The real 2024 CS336 checkpoint, when shared/ sits beside the tree. */
static void
test_pt_real(void)
{
	const char *src = getenv("LMSH_SRCDIR");
	char *path = xasprintf("%s/../shared/data/cs336-2024-checkpoint/"
	    "transformer_lm_weights.pt", src ? src : ".");
	char *ref = data_path("cs336-2024.txt");
	FILE *f = fopen(ref, "r");
	struct err err;
	struct weights *w = NULL;
	char line[512];
	int n = 0;

	if (access(path, R_OK) != 0 || f == NULL) {
		CHECK_SKIP("%s absent: the real-file check", path);
		goto out;
	}
	w = weights_open(path, &err);
	CHECK_MSG(w != NULL, "%s", err.msg);
	while (w != NULL && fgets(line, sizeof line, f) != NULL) {
		char name[256], shape[64];
		double sum, v[3];
		if (line[0] == '#' || sscanf(line, "%255s %63s %lf %lf %lf %lf",
		    name, shape, &sum, &v[0], &v[1], &v[2]) != 6)
			continue;
		const struct weights_tensor *t = weights_find(w, name);
		CHECK_MSG(t != NULL, "no %s", name);
		if (t == NULL)
			continue;
		const float *d = t->data;
		double s = 0;
		for (size_t i = 0; i < t->n_elems; i++)
			s += d[i];
		CHECK_NEAR(s, sum, 1e-6 * (1 + fabs(sum)));
		for (int i = 0; i < 3; i++)
			CHECK(d[i] == (float)v[i]);
		n++;
	}
	CHECK(w == NULL || (n == 20 && weights_count(w) == 20));
out:
	weights_close(w);
	if (f != NULL)
		fclose(f);
	free(ref);
	free(path);
}

/* Hostile and broken checkpoints: one clear line each. */
static void
test_pt_refusals(void)
{
	static const struct {
		const char *file, *phrase;
	} cases[] = {
		{ "evil-global.pt", "data.pkl: global 'os.system' is not "
		    "allowed" },
		{ "evil-stack-global.pt", "global 'builtins.eval' is not "
		    "allowed" },
		{ "evil-opcode.pt", "data.pkl: INST at offset 9: opcode 0x69 "
		    "is not allowed" },
		{ "no-pkl.pt", "no data.pkl" },
		{ "missing-storage.pt", "storage data/0 is missing" },
		{ "short-storage.pt", "data/0: entry is 76 bytes, the pickle "
		    "declares 80" },
		{ "big-endian.pt", "only little-endian" },
		{ "absurd-shape.pt", "tensor 'w': absurd shape" },
		{ "bad-offset.pt", "needs 16 at offset 18" },
		{ "neg-offset.pt", "at offset -1" },
		{ "bad-crc.pt", "CRC mismatch" },
		{ "noncontig.pt", "tensor 'w' is not contiguous" },
		{ "long.pt", "tensor 'ids': torch.LongStorage is not "
		    "supported" },
		{ "list.pt", "holds a list, not a state dict" },
		/* found by make fuzz: an entry claiming 4 GB, not allocated */
		{ "fuzz-oom-size.pt", "data/12: bad zip entry (size "
		    "4211015679 from 4294967218 bytes)" },
		/* memory bombs: 16 MiB for one float, refused uninflated */
		{ "bomb-storage.pt", "bomb-storage.pt: data/0: entry is "
		    "16777216 bytes, the pickle declares 4" },
		{ "bomb-pickle.pt", "data.pkl: over the unpickler's budget" },
		{ "legacy.pt", "legacy.pt: a legacy PyTorch file (not a zip)" },
	};
	struct err err;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct weights *w = open_fixture(cases[i].file, &err);
		CHECK_MSG(w == NULL, "%s accepted", cases[i].file);
		CHECK_MSG(w != NULL || (err_says(&err, cases[i].file,
		    cases[i].phrase) && strchr(err.msg, '\n') == NULL),
		    "%s: '%s'", cases[i].file, err.msg);
		weights_close(w);
	}
	CHECK(access("/tmp/lmsh-pwned", F_OK) != 0);
}

/* A zip whose central directory lies about an entry's size. */
static void
test_pt_zip_lies(void)
{
	size_t len;
	char *d = read_all("raw.pt", &len);
	static const char entry[] = "archive/data/0";
	struct err err;
	int found = 0;

	/* central directory headers: "PK\1\2", name at 46, sizes at 20/24 */
	for (size_t i = 0; i + 46 + sizeof entry - 1 <= len; i++) {
		if (memcmp(d + i, "PK\001\002", 4) != 0 ||
		    memcmp(d + i + 46, entry, sizeof entry - 1) != 0)
			continue;
		memcpy(d + i + 24, "\xff\xff\xff\x7f", 4);
		found = 1;
	}
	CHECK(found);
	struct weights *w = weights_open_mem("lie.pt", d, len, &err);
	CHECK_MSG(w == NULL && err_says(&err, "lie.pt", "bad zip entry"),
	    "%s", w ? "accepted" : err.msg);
	weights_close(w);

	/* a truncated .pt on disk goes through libzip's file reader */
	char *cut = xasprintf("%s/cut.pt", tmpdir);
	CHECK(util_write_file_atomic(cut, d, len / 2, &err) == 0);
	w = weights_open(cut, &err);
	CHECK_MSG(w == NULL && err_says(&err, cut, "not a readable zip"),
	    "%s", w ? "accepted" : err.msg);
	weights_close(w);
	unlink(cut);
	free(cut);

	/* not a zip at all past the magic */
	memcpy(d + 4, "garbage!", 8);
	w = weights_open_mem("junk.pt", d, 40, &err);
	CHECK_MSG(w == NULL && err_says(&err, "junk.pt", "not a readable zip"),
	    "%s", w ? "accepted" : err.msg);
	weights_close(w);
	free(d);
}

/* A data.pkl over the unpickler's budget is refused before it is
 * inflated; libzip deflates 64 MiB of EMPTY_LIST into about 64 KB. */
static void
test_pt_pkl_too_big(void)
{
	char *path = xasprintf("%s/big-pkl.pt", tmpdir);
	size_t len = (size_t)PICKLE_MAX_BYTES + 1;
	char *pkl = xmalloc(len);
	int zerr = 0;
	struct err err;

	memset(pkl, ']', len);
	zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
	zip_source_t *src = za ? zip_source_buffer(za, pkl, len, 0) : NULL;
	CHECK(src != NULL && zip_file_add(za, "archive/data.pkl", src, 0) >= 0);
	CHECK(za != NULL && zip_close(za) == 0);
	free(pkl);
	struct weights *w = weights_open(path, &err);
	CHECK_MSG(w == NULL && err_says(&err, path, "data.pkl: entry is "
	    "67108865 bytes (at most 67108864)"), "%s",
	    w ? "accepted" : err.msg);
	weights_close(w);
	unlink(path);
	free(path);
}

/* Another process truncates a mapped safetensors file: reading a tensor
 * then faults; the child must say which file and exit 1. */
static void
test_truncated_under_us(void)
{
	char *path = xasprintf("%s/bus.safetensors", tmpdir);
	char *log = xasprintf("%s/bus.log", tmpdir);
	size_t len;
	char *d = read_all("f32.safetensors", &len);
	struct err err;
	int status;

	CHECK(util_write_file_atomic(path, d, len, &err) == 0);
	free(d);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(99);
		struct weights *w = weights_open(path, &err);
		const struct weights_tensor *t = w ? weights_find(w,
		    "token_embeddings.weight") : NULL;
		if (t == NULL || truncate(path, 0) != 0)
			_exit(98);
		volatile float f = ((const float *)t->data)[0];
		(void)f;
		_exit(0);	/* read the truncated page without a fault? */
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 1,
	    "child: %s %d", WIFEXITED(status) ? "exit" : "signal",
	    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	d = NULL;
	if (util_read_file(log, &d, &len, &err) == 0) {
		char *want = xasprintf("lmsh: %s: the file changed (truncated?) "
		    "while lmsh had it mapped\n", path);
		CHECK_MSG(strcmp(d, want) == 0, "'%s'", d);
		free(want);
	} else
		CHECK_MSG(0, "%s", err.msg);
	free(d);
	unlink(log);
	unlink(path);
	free(log);
	free(path);
}

/* A pickle that declares an 80 MiB storage for its one-float tensor, and
 * the 80 MiB (deflated to 80 KB) to match: refused before inflating. */
static void
test_pt_storage_too_big(void)
{
	/* {'w': _rebuild_tensor_v2(storage('0', FloatStorage, numel
	 * 20971520), 0, (1,), (1,), False, OrderedDict())}, protocol 2 */
	static const char pkl[] =
	    "\200\002}q\000X\001\000\000\000wq\001ctorch._utils\012_re"
	    "build_tensor_v2\012q\002((X\007\000\000\000storageq\003ct"
	    "orch\012FloatStorage\012q\004X\001\000\000\0000q\005X\003"
	    "\000\000\000cpuq\006J\000\000@\001tq\007QK\000K\001\205q\010"
	    "K\001\205q\011\211ccollections\012OrderedDict\012q\012)Rq"
	    "\013tq\014Rq\015s.";
	char *path = xasprintf("%s/big-storage.pt", tmpdir);
	size_t len = (size_t)20971520 * 4;
	char *zeros = xcalloc(len, 1);
	int zerr = 0;
	struct err err;

	zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
	zip_source_t *s1 = za ? zip_source_buffer(za, pkl, sizeof pkl - 1, 0) :
	    NULL;
	CHECK(s1 != NULL && zip_file_add(za, "archive/data.pkl", s1, 0) >= 0);
	zip_source_t *s2 = za ? zip_source_buffer(za, zeros, len, 0) : NULL;
	CHECK(s2 != NULL && zip_file_add(za, "archive/data/0", s2, 0) >= 0);
	CHECK(za != NULL && zip_close(za) == 0);
	free(zeros);
	struct weights *w = weights_open(path, &err);
	CHECK_MSG(w == NULL && err_says(&err, path, "data/0: the pickle "
	    "declares 83886080 bytes, far more than its tensors need (4 "
	    "bytes in all)"), "%s", w ? "accepted" : err.msg);
	weights_close(w);
	unlink(path);
	free(path);
}

int
main(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/test-weights.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 99;
	}
	test_expected();
	test_safetensors_basics();
	test_write_rounding();
	test_write_layout();
	test_safetensors_errors();
	test_truncated("f32.safetensors");
	test_truncated("bf16.safetensors");
	test_pt_forms();
	test_pt_real();
	test_pt_refusals();
	test_pt_zip_lies();
	test_pt_pkl_too_big();
	test_pt_storage_too_big();
	test_truncated_under_us();
	test_truncated("raw.pt");
	test_truncated("train.pt");
	for (int i = 0; i < 3; i++) {
		char *p = xasprintf("%s/r%d.safetensors", tmpdir, i);
		unlink(p);
		free(p);
	}
	rmdir(tmpdir);
	CHECK_RESULT();
}
