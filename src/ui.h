#ifndef LMSH_UI_H
#define LMSH_UI_H
/* Placeholder; the owner replaces it. */
#endif
