#ifndef LMSH_PICKLE_H
#define LMSH_PICKLE_H
/* Placeholder; the owner replaces it. */
#endif
