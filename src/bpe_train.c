/* Placeholder; the owner replaces it. */
#include "config.h"
#include "bpe_train.h"
int bpe_train_placeholder_;
