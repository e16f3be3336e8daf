#ifndef LMSH_WEIGHTS_INT_H
#define LMSH_WEIGHTS_INT_H
/* Shared between weights.c (the object, safetensors, writing) and
 * weights_pt.c (PyTorch .pt zips); not for other modules. */

#include <stddef.h>
#include <stdint.h>

#include "weights.h"

struct err;

struct weights {
	void			*map;		/* mmap of a .safetensors file, or NULL */
	size_t			 map_len;	/* bytes mapped */
	struct weights_tensor	*t;		/* [n_t], sorted by name */
	size_t			 n_t;		/* tensors */
	size_t			 t_cap;		/* entries allocated in t */
	void			**blocks;	/* [n_blocks] owned: names, buffers */
	size_t			 n_blocks;	/* blocks held */
	size_t			 blocks_cap;	/* entries allocated in blocks */
	int64_t			 iteration;	/* training checkpoint's, or -1 */
};

/* Take ownership of a heap block; it is freed by weights_close(). */
void		*weights_own(struct weights *, void *);
/* Append a tensor, the shape's product checked for overflow; *bytes gets
 * its size in bytes.  NULL with err set on a bad shape. */
struct weights_tensor *weights_add(struct weights *, const char *name,
		    enum weights_dtype, int n_dims, const int64_t *shape,
		    size_t *bytes, struct err *);
/* Sort by name and refuse duplicates. */
int		 weights_finish(struct weights *, struct err *);

/* weights_pt.c: read a .pt from an open file (the descriptor is always
 * consumed), or from an image in memory that outlives w. */
int		 weights_pt_open_fd(struct weights *, int fd, size_t len,
		    struct err *);
int		 weights_pt_parse_mem(struct weights *, const unsigned char *,
		    size_t, struct err *);

#endif
