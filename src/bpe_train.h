#ifndef LMSH_BPE_TRAIN_H
#define LMSH_BPE_TRAIN_H
/* Placeholder; the owner replaces it. */
#endif
