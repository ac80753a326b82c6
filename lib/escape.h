/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* escape.h: make a user-supplied string safe to quote in a one-line message. */
#ifndef MBH_ESCAPE_H
#define MBH_ESCAPE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * What reaches a terminal, syslog or a Bacula job log must not carry its own
 * control sequences: a connection string, a path or an option typed by a
 * user may hold ESC, CR, a newline or a C1 control.  Each of these bytes --
 * C0 controls, DEL, the two bytes of a UTF-8 C1 control (U+0080..U+009F) and
 * every byte that is not part of valid UTF-8 -- is written as the four
 * characters \xNN (lower-case hex).  Everything else is copied unchanged, so
 * escaping an escaped string changes nothing (a backslash stays a backslash).
 */

/*
 * Escape in (NULL is "") into out, always NUL-terminated; when outlen is too
 * small the result is cut before an escape or a UTF-8 sequence, never inside
 * one.  Returns out, so it can be an argument of a printf-like call.
 */
const char *mbh_escape(const char *in, char *out, size_t outlen);

/* Escape in[0..len) (NUL bytes included, as \x00) into a new string the caller frees; NULL on no memory. */
char *mbh_escape_dup(const char *in, size_t len);

/* Pure: true when in[0..len) holds a byte mbh_escape would rewrite. */
bool mbh_escape_needed(const char *in, size_t len);

#endif
