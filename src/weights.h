#ifndef LMSH_WEIGHTS_H
#define LMSH_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

struct err;
struct weights;

enum weights_dtype {
	WEIGHTS_F32,
	WEIGHTS_F16,
	WEIGHTS_BF16
};

#define WEIGHTS_MAX_DIMS 8

/* One tensor as found in a checkpoint.  data is borrowed from the weights
 * object (a mapping or a buffer it owns) and is valid until weights_close(). */
struct weights_tensor {
	const char		*name;		/* with any "_orig_mod." prefix removed */
	enum weights_dtype	 dtype;
	int			 n_dims;
	int64_t			 shape[WEIGHTS_MAX_DIMS];
	size_t			 n_elems;	/* product of shape */
	const void		*data;		/* contiguous, row-major, little-endian */
};

/* Open a checkpoint: a .safetensors file (mmap), a PyTorch .pt zip (raw state
 * dict or {"model": ...}; optimizer state skipped), or a model directory
 * (its model.safetensors).  Errors name the file and the problem. */
struct weights	*weights_open(const char *path, struct err *);
void		 weights_close(struct weights *);
/* The same from a buffer (copied): a safetensors image or a .pt zip; name is
 * used only in errors.  For tests and fuzzers. */
struct weights	*weights_open_mem(const char *name, const void *, size_t,
		    struct err *);

size_t		 weights_count(const struct weights *);
const struct weights_tensor *weights_get(const struct weights *, size_t i);
const struct weights_tensor *weights_find(const struct weights *,
		    const char *name);
/* The caller keeps its own copy of t: its mapped pages may go. */
void		 weights_release(const struct weights *,
		    const struct weights_tensor *);
/* Extra info from a training checkpoint ("iteration"), or -1. */
int64_t		 weights_iteration(const struct weights *);

/* Convert n elements of any dtype to fp32. */
void		 weights_to_f32(enum weights_dtype, const void *src, float *dst,
		    size_t n);
const char	*weights_dtype_name(enum weights_dtype);

/* Write tensors as a .safetensors file (atomically).  Each tensor is
 * converted from fp32 data to dtype (F32, F16 or BF16). */
struct weights_out {
	const char	*name;
	int		 n_dims;
	int64_t		 shape[WEIGHTS_MAX_DIMS];
	const float	*data;
};
int		 weights_write_safetensors(const char *path,
		    const struct weights_out *, size_t n, enum weights_dtype,
		    struct err *);

#endif
