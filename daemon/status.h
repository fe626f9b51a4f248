/* The status object (contract §5.4) and STATUS_FILE. */
#ifndef FOD_STATUS_H
#define FOD_STATUS_H

#include <json-c/json.h>

struct daemon;

json_object *status_build(struct daemon *);
/* Writes STATUS_FILE now (with written_at); 0 or -1 with errno. */
int status_write(struct daemon *);

/* The Prometheus exposition (contract §12) of the status, malloc'd. */
char *status_metrics_text(struct daemon *);

#endif
