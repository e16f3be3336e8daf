#ifndef LMSH_PICKLE_H
#define LMSH_PICKLE_H

#include <stddef.h>
#include <stdint.h>

struct err;
struct pickle;

#define PICKLE_MAX_DIMS 8

/* The unpickler's budget, whatever the input's size: values made, and bytes
 * of memory (values, strings, arrays).  Beyond it a parse is refused. */
#define PICKLE_MAX_VALUES	(1 << 20)
#define PICKLE_MAX_BYTES	(64 << 20)

/* What a value is.  Only the kinds a PyTorch state dict needs exist. */
enum pickle_kind {
	PICKLE_NONE,
	PICKLE_BOOL,		/* i: 0 or 1 */
	PICKLE_INT,		/* i */
	PICKLE_FLOAT,		/* f */
	PICKLE_STR,		/* s, len: UTF-8 as stored */
	PICKLE_BYTES,		/* s, len */
	PICKLE_TUPLE,		/* items */
	PICKLE_LIST,		/* items */
	PICKLE_DICT,		/* items: key, value, key, value ... */
	PICKLE_GLOBAL,		/* global, s: an allow-listed name */
	PICKLE_STORAGE,		/* storage, s: key, i: numel */
	PICKLE_TENSOR		/* tensor */
};

/* The allow-listed globals; anything else is refused by name. */
enum pickle_global {
	PICKLE_G_ORDERED_DICT,		/* collections.OrderedDict */
	PICKLE_G_REBUILD_TENSOR_V2,	/* torch._utils._rebuild_tensor_v2 */
	PICKLE_G_REBUILD_PARAMETER,	/* torch._utils._rebuild_parameter */
	PICKLE_G_REBUILD_FROM_TYPE_V2,	/* torch._tensor._rebuild_from_type_v2 */
	PICKLE_G_TYPE,			/* torch.Tensor, ...Parameter */
	PICKLE_G_STORAGE_TYPE		/* torch.FloatStorage and friends */
};

/* Storage element types that a model's tensors may use. */
enum pickle_dtype {
	PICKLE_DT_FLOAT,	/* torch.FloatStorage: float32 */
	PICKLE_DT_BFLOAT16,	/* torch.BFloat16Storage */
	PICKLE_DT_HALF,		/* torch.HalfStorage: float16 */
	PICKLE_DT_OTHER		/* Long, Double, ...: parsed, never loaded */
};

/* One value.  Values live in the struct pickle that made them and may be
 * shared (the memo), so containers may even hold themselves: walk them
 * without recursion or with a depth limit. */
struct pickle_value {
	enum pickle_kind	 kind;
	int64_t			 i;		/* BOOL, INT; STORAGE: numel */
	double			 f;		/* FLOAT */
	char			*s;		/* STR, BYTES, GLOBAL name, STORAGE key;
						 * NUL-terminated */
	size_t			 len;		/* bytes in s */
	struct pickle_value	**items;	/* [n_items] TUPLE, LIST, DICT */
	size_t			 n_items;	/* items used */
	size_t			 items_cap;	/* items allocated */
	enum pickle_global	 global;	/* GLOBAL */
	enum pickle_dtype	 dtype;		/* GLOBAL storage type, STORAGE */
	size_t			 elem_size;	/* STORAGE, storage type: bytes */
	struct pickle_value	*storage;	/* TENSOR: its STORAGE */
	int64_t			 offset;	/* TENSOR: storage offset, elements */
	int			 n_dims;	/* TENSOR */
	int64_t			 shape[PICKLE_MAX_DIMS];	/* TENSOR */
	int64_t			 stride[PICKLE_MAX_DIMS];	/* TENSOR */
};

/* Parse a pickle (protocols 2 to 5, the opcodes torch.save uses).  Nothing
 * is executed: allow-listed calls are interpreted, others refused. */
struct pickle	*pickle_parse(const void *, size_t, struct err *);
void		 pickle_free(struct pickle *);
const struct pickle_value *pickle_root(const struct pickle *);

/* Look-ups. */
const struct pickle_value *pickle_dict_get(const struct pickle_value *,
		    const char *key);
const char	*pickle_kind_name(enum pickle_kind);

#endif
