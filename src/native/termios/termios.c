// inputHidden(fd): whether the terminal behind fd is reading a hidden line - ECHO off while
// ICANON is on, which is what getpass(), sudo, su, ssh and `read -s` set - or null when fd is not
// a terminal. Line editors (readline, vim, less) turn ECHO off too, but with ICANON off, and echo
// for themselves, so their input is not hidden. Called with a pty master fd: on Linux the master
// and the slave share one termios, so this is the mode the program in the pty has set.
#include <node_api.h>
#include <termios.h>
#include <sys/ioctl.h>
#include <fcntl.h>

// The one argument every call takes: a descriptor (-1 when it is missing or not a number).
static int32_t FdArg(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    return -1;
  }
  return fd;
}

static napi_value InputHidden(napi_env env, napi_callback_info info) {
  napi_value result;
  struct termios t;
  int32_t fd = FdArg(env, info);
  if (fd < 0 || tcgetattr(fd, &t) != 0) {
    napi_get_null(env, &result);
    return result;
  }
  napi_get_boolean(env, (t.c_lflag & ECHO) == 0 && (t.c_lflag & ICANON) != 0, &result);
  return result;
}

// pending(fd): bytes waiting to be read on fd (FIONREAD), or -1. On a pty master after the
// program has exited: the output that has not reached the reader yet.
static napi_value Pending(napi_env env, napi_callback_info info) {
  napi_value result;
  int n = -1;
  int32_t fd = FdArg(env, info);
  if (fd < 0 || ioctl(fd, FIONREAD, &n) != 0) n = -1;
  napi_create_int32(env, n, &result);
  return result;
}

// dup(fd): a second descriptor for fd's open file (close-on-exec), or -1. The pty reader thread
// reads a session's pty master through its own descriptor, so closing it never closes the one
// node-pty writes to, nor the other way round.
static napi_value Dup(napi_env env, napi_callback_info info) {
  napi_value result;
  int32_t fd = FdArg(env, info);
  napi_create_int32(env, fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 3), &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "inputHidden", NAPI_AUTO_LENGTH, InputHidden, NULL, &fn);
  napi_set_named_property(env, exports, "inputHidden", fn);
  napi_create_function(env, "pending", NAPI_AUTO_LENGTH, Pending, NULL, &fn);
  napi_set_named_property(env, exports, "pending", fn);
  napi_create_function(env, "dup", NAPI_AUTO_LENGTH, Dup, NULL, &fn);
  napi_set_named_property(env, exports, "dup", fn);
  return exports;
}
