/* SPDX-License-Identifier: MIT */
/*
 * Names both ends of the socket print the same way.  The message names
 * come from the message table (ipcmsg_type_name() in proto/ipcmsg.h).
 */
#pragma once

#include "dhp.h"

/* "QUERY_STOP", "CANCEL_STOP", "STOP", "START"; "?" for another value (a
 * DEVICE_REQUEST's req comes from the wire). */
const char *proto_request_name(dhp_rebalance_request req);
