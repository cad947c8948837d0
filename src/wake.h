/*-------------------------------------------------------------------------
 *
 * wake.h
 *	  Waking the worker at commit (wake.c).  Called in a user's transaction;
 *	  none of these can fail.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_WAKE_H
#define WEBHOOK_WAKE_H

#include "access/xact.h"

extern void webhook_request_wake(void);
extern void webhook_note_owners_changed(void);
extern void webhook_note_hooks_changed(void);
extern void webhook_note_inactive_event(void);
extern void webhook_wake_xact_callback(XactEvent event, void *arg);

#endif							/* WEBHOOK_WAKE_H */
