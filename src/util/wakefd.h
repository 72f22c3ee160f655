/* SPDX-License-Identifier: MIT */
/*
 * A wake-up fd: an eventfd (EFD_NONBLOCK) that a thread signals and a
 * poll loop drains.  Neither call blocks nor fails in a way the caller could
 * act on: a write only fails when the counter would overflow, which leaves
 * the fd readable anyway, and a read of an unsignalled fd is EAGAIN.
 */
#pragma once

/* Make `fd` readable; callable from any thread. */
void wakefd_signal(int fd);
/* Read the counter back to zero: `fd` is no longer readable. */
void wakefd_drain(int fd);
