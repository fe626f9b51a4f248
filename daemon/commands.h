/* The command table (HAProxy cli.c style): name, level, handler, usage. */
#ifndef FOD_COMMANDS_H
#define FOD_COMMANDS_H

#include <stdbool.h>

struct daemon;
struct request;

enum cmd_level { LEVEL_READ, LEVEL_ADMIN };

/* A row of the command table (commands.c): name, level, typed arguments,
 * handler, usage. */
struct command;

/* Checks the command, access and arguments in the contract's order, emits
 * the `control` event for admin commands, then runs the handler. */
void commands_dispatch(struct daemon *, struct request *, const char *cmd, bool admin);

#endif
