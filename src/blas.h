#ifndef LMSH_BLAS_H
#define LMSH_BLAS_H
/* Placeholder; the owner replaces it. */
#endif
