/*
 * pickle.c: a restricted unpickler for PyTorch state dicts.
 *
 * Python's pickle is a small stack machine whose GLOBAL and REDUCE opcodes
 * import and call arbitrary functions: torch.load on a hostile file runs its
 * code.  This reader runs the same machine over plain data only.  It knows
 * the opcodes torch.save emits (protocols 2 to 5) and a short allow-list of
 * globals; a REDUCE on an allow-listed callable is interpreted here (an
 * OrderedDict() becomes an empty dict, _rebuild_tensor_v2(...) a tensor
 * record), never executed.  Any other opcode or global is refused by name.
 *
 * Every value is a struct pickle_value allocated one by one and recorded in
 * p->nodes, so pickle_free() releases them without walking the graph (the
 * memo lets a container hold itself).  Nothing here recurses.
 *
 * Every value costs at least one input byte, but about 250 bytes of memory,
 * and deflate inflates a data.pkl 1,000 times: 65 KB of EMPTY_LIST opcodes
 * once took 16 GB.  So the machine has a fixed budget, whatever the input's
 * size (PICKLE_MAX_VALUES values and PICKLE_MAX_BYTES of memory), charged
 * before each allocation.  A CS336 training checkpoint (17M parameters, AdamW
 * state included) needs 2,647 values and 0.75 MiB of it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "pickle.h"
#include "util.h"

struct pickle {
	const unsigned char	 *in;		/* the pickle being parsed */
	size_t			  in_len;	/* bytes at in */
	size_t			  pos;		/* next byte to read */
	size_t			  op_pos;	/* offset of the current opcode */
	struct pickle_value	**nodes;	/* [n_nodes] every value, owned */
	size_t			  n_nodes;	/* values made */
	size_t			  nodes_cap;	/* entries allocated */
	struct pickle_value	**stack;	/* [n_stack] the machine's stack */
	size_t			  n_stack;	/* depth */
	size_t			  stack_cap;	/* entries allocated */
	size_t			 *marks;	/* [n_marks] stack depth at MARK */
	size_t			  n_marks;	/* open marks */
	size_t			  marks_cap;	/* entries allocated */
	struct pickle_value	**memo;		/* [memo_cap] by memo key, or NULL */
	size_t			  memo_cap;	/* entries allocated */
	size_t			  n_memo;	/* keys set, for MEMOIZE */
	struct pickle_value	 *root;		/* STOP's value */
	size_t			  charged;	/* bytes allocated so far */
	int			  over_budget;	/* an allocation was refused */
};

/* Opcode names as in Python's pickletools, for refusals. */
static const struct {
	unsigned char	 op;
	const char	*name;
} pickle_op_names[] = {
	{ '(', "MARK" }, { '.', "STOP" }, { '0', "POP" }, { '1', "POP_MARK" },
	{ '2', "DUP" }, { 'F', "FLOAT" }, { 'I', "INT" }, { 'J', "BININT" },
	{ 'K', "BININT1" }, { 'L', "LONG" }, { 'M', "BININT2" },
	{ 'N', "NONE" }, { 'P', "PERSID" }, { 'Q', "BINPERSID" },
	{ 'R', "REDUCE" }, { 'S', "STRING" }, { 'T', "BINSTRING" },
	{ 'U', "SHORT_BINSTRING" }, { 'V', "UNICODE" },
	{ 'X', "BINUNICODE" }, { 'a', "APPEND" }, { 'b', "BUILD" },
	{ 'c', "GLOBAL" }, { 'd', "DICT" }, { '}', "EMPTY_DICT" },
	{ 'e', "APPENDS" }, { 'g', "GET" }, { 'h', "BINGET" }, { 'i', "INST" },
	{ 'j', "LONG_BINGET" }, { 'l', "LIST" }, { ']', "EMPTY_LIST" },
	{ 'o', "OBJ" }, { 'p', "PUT" }, { 'q', "BINPUT" },
	{ 'r', "LONG_BINPUT" }, { 's', "SETITEM" }, { 't', "TUPLE" },
	{ ')', "EMPTY_TUPLE" }, { 'u', "SETITEMS" }, { 'G', "BINFLOAT" },
	{ 0x80, "PROTO" }, { 0x81, "NEWOBJ" }, { 0x82, "EXT1" },
	{ 0x83, "EXT2" }, { 0x84, "EXT4" }, { 0x85, "TUPLE1" },
	{ 0x86, "TUPLE2" }, { 0x87, "TUPLE3" }, { 0x88, "NEWTRUE" },
	{ 0x89, "NEWFALSE" }, { 0x8a, "LONG1" }, { 0x8b, "LONG4" },
	{ 'B', "BINBYTES" }, { 'C', "SHORT_BINBYTES" },
	{ 0x8c, "SHORT_BINUNICODE" }, { 0x8d, "BINUNICODE8" },
	{ 0x8e, "BINBYTES8" }, { 0x8f, "EMPTY_SET" }, { 0x90, "ADDITEMS" },
	{ 0x91, "FROZENSET" }, { 0x92, "NEWOBJ_EX" }, { 0x93, "STACK_GLOBAL" },
	{ 0x94, "MEMOIZE" }, { 0x95, "FRAME" }, { 0x96, "BYTEARRAY8" },
	{ 0x97, "NEXT_BUFFER" }, { 0x98, "READONLY_BUFFER" },
};

/* The allow-list: module, name, what it is. */
static const struct {
	const char		*module;
	const char		*name;
	enum pickle_global	 global;
	enum pickle_dtype	 dtype;		/* storage types */
	size_t			 elem_size;	/* storage types */
} pickle_allowed[] = {
	{ "collections", "OrderedDict", PICKLE_G_ORDERED_DICT, 0, 0 },
	{ "torch._utils", "_rebuild_tensor_v2", PICKLE_G_REBUILD_TENSOR_V2,
	    0, 0 },
	{ "torch._utils", "_rebuild_parameter", PICKLE_G_REBUILD_PARAMETER,
	    0, 0 },
	{ "torch._tensor", "_rebuild_from_type_v2",
	    PICKLE_G_REBUILD_FROM_TYPE_V2, 0, 0 },
	{ "torch", "Tensor", PICKLE_G_TYPE, 0, 0 },
	{ "torch.nn.parameter", "Parameter", PICKLE_G_TYPE, 0, 0 },
	{ "torch", "FloatStorage", PICKLE_G_STORAGE_TYPE, PICKLE_DT_FLOAT, 4 },
	{ "torch", "BFloat16Storage", PICKLE_G_STORAGE_TYPE,
	    PICKLE_DT_BFLOAT16, 2 },
	{ "torch", "HalfStorage", PICKLE_G_STORAGE_TYPE, PICKLE_DT_HALF, 2 },
	/* optimizer state and integer buffers: parsed, never loaded */
	{ "torch", "DoubleStorage", PICKLE_G_STORAGE_TYPE, PICKLE_DT_OTHER, 8 },
	{ "torch", "LongStorage", PICKLE_G_STORAGE_TYPE, PICKLE_DT_OTHER, 8 },
	{ "torch", "IntStorage", PICKLE_G_STORAGE_TYPE, PICKLE_DT_OTHER, 4 },
	{ "torch", "ShortStorage", PICKLE_G_STORAGE_TYPE, PICKLE_DT_OTHER, 2 },
	{ "torch", "CharStorage", PICKLE_G_STORAGE_TYPE, PICKLE_DT_OTHER, 1 },
	{ "torch", "ByteStorage", PICKLE_G_STORAGE_TYPE, PICKLE_DT_OTHER, 1 },
	{ "torch", "BoolStorage", PICKLE_G_STORAGE_TYPE, PICKLE_DT_OTHER, 1 },
};

static const char *
pickle_op_name(unsigned char op)
{
	for (size_t i = 0; i < sizeof pickle_op_names /
	    sizeof pickle_op_names[0]; i++)
		if (pickle_op_names[i].op == op)
			return pickle_op_names[i].name;
	return "unknown";
}

/*
 * Return a kind's name ("dict", "tensor", ...) for messages.
 */
const char *
pickle_kind_name(enum pickle_kind k)
{
	static const char *names[] = { "None", "bool", "int", "float", "str",
	    "bytes", "tuple", "list", "dict", "global", "storage", "tensor" };

	return (size_t)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

/* Charge n bytes to the budget, or refuse (0 or -1).  A refusal is sticky:
 * pickle_parse() reports it, whatever error the opcode then set. */
static int
pickle_charge(struct pickle *p, size_t n)
{
	/* malloc's own overhead counts too */
	if (p->over_budget || n > PICKLE_MAX_BYTES - 16 ||
	    p->charged + n + 16 > PICKLE_MAX_BYTES) {
		p->over_budget = 1;
		return -1;
	}
	p->charged += n + 16;
	return 0;
}

/* The array's capacity doubles when full, once the budget allows it: 0,
 * or -1 with the capacity unchanged. */
static int
pickle_grow(struct pickle *p, size_t *cap, size_t first_cap, size_t elem)
{
	size_t new_cap = *cap ? *cap * 2 : first_cap;

	if (pickle_charge(p, (new_cap - *cap) * elem) != 0)
		return -1;
	*cap = new_cap;
	return 0;
}

/* Make room for entry n of arr (capacity cap): 0, or -1 over budget. */
#define PICKLE_GROW(p, arr, n, cap, first)				\
	((n) < (cap) ? 0 :						\
	pickle_grow((p), &(cap), (first), sizeof *(arr)) != 0 ? -1 :	\
	((arr) = xreallocarray((arr), (cap), sizeof *(arr)), 0))

/* A new value owned by p, or NULL when the budget is spent. */
static struct pickle_value *
pickle_new_value(struct pickle *p, enum pickle_kind kind)
{
	if (p->n_nodes >= PICKLE_MAX_VALUES) {
		p->over_budget = 1;
		return NULL;
	}
	if (PICKLE_GROW(p, p->nodes, p->n_nodes, p->nodes_cap, 64) != 0 ||
	    pickle_charge(p, sizeof(struct pickle_value)) != 0)
		return NULL;
	struct pickle_value *v = xcalloc(1, sizeof *v);
	p->nodes[p->n_nodes++] = v;
	v->kind = kind;
	return v;
}

static int
pickle_add_item(struct pickle *p, struct pickle_value *c,
    struct pickle_value *v)
{
	if (PICKLE_GROW(p, c->items, c->n_items, c->items_cap, 4) != 0)
		return -1;
	c->items[c->n_items++] = v;
	return 0;
}

/* Push v; 0, or -1 when the budget is spent (or v is NULL because it was). */
static int
pickle_push(struct pickle *p, struct pickle_value *v)
{
	if (v == NULL ||
	    PICKLE_GROW(p, p->stack, p->n_stack, p->stack_cap, 64) != 0)
		return -1;
	p->stack[p->n_stack++] = v;
	return 0;
}

/* A copy of n bytes as a NUL-terminated string, charged to the budget. */
static char *
pickle_strndup(struct pickle *p, const char *s, size_t n)
{
	return pickle_charge(p, n + 1) == 0 ? xstrndup(s, n) : NULL;
}

/* Errors name the opcode and its offset: "BINGET at offset 12: ...". */
#define PICKLE_ERR(p, err, ...) do {					\
	err_set((err), __VA_ARGS__);					\
	err_prefix((err), "%s at offset %zu",				\
	    pickle_op_name((p)->in[(p)->op_pos]), (p)->op_pos);		\
} while (0)

/* Pop the top value, or NULL (error set) when the stack is empty, or when
 * the top is below the newest mark (Python's unpickler refuses that too). */
static struct pickle_value *
pickle_pop(struct pickle *p, struct err *err)
{
	size_t floor = p->n_marks ? p->marks[p->n_marks - 1] : 0;

	if (p->n_stack <= floor) {
		PICKLE_ERR(p, err, "stack underflow");
		return NULL;
	}
	return p->stack[--p->n_stack];
}

static struct pickle_value *
pickle_top(struct pickle *p, struct err *err)
{
	size_t floor = p->n_marks ? p->marks[p->n_marks - 1] : 0;

	if (p->n_stack <= floor) {
		PICKLE_ERR(p, err, "stack underflow");
		return NULL;
	}
	return p->stack[p->n_stack - 1];
}

/* Pop back to the newest mark: *first gets the first value above it. */
static int
pickle_pop_mark(struct pickle *p, size_t *first, struct err *err)
{
	if (p->n_marks == 0) {
		PICKLE_ERR(p, err, "no MARK");
		return -1;
	}
	*first = p->marks[--p->n_marks];
	return 0;
}

static int
pickle_read(struct pickle *p, size_t n, const unsigned char **out,
    struct err *err)
{
	if (p->in_len - p->pos < n) {
		PICKLE_ERR(p, err, "truncated");
		return -1;
	}
	*out = p->in + p->pos;
	p->pos += n;
	return 0;
}

static int
pickle_read_uint(struct pickle *p, size_t n, uint64_t *v, struct err *err)
{
	const unsigned char *b = NULL;

	if (pickle_read(p, n, &b, err) != 0)
		return -1;
	*v = 0;
	for (size_t i = n; i-- > 0; )
		*v = *v << 8 | b[i];
	return 0;
}

/* A length-prefixed string or bytes value. */
static int
pickle_op_string(struct pickle *p, size_t len_bytes, enum pickle_kind kind,
    struct err *err)
{
	const unsigned char *b = NULL;
	uint64_t n;

	if (pickle_read_uint(p, len_bytes, &n, err) != 0)
		return -1;
	if (n > p->in_len - p->pos) {
		PICKLE_ERR(p, err, "length %llu beyond the end of the data",
		    (unsigned long long)n);
		return -1;
	}
	if (pickle_read(p, (size_t)n, &b, err) != 0)
		return -1;
	struct pickle_value *v = pickle_new_value(p, kind);
	if (v == NULL ||
	    (v->s = pickle_strndup(p, (const char *)b, (size_t)n)) == NULL)
		return -1;
	v->len = (size_t)n;
	return pickle_push(p, v);
}

static int
pickle_op_int(struct pickle *p, size_t n, int is_signed, struct err *err)
{
	uint64_t u;

	if (pickle_read_uint(p, n, &u, err) != 0)
		return -1;
	struct pickle_value *v = pickle_new_value(p, PICKLE_INT);
	if (v == NULL)
		return -1;
	if (is_signed && n == 4)
		v->i = (int32_t)(uint32_t)u;
	else
		v->i = (int64_t)u;
	return pickle_push(p, v);
}

/* LONG1: a little-endian two's complement integer of up to 8 bytes. */
static int
pickle_op_long1(struct pickle *p, struct err *err)
{
	const unsigned char *b = NULL;
	uint64_t n, u = 0;

	if (pickle_read_uint(p, 1, &n, err) != 0)
		return -1;
	if (n > 8) {
		PICKLE_ERR(p, err, "integer of %llu bytes is too large",
		    (unsigned long long)n);
		return -1;
	}
	if (pickle_read(p, (size_t)n, &b, err) != 0)
		return -1;
	for (size_t i = n; i-- > 0; )
		u = u << 8 | b[i];
	if (n > 0 && n < 8 && (b[n - 1] & 0x80))
		u |= ~(uint64_t)0 << (8 * n);	/* sign-extend */
	struct pickle_value *v = pickle_new_value(p, PICKLE_INT);
	if (v == NULL)
		return -1;
	v->i = (int64_t)u;
	return pickle_push(p, v);
}

static int
pickle_op_binfloat(struct pickle *p, struct err *err)
{
	const unsigned char *b = NULL;
	uint64_t u = 0;
	double d;

	if (pickle_read(p, 8, &b, err) != 0)
		return -1;
	for (int i = 0; i < 8; i++)		/* big-endian on the wire */
		u = u << 8 | b[i];
	memcpy(&d, &u, 8);
	struct pickle_value *v = pickle_new_value(p, PICKLE_FLOAT);
	if (v == NULL)
		return -1;
	v->f = d;
	return pickle_push(p, v);
}

/* Resolve module.name against the allow-list, or refuse it by name. */
static int
pickle_global(struct pickle *p, const char *module, size_t module_len,
    const char *name, size_t name_len, struct err *err)
{
	for (size_t i = 0; i < sizeof pickle_allowed /
	    sizeof pickle_allowed[0]; i++) {
		if (strlen(pickle_allowed[i].module) != module_len ||
		    memcmp(pickle_allowed[i].module, module, module_len) ||
		    strlen(pickle_allowed[i].name) != name_len ||
		    memcmp(pickle_allowed[i].name, name, name_len))
			continue;
		struct pickle_value *v = pickle_new_value(p, PICKLE_GLOBAL);
		if (v == NULL || pickle_charge(p, strlen(pickle_allowed[i].module)
		    + strlen(pickle_allowed[i].name) + 2) != 0)
			return -1;
		v->global = pickle_allowed[i].global;
		v->dtype = pickle_allowed[i].dtype;
		v->elem_size = pickle_allowed[i].elem_size;
		v->s = xasprintf("%s.%s", pickle_allowed[i].module,
		    pickle_allowed[i].name);
		v->len = strlen(v->s);
		return pickle_push(p, v);
	}
	/* quote at most 100 bytes each and keep the line printable */
	char m[101], n[101];
	size_t ml = module_len < 100 ? module_len : 100;
	size_t nl = name_len < 100 ? name_len : 100;
	for (size_t i = 0; i < ml; i++)
		m[i] = module[i] >= 0x20 && module[i] < 0x7f ? module[i] : '?';
	for (size_t i = 0; i < nl; i++)
		n[i] = name[i] >= 0x20 && name[i] < 0x7f ? name[i] : '?';
	m[ml] = n[nl] = '\0';
	err_set(err, "global '%s.%s' is not allowed", m, n);
	return -1;
}

/* GLOBAL: "module\nname\n" inline. */
static int
pickle_op_global(struct pickle *p, struct err *err)
{
	const char *s = (const char *)p->in + p->pos;
	size_t left = p->in_len - p->pos;
	const char *nl1 = memchr(s, '\n', left);
	const char *nl2 = nl1 ? memchr(nl1 + 1, '\n', left -
	    (size_t)(nl1 + 1 - s)) : NULL;

	if (nl2 == NULL) {
		PICKLE_ERR(p, err, "truncated");
		return -1;
	}
	p->pos += (size_t)(nl2 + 1 - s);
	return pickle_global(p, s, (size_t)(nl1 - s), nl1 + 1,
	    (size_t)(nl2 - nl1 - 1), err);
}

/* STACK_GLOBAL: module and name are the two strings on the stack. */
static int
pickle_op_stack_global(struct pickle *p, struct err *err)
{
	struct pickle_value *name = pickle_pop(p, err);
	struct pickle_value *module = name ? pickle_pop(p, err) : NULL;

	if (module == NULL)
		return -1;
	if (module->kind != PICKLE_STR || name->kind != PICKLE_STR) {
		PICKLE_ERR(p, err, "module and name are not strings");
		return -1;
	}
	return pickle_global(p, module->s, module->len, name->s, name->len,
	    err);
}

static int
pickle_memo_put(struct pickle *p, uint64_t key, struct err *err)
{
	struct pickle_value *v = pickle_top(p, err);

	if (v == NULL)
		return -1;
	/* honest pickles number their memo entries 0, 1, 2 ...; a key can
	 * never need to exceed the input's length or the number of values */
	if (key > p->in_len || key >= PICKLE_MAX_VALUES) {
		PICKLE_ERR(p, err, "memo key %llu is absurd",
		    (unsigned long long)key);
		return -1;
	}
	if (key >= p->memo_cap) {
		size_t cap = p->memo_cap ? p->memo_cap : 64;
		while (cap <= key)
			cap *= 2;
		if (pickle_charge(p, (cap - p->memo_cap) * sizeof *p->memo))
			return -1;
		p->memo = xreallocarray(p->memo, cap, sizeof *p->memo);
		memset(p->memo + p->memo_cap, 0, (cap - p->memo_cap) *
		    sizeof *p->memo);
		p->memo_cap = cap;
	}
	if (p->memo[key] == NULL)
		p->n_memo++;
	p->memo[key] = v;
	return 0;
}

static int
pickle_memo_get(struct pickle *p, uint64_t key, struct err *err)
{
	if (key >= p->memo_cap || p->memo[key] == NULL) {
		PICKLE_ERR(p, err, "memo key %llu was never set",
		    (unsigned long long)key);
		return -1;
	}
	return pickle_push(p, p->memo[key]);
}

/* A tuple of the values from stack index first up (0 or -1). */
static int
pickle_make_tuple(struct pickle *p, size_t first)
{
	struct pickle_value *t = pickle_new_value(p, PICKLE_TUPLE);

	if (t == NULL)
		return -1;
	for (size_t i = first; i < p->n_stack; i++)
		if (pickle_add_item(p, t, p->stack[i]) != 0)
			return -1;
	p->n_stack = first;
	return pickle_push(p, t);
}

static int
pickle_op_tuple_n(struct pickle *p, size_t n, struct err *err)
{
	size_t floor = p->n_marks ? p->marks[p->n_marks - 1] : 0;

	if (p->n_stack - floor < n) {
		PICKLE_ERR(p, err, "stack underflow");
		return -1;
	}
	return pickle_make_tuple(p, p->n_stack - n);
}

/* APPEND/APPENDS and SETITEM/SETITEMS: items above index first go into the
 * container just below them. */
static int
pickle_fill(struct pickle *p, size_t first, enum pickle_kind want,
    struct err *err)
{
	size_t n = p->n_stack - first;
	size_t floor = p->n_marks ? p->marks[p->n_marks - 1] : 0;

	if (first == 0 || first - 1 < floor) {
		PICKLE_ERR(p, err, "stack underflow");
		return -1;
	}
	struct pickle_value *c = p->stack[first - 1];
	if (c->kind != want) {
		PICKLE_ERR(p, err, "target is a %s, not a %s",
		    pickle_kind_name(c->kind), pickle_kind_name(want));
		return -1;
	}
	if (want == PICKLE_DICT && n % 2 != 0) {
		PICKLE_ERR(p, err, "odd number of items");
		return -1;
	}
	for (size_t i = first; i < p->n_stack; i++)
		if (pickle_add_item(p, c, p->stack[i]) != 0)
			return -1;
	p->n_stack = first;
	return 0;
}

/* Is v a tuple of n ints?  Copies them to out. */
static int
pickle_int_tuple(const struct pickle_value *v, int64_t *out, size_t max)
{
	if (v->kind != PICKLE_TUPLE || v->n_items > max)
		return -1;
	for (size_t i = 0; i < v->n_items; i++) {
		if (v->items[i]->kind != PICKLE_INT)
			return -1;
		out[i] = v->items[i]->i;
	}
	return 0;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks
 * [, metadata]): record the view, read nothing. */
static struct pickle_value *
pickle_rebuild_tensor(struct pickle *p, const struct pickle_value *args,
    struct err *err)
{
	if (args->n_items < 4 || args->n_items > 7 ||
	    args->items[0]->kind != PICKLE_STORAGE ||
	    args->items[1]->kind != PICKLE_INT) {
		PICKLE_ERR(p, err, "bad arguments to _rebuild_tensor_v2");
		return NULL;
	}
	const struct pickle_value *size = args->items[2];
	const struct pickle_value *stride = args->items[3];
	if (size->kind != PICKLE_TUPLE || stride->kind != PICKLE_TUPLE ||
	    size->n_items != stride->n_items) {
		PICKLE_ERR(p, err, "bad size or stride in _rebuild_tensor_v2");
		return NULL;
	}
	if (size->n_items > PICKLE_MAX_DIMS) {
		PICKLE_ERR(p, err, "tensor with %zu dimensions (at most %d)",
		    size->n_items, PICKLE_MAX_DIMS);
		return NULL;
	}
	struct pickle_value *t = pickle_new_value(p, PICKLE_TENSOR);
	if (t == NULL)
		return NULL;
	if (pickle_int_tuple(size, t->shape, PICKLE_MAX_DIMS) != 0 ||
	    pickle_int_tuple(stride, t->stride, PICKLE_MAX_DIMS) != 0) {
		PICKLE_ERR(p, err, "bad size or stride in _rebuild_tensor_v2");
		return NULL;
	}
	t->storage = args->items[0];
	t->offset = args->items[1]->i;
	t->n_dims = (int)size->n_items;
	t->dtype = t->storage->dtype;
	t->elem_size = t->storage->elem_size;
	return t;
}

/* Interpret a call to an allow-listed callable.  depth stops
 * _rebuild_from_type_v2 from nesting itself. */
static struct pickle_value *
pickle_call(struct pickle *p, const struct pickle_value *fn,
    const struct pickle_value *args, int depth, struct err *err)
{
	if (fn->kind != PICKLE_GLOBAL || args->kind != PICKLE_TUPLE) {
		PICKLE_ERR(p, err, "call of a %s with a %s",
		    pickle_kind_name(fn->kind), pickle_kind_name(args->kind));
		return NULL;
	}
	switch (fn->global) {
	case PICKLE_G_ORDERED_DICT:
		if (args->n_items != 0)
			break;
		return pickle_new_value(p, PICKLE_DICT);
	case PICKLE_G_REBUILD_TENSOR_V2:
		return pickle_rebuild_tensor(p, args, err);
	case PICKLE_G_REBUILD_PARAMETER:
		/* (data, requires_grad, backward_hooks): the data is it */
		if (args->n_items < 1 || args->items[0]->kind != PICKLE_TENSOR)
			break;
		return args->items[0];
	case PICKLE_G_REBUILD_FROM_TYPE_V2:
		/* (func, type, args, state): a plain tensor from func(*args) */
		if (depth > 0 || args->n_items != 4)
			break;
		return pickle_call(p, args->items[0], args->items[2], depth + 1,
		    err);
	case PICKLE_G_TYPE:
	case PICKLE_G_STORAGE_TYPE:
		break;
	}
	PICKLE_ERR(p, err, "refusing to call '%s' with these arguments",
	    fn->s);
	return NULL;
}

static int
pickle_op_reduce(struct pickle *p, struct err *err)
{
	struct pickle_value *args = pickle_pop(p, err);
	struct pickle_value *fn = args ? pickle_pop(p, err) : NULL;

	if (fn == NULL)
		return -1;
	return pickle_push(p, pickle_call(p, fn, args, 0, err));
}

/* BINPERSID: ('storage', storage_type, key, location, numel). */
static int
pickle_op_binpersid(struct pickle *p, struct err *err)
{
	struct pickle_value *pid = pickle_pop(p, err);

	if (pid == NULL)
		return -1;
	if (pid->kind != PICKLE_TUPLE || pid->n_items != 5 ||
	    pid->items[0]->kind != PICKLE_STR ||
	    strcmp(pid->items[0]->s, "storage") != 0 ||
	    pid->items[1]->kind != PICKLE_GLOBAL ||
	    pid->items[1]->global != PICKLE_G_STORAGE_TYPE ||
	    pid->items[2]->kind != PICKLE_STR ||
	    pid->items[4]->kind != PICKLE_INT || pid->items[4]->i < 0) {
		PICKLE_ERR(p, err, "unsupported persistent id");
		return -1;
	}
	struct pickle_value *s = pickle_new_value(p, PICKLE_STORAGE);
	if (s == NULL || (s->s = pickle_strndup(p, pid->items[2]->s,
	    pid->items[2]->len)) == NULL)
		return -1;
	s->len = pid->items[2]->len;
	s->i = pid->items[4]->i;
	s->dtype = pid->items[1]->dtype;
	s->elem_size = pid->items[1]->elem_size;
	s->storage = pid->items[1];	/* its type, for messages */
	return pickle_push(p, s);
}

static int
pickle_push_kind(struct pickle *p, enum pickle_kind kind, int64_t i)
{
	struct pickle_value *v = pickle_new_value(p, kind);

	if (v == NULL)
		return -1;
	v->i = i;
	return pickle_push(p, v);
}

/* Run one opcode; 1 at STOP, 0 to go on, -1 on error. */
static int
pickle_step(struct pickle *p, struct err *err)
{
	uint64_t u;
	size_t first;
	struct pickle_value *v;

	p->op_pos = p->pos;
	if (p->pos >= p->in_len) {
		err_set(err, "truncated: no STOP at offset %zu", p->pos);
		return -1;
	}
	unsigned char op = p->in[p->pos++];
	switch (op) {
	case 0x80:	/* PROTO */
		if (pickle_read_uint(p, 1, &u, err) != 0)
			return -1;
		if (u < 2 || u > 5) {
			PICKLE_ERR(p, err, "protocol %llu is not supported",
			    (unsigned long long)u);
			return -1;
		}
		return 0;
	case 0x95:	/* FRAME: a length hint only */
		return pickle_read_uint(p, 8, &u, err);
	case '.':	/* STOP */
		if ((p->root = pickle_pop(p, err)) == NULL)
			return -1;
		return 1;
	case '(':	/* MARK */
		if (PICKLE_GROW(p, p->marks, p->n_marks, p->marks_cap, 16) != 0)
			return -1;
		p->marks[p->n_marks++] = p->n_stack;
		return 0;
	case '0':	/* POP */
		return pickle_pop(p, err) ? 0 : -1;
	case '1':	/* POP_MARK */
		if (pickle_pop_mark(p, &first, err) != 0)
			return -1;
		p->n_stack = first;
		return 0;
	case '2':	/* DUP */
		if ((v = pickle_top(p, err)) == NULL)
			return -1;
		return pickle_push(p, v);
	case '}':	/* EMPTY_DICT */
		return pickle_push_kind(p, PICKLE_DICT, 0);
	case ']':	/* EMPTY_LIST */
		return pickle_push_kind(p, PICKLE_LIST, 0);
	case ')':	/* EMPTY_TUPLE */
		return pickle_push_kind(p, PICKLE_TUPLE, 0);
	case 'N':	/* NONE */
		return pickle_push_kind(p, PICKLE_NONE, 0);
	case 0x88:	/* NEWTRUE */
		return pickle_push_kind(p, PICKLE_BOOL, 1);
	case 0x89:	/* NEWFALSE */
		return pickle_push_kind(p, PICKLE_BOOL, 0);
	case 't':	/* TUPLE */
		if (pickle_pop_mark(p, &first, err) != 0)
			return -1;
		return pickle_make_tuple(p, first);
	case 0x85:	/* TUPLE1 */
	case 0x86:	/* TUPLE2 */
	case 0x87:	/* TUPLE3 */
		return pickle_op_tuple_n(p, (size_t)(op - 0x84), err);
	case 'q':	/* BINPUT */
		return pickle_read_uint(p, 1, &u, err) ? -1 :
		    pickle_memo_put(p, u, err);
	case 'r':	/* LONG_BINPUT */
		return pickle_read_uint(p, 4, &u, err) ? -1 :
		    pickle_memo_put(p, u, err);
	case 0x94:	/* MEMOIZE */
		return pickle_memo_put(p, p->n_memo, err);
	case 'h':	/* BINGET */
		return pickle_read_uint(p, 1, &u, err) ? -1 :
		    pickle_memo_get(p, u, err);
	case 'j':	/* LONG_BINGET */
		return pickle_read_uint(p, 4, &u, err) ? -1 :
		    pickle_memo_get(p, u, err);
	case 'J':	/* BININT */
		return pickle_op_int(p, 4, 1, err);
	case 'K':	/* BININT1 */
		return pickle_op_int(p, 1, 0, err);
	case 'M':	/* BININT2 */
		return pickle_op_int(p, 2, 0, err);
	case 0x8a:	/* LONG1 */
		return pickle_op_long1(p, err);
	case 'G':	/* BINFLOAT */
		return pickle_op_binfloat(p, err);
	case 'X':	/* BINUNICODE */
		return pickle_op_string(p, 4, PICKLE_STR, err);
	case 0x8c:	/* SHORT_BINUNICODE */
		return pickle_op_string(p, 1, PICKLE_STR, err);
	case 0x8d:	/* BINUNICODE8 */
		return pickle_op_string(p, 8, PICKLE_STR, err);
	case 'B':	/* BINBYTES */
		return pickle_op_string(p, 4, PICKLE_BYTES, err);
	case 'C':	/* SHORT_BINBYTES */
		return pickle_op_string(p, 1, PICKLE_BYTES, err);
	case 0x8e:	/* BINBYTES8 */
		return pickle_op_string(p, 8, PICKLE_BYTES, err);
	case 's':	/* SETITEM */
		if (p->n_stack < 2)
			goto underflow;
		return pickle_fill(p, p->n_stack - 2, PICKLE_DICT, err);
	case 'u':	/* SETITEMS */
		if (pickle_pop_mark(p, &first, err) != 0)
			return -1;
		return pickle_fill(p, first, PICKLE_DICT, err);
	case 'a':	/* APPEND */
		if (p->n_stack < 1)
			goto underflow;
		return pickle_fill(p, p->n_stack - 1, PICKLE_LIST, err);
	case 'e':	/* APPENDS */
		if (pickle_pop_mark(p, &first, err) != 0)
			return -1;
		return pickle_fill(p, first, PICKLE_LIST, err);
	case 'c':	/* GLOBAL */
		return pickle_op_global(p, err);
	case 0x93:	/* STACK_GLOBAL */
		return pickle_op_stack_global(p, err);
	case 'R':	/* REDUCE */
		return pickle_op_reduce(p, err);
	case 'Q':	/* BINPERSID */
		return pickle_op_binpersid(p, err);
	case 'b':	/* BUILD: object state (an OrderedDict's _metadata) */
		if (pickle_pop(p, err) == NULL || pickle_top(p, err) == NULL)
			return -1;
		return 0;
	}
	PICKLE_ERR(p, err, "opcode 0x%02x is not allowed", op);
	return -1;
underflow:
	PICKLE_ERR(p, err, "stack underflow");
	return -1;
}

/*
 * Parse len bytes of pickle data.  Only the opcodes and globals that a
 * PyTorch state dict or training checkpoint needs are accepted; nothing is
 * imported or executed.  Returns the parsed values (see pickle_root()),
 * which the caller frees with pickle_free(), or NULL with one line in err
 * naming the refused opcode or global, or the problem and its offset.
 */
struct pickle *
pickle_parse(const void *data, size_t len, struct err *err)
{
	struct pickle *p = xcalloc(1, sizeof *p);
	int rc;

	p->in = data;
	p->in_len = len;
	while ((rc = pickle_step(p, err)) == 0)
		;
	if (rc < 0 && p->over_budget)
		err_set(err, "over the unpickler's budget (%d values, %d MiB) "
		    "at offset %zu: refused", PICKLE_MAX_VALUES,
		    PICKLE_MAX_BYTES >> 20, p->op_pos);
	if (rc < 0) {
		pickle_free(p);
		return NULL;
	}
	/* the machine is done: its scratch space is not needed any more */
	free(p->stack);
	free(p->marks);
	free(p->memo);
	p->stack = p->memo = NULL;
	p->marks = NULL;
	p->in = NULL;
	return p;
}

/*
 * Free a parse and every value in it.  NULL is ignored.
 */
void
pickle_free(struct pickle *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n_nodes; i++) {
		free(p->nodes[i]->s);
		free(p->nodes[i]->items);
		free(p->nodes[i]);
	}
	free(p->nodes);
	free(p->stack);
	free(p->marks);
	free(p->memo);
	free(p);
}

/*
 * Return the pickled object (the value STOP popped), valid until
 * pickle_free().
 */
const struct pickle_value *
pickle_root(const struct pickle *p)
{
	return p->root;
}

/*
 * Return the value stored under the string key in a dict, or NULL when v is
 * not a dict or has no such key.  When a key was set twice, the last one
 * wins, as in Python.
 */
const struct pickle_value *
pickle_dict_get(const struct pickle_value *v, const char *key)
{
	size_t n = strlen(key);

	if (v == NULL || v->kind != PICKLE_DICT)
		return NULL;
	for (size_t i = v->n_items; i >= 2; i -= 2) {
		const struct pickle_value *k = v->items[i - 2];
		if (k->kind == PICKLE_STR && k->len == n &&
		    memcmp(k->s, key, n) == 0)
			return v->items[i - 1];
	}
	return NULL;
}
