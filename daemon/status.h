/* The status object (contract §5.4) and STATUS_FILE. */
#ifndef FOD_STATUS_H
#define FOD_STATUS_H

#include <json-c/json.h>

struct daemon;

json_object *status_build(struct daemon *);
/* Writes STATUS_FILE now (with written_at); 0 or -1 with errno. */
int status_write(struct daemon *);

/* Helpers for building status and events. */
json_object *json_time_or_null(int64_t wall_ms);

#endif
