/*
 * test-pickle.c: the restricted unpickler (src/pickle.c).
 *
 * Covers: plain data written by Python's pickle module at protocols 2, 4
 * and 5 (ints of every width, negative LONG1, floats, strings, bytes,
 * tuples, lists, dicts, None and bools, memo, FRAME, STACK_GLOBAL), the
 * data.pkl of a torch.save training checkpoint, refusal of globals and
 * opcodes by name, stack and mark errors, memo abuse, self-containing lists,
 * truncation at every offset, and the fixed budget against memory bombs
 * (many values, a deep stack, a huge list).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "pickle.h"
#include "util.h"

static char *
read_fixture(const char *name, size_t *len)
{
	char		*p = xasprintf("%s/weights/%s", check_data_dir(), name);
	char		*d;
	struct err	 err;

	if (util_read_file(p, &d, len, &err) != 0) {
		fprintf(stderr, "%s\n", err.msg);
		exit(99);
	}
	free(p);
	return d;
}

static const struct pickle_value *
get(const struct pickle_value *d, const char *key, enum pickle_kind kind)
{
	const struct pickle_value *v = pickle_dict_get(d, key);

	CHECK_MSG(v != NULL && v->kind == kind, "%s: %s", key,
	    v ? pickle_kind_name(v->kind) : "missing");
	return v != NULL && v->kind == kind ? v : NULL;
}

/* {"a": 1, "b": [1.5, -2, None, True, False], "c": (1, 2, 3), ...} as
 * written by tools/gen-weights-fixtures.py. */
static void
test_plain(const char *file, int has_bytes)
{
	size_t len;
	char *d = read_fixture(file, &len);
	struct err err;
	struct pickle *p = pickle_parse(d, len, &err);
	const struct pickle_value *r, *v;

	CHECK_MSG(p != NULL, "%s: %s", file, err.msg);
	if (p == NULL)
		goto out;
	r = pickle_root(p);
	CHECK(r->kind == PICKLE_DICT && r->n_items == (size_t)(2 * (11 + has_bytes)));
	if ((v = get(r, "a", PICKLE_INT)) != NULL)
		CHECK(v->i == 1);
	if ((v = get(r, "b", PICKLE_LIST)) != NULL) {
		CHECK(v->n_items == 5);
		CHECK(v->items[0]->kind == PICKLE_FLOAT &&
		    v->items[0]->f == 1.5);
		CHECK(v->items[1]->kind == PICKLE_INT && v->items[1]->i == -2);
		CHECK(v->items[2]->kind == PICKLE_NONE);
		CHECK(v->items[3]->kind == PICKLE_BOOL && v->items[3]->i == 1);
		CHECK(v->items[4]->kind == PICKLE_BOOL && v->items[4]->i == 0);
	}
	if ((v = get(r, "c", PICKLE_TUPLE)) != NULL)
		CHECK(v->n_items == 3 && v->items[2]->i == 3);
	if ((v = get(r, "t4", PICKLE_TUPLE)) != NULL)
		CHECK(v->n_items == 4 && v->items[3]->i == 4);
	if ((v = get(r, "big", PICKLE_INT)) != NULL)
		CHECK(v->i == (int64_t)1 << 40);
	if ((v = get(r, "long", PICKLE_INT)) != NULL)
		CHECK(v->i == (int64_t)1 << 62);
	if ((v = get(r, "neg", PICKLE_INT)) != NULL)
		CHECK(v->i == -5);
	if ((v = get(r, "negbig", PICKLE_INT)) != NULL)
		CHECK(v->i == -((int64_t)1 << 40));
	if ((v = get(r, "i4", PICKLE_INT)) != NULL)
		CHECK(v->i == -70000);
	if ((v = get(r, "u2", PICKLE_INT)) != NULL)
		CHECK(v->i == 65535);
	if ((v = get(r, "s", PICKLE_STR)) != NULL)
		CHECK(v->len == 6 && strcmp(v->s, "h\xc3\xa9llo") == 0);
	if (has_bytes && (v = get(r, "bytes", PICKLE_BYTES)) != NULL)
		CHECK(v->len == 2 && memcmp(v->s, "xy", 2) == 0);
	CHECK(pickle_dict_get(r, "nope") == NULL);
	CHECK(pickle_dict_get(pickle_dict_get(r, "a"), "a") == NULL);
out:
	pickle_free(p);
	free(d);
}

/* A torch.save training checkpoint's data.pkl. */
static void
test_torch(void)
{
	size_t len;
	char *d = read_fixture("train-data.pkl", &len);
	struct err err;
	struct pickle *p = pickle_parse(d, len, &err);

	CHECK_MSG(p != NULL, "%s", err.msg);
	if (p != NULL) {
		const struct pickle_value *r = pickle_root(p), *m, *t, *it;
		m = get(r, "model", PICKLE_DICT);
		it = get(r, "iteration", PICKLE_INT);
		CHECK(it != NULL && it->i == 1234);
		CHECK(get(r, "optimizer", PICKLE_DICT) != NULL);
		t = m ? get(m, "_orig_mod.weight", PICKLE_TENSOR) : NULL;
		if (t != NULL) {
			CHECK(t->n_dims == 2 && t->shape[0] == 3 &&
			    t->shape[1] == 4 && t->stride[0] == 4 &&
			    t->stride[1] == 1 && t->offset == 0);
			CHECK(t->dtype == PICKLE_DT_FLOAT && t->elem_size == 4);
			CHECK(t->storage->kind == PICKLE_STORAGE &&
			    t->storage->i == 12);
		}
	}
	pickle_free(p);

	/* every proper prefix is refused */
	int bad = 0;
	for (size_t cut = 0; cut < len; cut++) {
		p = pickle_parse(d, cut, &err);
		if (p != NULL || err.msg[0] == '\0')
			bad++;
		pickle_free(p);
	}
	CHECK_MSG(bad == 0, "%d truncations accepted", bad);
	free(d);
}

static void
expect_error(const char *what, const char *pk, size_t len,
    const char *phrase)
{
	struct err err;
	struct pickle *p = pickle_parse(pk, len, &err);

	CHECK_MSG(p == NULL, "%s: accepted", what);
	CHECK_MSG(p != NULL || strstr(err.msg, phrase) != NULL,
	    "%s: '%s', want '%s'", what, err.msg, phrase);
	pickle_free(p);
}

#define PK(s) s, sizeof s - 1

static void
test_refusals(void)
{
	expect_error("os.system", PK("\x80\x02" "cos\nsystem\n)R."),
	    "global 'os.system' is not allowed");
	expect_error("posix.system", PK("\x80\x02" "cposix\nsystem\n."),
	    "global 'posix.system' is not allowed");
	expect_error("torch.load", PK("\x80\x02" "ctorch\nload\n."),
	    "global 'torch.load' is not allowed");
	expect_error("_load_from_bytes", PK("\x80\x02"
	    "ctorch.storage\n_load_from_bytes\n."),
	    "global 'torch.storage._load_from_bytes' is not allowed");
	expect_error("stack global", PK("\x80\x04\x8c\x08" "builtins"
	    "\x8c\x04" "exec\x93."), "global 'builtins.exec' is not allowed");
	expect_error("control bytes", PK("\x80\x02" "ca\x01\nb\n."),
	    "global 'a?.b' is not allowed");
	expect_error("INST", PK("\x80\x02(ios\nsystem\n."),
	    "INST at offset 3: opcode 0x69 is not allowed");
	expect_error("OBJ", PK("\x80\x02(o."), "OBJ at offset 3");
	expect_error("NEWOBJ", PK("\x80\x02)\x81."), "NEWOBJ at offset 3");
	expect_error("EXT1", PK("\x80\x02\x82\x01."), "EXT1 at offset 2");
	expect_error("PERSID", PK("\x80\x02P1\n."), "PERSID at offset 2");
	expect_error("unknown", PK("\x80\x02\xff."), "unknown at offset 2: "
	    "opcode 0xff");
	expect_error("protocol 1", PK("\x80\x01N."), "protocol 1");
	/* allow-listed callables cannot be called with anything */
	expect_error("OrderedDict(x)", PK("\x80\x02" "ccollections\n"
	    "OrderedDict\nK\x01\x85R."), "refusing to call "
	    "'collections.OrderedDict'");
	expect_error("call storage type", PK("\x80\x02" "ctorch\n"
	    "FloatStorage\n)R."), "refusing to call 'torch.FloatStorage'");
	expect_error("call a str", PK("\x80\x02X\x01\x00\x00\x00x)R."),
	    "call of a str");
	expect_error("bad rebuild", PK("\x80\x02" "ctorch._utils\n"
	    "_rebuild_tensor_v2\n)R."), "bad arguments");
	expect_error("bad pid", PK("\x80\x02K\x01Q."),
	    "unsupported persistent id");
	expect_error("from_type nesting", PK("\x80\x02" "ctorch._tensor\n"
	    "_rebuild_from_type_v2\nq\x00h\x00(h\x00h\x00)NtR."),
	    "refusing to call 'torch._tensor._rebuild_from_type_v2'");

	/* the machine itself */
	expect_error("empty", "", 0, "no STOP");
	expect_error("underflow", PK("\x80\x02."), "STOP at offset 2: stack "
	    "underflow");
	expect_error("setitem underflow", PK("\x80\x02}Ns."), "stack "
	    "underflow");
	expect_error("setitem on list", PK("\x80\x02]NNs."), "target is a "
	    "list, not a dict");
	expect_error("append on dict", PK("\x80\x02}Na."), "target is a dict, "
	    "not a list");
	expect_error("odd setitems", PK("\x80\x02}(Nu."), "odd number");
	expect_error("mark barrier", PK("\x80\x02}(Ns."), "stack underflow");
	expect_error("no mark", PK("\x80\x02t."), "no MARK");
	expect_error("pop below mark", PK("\x80\x02N(0."), "POP at offset 4: "
	    "stack underflow");
	expect_error("tuple3 underflow", PK("\x80\x02NN\x87."), "stack "
	    "underflow");
	expect_error("memo get", PK("\x80\x02h\x05."), "memo key 5 was never "
	    "set");
	expect_error("memo put", PK("\x80\x02Nr\xff\xff\xff\x7f."),
	    "memo key 2147483647 is absurd");
	expect_error("long string", PK("\x80\x02X\xff\xff\xff\x7f" "ab."),
	    "length 2147483647 beyond the end");
	expect_error("LONG1 9 bytes", PK("\x80\x02\x8a\x09" "123456789."),
	    "integer of 9 bytes is too large");
	expect_error("LONG4", PK("\x80\x02\x8b\x01\x00\x00\x00\x01."),
	    "LONG4");
	expect_error("GLOBAL no newline", PK("\x80\x02" "cos\nsystem"),
	    "truncated");
	expect_error("bad dims", PK("\x80\x02" "ctorch._utils\n"
	    "_rebuild_tensor_v2\nctorch\nFloatStorage\nq\x00" "0((X\x07\x00\x00"
	    "\x00storageh\x00X\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK"
	    "\x01tQK\x00(K\x01K\x01K\x01K\x01K\x01K\x01K\x01K\x01K\x01t"
	    "(K\x01K\x01K\x01K\x01K\x01K\x01K\x01K\x01K\x01t\x89NtR."),
	    "tensor with 9 dimensions");
}

static void
test_machine(void)
{
	struct err err;
	struct pickle *p;

	/* a list that contains itself parses and frees (no recursion) */
	static const char self[] = "\x80\x02]q\x00h\x00" "a.";
	p = pickle_parse(self, sizeof self - 1, &err);
	CHECK_MSG(p != NULL, "%s", err.msg);
	if (p != NULL)
		CHECK(pickle_root(p)->items[0] == pickle_root(p));
	pickle_free(p);
	pickle_free(NULL);

	/* the last key wins, as in Python; MEMOIZE numbers from 0 */
	static const char twice[] = "\x80\x04}\x94(\x8c\x01k\x94K\x01h\x01"
	    "K\x02u.";
	p = pickle_parse(twice, sizeof twice - 1, &err);
	CHECK_MSG(p != NULL, "%s", err.msg);
	if (p != NULL) {
		const struct pickle_value *v = pickle_dict_get(pickle_root(p),
		    "k");
		CHECK(v != NULL && v->i == 2);
	}
	pickle_free(p);

	/* DUP, POP_MARK, BUILD, a parameter, BINUNICODE8 */
	static const char misc[] = "\x80\x02K\x07\x32\x86(NN1N}b\x8d\x02\x00"
	    "\x00\x00\x00\x00\x00\x00hi\x87.";
	p = pickle_parse(misc, sizeof misc - 1, &err);
	CHECK_MSG(p != NULL, "%s", err.msg);
	if (p != NULL) {
		const struct pickle_value *r = pickle_root(p);
		CHECK(r->kind == PICKLE_TUPLE && r->n_items == 3 &&
		    r->items[0]->kind == PICKLE_TUPLE &&
		    r->items[0]->items[1]->i == 7 &&
		    r->items[1]->kind == PICKLE_NONE &&
		    r->items[2]->kind == PICKLE_STR &&
		    strcmp(r->items[2]->s, "hi") == 0);
	}
	pickle_free(p);
	CHECK(strcmp(pickle_kind_name(PICKLE_TENSOR), "tensor") == 0);
}

/* A pickle of PROTO 2, head, body repeated n times, STOP: caller frees. */
static char *
repeated(const char *head, const char *body, size_t n, size_t *len)
{
	size_t hl = strlen(head), bl = strlen(body);
	char *pk = xmalloc(2 + hl + n * bl + 1);

	memcpy(pk, "\x80\x02", 2);
	memcpy(pk + 2, head, hl);
	for (size_t i = 0; i < n; i++)
		memcpy(pk + 2 + hl + i * bl, body, bl);
	pk[2 + hl + n * bl] = '.';
	*len = 2 + hl + n * bl + 1;
	return pk;
}

/* Memory bombs: each input is a few MB, each would take hundreds of MB
 * (about 250 bytes a value, 8 a stack or list entry) without the budget. */
static void
test_budget(void)
{
	static const struct {
		const char *what, *head, *body;
		size_t n;
	} bombs[] = {
		{ "EMPTY_LIST", "", "]", 1 << 20 },
		{ "DUP", "]", "2", 9 << 20 },
		{ "APPEND to itself", "]", "2a", 9 << 20 },
	};

	for (size_t i = 0; i < sizeof bombs / sizeof bombs[0]; i++) {
		size_t len;
		char *pk = repeated(bombs[i].head, bombs[i].body, bombs[i].n,
		    &len);
		expect_error(bombs[i].what, pk, len,
		    "over the unpickler's budget (1048576 values, 64 MiB)");
		free(pk);
	}
	/* well within it: a list of 131072 ints, about 30 MB */
	size_t len;
	char *pk = repeated("]", "K\x01" "a", 1 << 17, &len);
	struct err err;
	struct pickle *p = pickle_parse(pk, len, &err);
	CHECK_MSG(p != NULL, "%s", err.msg);
	CHECK(p == NULL || pickle_root(p)->n_items == 1 << 17);
	pickle_free(p);
	free(pk);
}

int
main(void)
{
	test_plain("plain-p2.pkl", 0);
	test_plain("plain-p4.pkl", 1);
	test_plain("plain-p5.pkl", 1);
	test_torch();
	test_refusals();
	test_machine();
	test_budget();
	CHECK_RESULT();
}
