/*-------------------------------------------------------------------------
 *
 * settings.h
 *	  The extension's settings (settings.c); README "Settings" lists them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_SETTINGS_H
#define WEBHOOK_SETTINGS_H

extern int	webhook_max_workers;
extern char *webhook_allowed_networks;
extern char *webhook_retry_schedule;
extern int	webhook_retention_s;
extern int	webhook_log_rotation_ms;
extern int	webhook_max_connections_per_host;
extern int	webhook_max_connections_per_webhook;
extern int	webhook_max_in_flight;
extern int	webhook_response_body_limit;
extern int	webhook_disable_after_s;
extern int	webhook_max_payload_size;
extern bool webhook_row_order;

extern void webhook_define_settings(void);

/* retry.c: the parser webhook.retry_schedule is checked with */
extern bool webhook_parse_schedule(const char *value, int **delays_ms, int *ndelays);

#endif							/* WEBHOOK_SETTINGS_H */
