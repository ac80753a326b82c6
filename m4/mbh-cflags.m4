dnl MBH_CC_TRY_FLAG(FLAG, ACTION-IF-ACCEPTED): probe one compiler flag with -Werror.
dnl SPDX-License-Identifier: AGPL-3.0-or-later
AC_DEFUN([MBH_CC_TRY_FLAG], [
  AC_MSG_CHECKING([whether $CC accepts $1])
  mbh_save_CFLAGS="$CFLAGS"
  CFLAGS="$CFLAGS -Werror $1"
  AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
    [AC_MSG_RESULT([yes]); $2], [AC_MSG_RESULT([no])])
  CFLAGS="$mbh_save_CFLAGS"
])
