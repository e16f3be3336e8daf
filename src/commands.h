#ifndef LMSH_COMMANDS_H
#define LMSH_COMMANDS_H
/* Placeholder; the owner replaces it. */
#endif
