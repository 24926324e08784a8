// Starts the programs of local targets, without fork() and without letting any of the bastion's
// descriptors through:
//
// fork(file, args, env, cwd, cols, rows, uid, gid, utf8, helperPath, onexit) -> { fd, pid, pty, slave }
//   node-pty's native fork, with the same arguments, result and exit callback (onexit(code,
//   signal), from a thread that waits for the program), and `slave`: the parent's own descriptor
//   for the pty's terminal side (close-on-exec), open from before the program starts. Held, it
//   keeps the pty's output readable after a fast program has exited (see
//   src/targets/pty-exit.ts); the caller closes it. The program leads a new session with the pty
//   as its controlling terminal.
// spawn(file, args, env, cwd, uid, gid, onexit) -> { pid, stdin, stdout, stderr }
//   A program with a socket pair for each of 0-2, as libuv's spawn makes them (the parent's ends
//   returned, close-on-exec and non-blocking), in a session and process group of its own.
//
// Both start the program with clone(CLONE_VM | CLONE_VFORK), as glibc's posix_spawn does, instead
// of fork(): fork copies the page tables of the whole bastion (hundreds of MB with many sessions
// open) and write-protects every page of it, so after each session start every page the bastion
// writes to faults once more, in every session. On this project's VM a fault costs 11-15 us, and
// a pty flood touches ~45 MB of buffers: ~11,000 faults, ~150 ms per session. And the child
// closes every descriptor above 2 before exec: with forkpty, node-pty left other sessions' pty
// masters open in each new program (it does not mark them close-on-exec), so one user's shell
// could read and type into another user's session.
//
// uid and gid are both -1 (no change) or both ids: the program runs as that user, in that group
// alone (no supplementary groups: a target's program gets only what its config names). A bare
// program name is looked up on the PATH of the program's environment, for a regular executable
// file; none found is ENOENT.
//
// The child shares the parent's memory until exec, so it only makes system calls: no malloc,
// no stdio, nothing that takes a lock. Everything it needs is prepared before the clone, with
// all signals blocked (so no handler of the bastion's runs in the child); the child resets every
// signal to its default and unblocks them all just before exec. An error before or at exec is
// written back to the parent through the shared memory, and the call throws it.
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define CHILD_STACK (256 * 1024)

struct child {
  const char *path;  // what to exec: a path
  char **argv;
  char **envp;
  const char *cwd;  // "" for the parent's
  int fds[3];  // what becomes 0-2 (all above 2)
  int ctty;  // whether fds[0], a pty's terminal side, becomes the controlling terminal
  int setids;  // whether to switch to uid and gid (and no supplementary groups)
  uid_t uid;
  gid_t gid;
  int maxfd;  // the highest descriptor that may be open, for closing them where close_range is missing
  volatile int err;  // errno of the step that failed, 0 if exec succeeded
  volatile int step;  // which step failed (for the message)
};

static const char *const STEPS[] = {"", "setsid", "TIOCSCTTY", "dup2", "chdir", "setgroups", "setgid", "setuid", "exec"};

static int child_main(void *arg) {
  struct child *c = arg;
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; s++) sigaction(s, &dfl, NULL);  // SIGKILL/SIGSTOP and glibc's own fail harmlessly
  int step = 0;
  if (++step, setsid() < 0) goto fail;
  if (++step, c->ctty && ioctl(c->fds[0], TIOCSCTTY, 0) < 0) goto fail;
  ++step;
  for (int fd = 0; fd < 3; fd++)
    if (dup2(c->fds[fd], fd) < 0) goto fail;
  // Everything else goes: close_range (Linux 5.9), or one by one where it is missing.
  if (syscall(SYS_close_range, 3, ~0U, 0) != 0)
    for (int fd = 3; fd <= c->maxfd; fd++) close(fd);
  if (++step, c->cwd[0] && chdir(c->cwd) < 0) goto fail;
  if (c->setids) {
    // Raw system calls: glibc's setuid() would try to change every thread of the parent, whose
    // memory this child shares.
    gid_t g = c->gid;
    if (++step, syscall(SYS_setgroups, 1, &g) != 0) goto fail;
    if (++step, syscall(SYS_setgid, g) != 0) goto fail;
    if (++step, syscall(SYS_setuid, c->uid) != 0) goto fail;
  } else {
    step += 3;
  }
  ++step;
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execve(c->path, c->argv, c->envp);
fail:
  c->err = errno ? errno : EINVAL;
  c->step = step;
  _exit(127);
}

// --- the exit of a program: a thread waits for it, then onexit(code, signal) runs on the JS thread

struct waiter {
  pid_t pid;
  napi_threadsafe_function tsfn;
  int code, signal;
};

static void call_onexit(napi_env env, napi_value cb, void *context, void *data) {
  (void)context;
  struct waiter *w = data;
  if (env != NULL && cb != NULL) {
    napi_value undefined, args[2];
    napi_get_undefined(env, &undefined);
    napi_create_int32(env, w->code, &args[0]);
    napi_create_int32(env, w->signal, &args[1]);
    napi_call_function(env, undefined, cb, 2, args, NULL);
  }
  free(w);
}

static void *wait_for(void *arg) {
  struct waiter *w = arg;
  int status = 0;
  pid_t r;
  do r = waitpid(w->pid, &status, 0);
  while (r < 0 && errno == EINTR);
  if (r == w->pid) {
    if (WIFEXITED(status)) w->code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) w->signal = WTERMSIG(status);
  }
  napi_threadsafe_function tsfn = w->tsfn;
  if (napi_call_threadsafe_function(tsfn, w, napi_tsfn_blocking) != napi_ok) free(w);
  napi_release_threadsafe_function(tsfn, napi_tsfn_release);
  return NULL;
}

// --- arguments

static char *string_arg(napi_env env, napi_value v) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  // A NUL inside would cut the string short: the program would get less than it was given.
  if (s && (napi_get_value_string_utf8(env, v, s, len + 1, &len) != napi_ok || strlen(s) != len)) {
    free(s);
    return NULL;
  }
  return s;
}

// A NULL-terminated array of the strings in a JS array, after FIRST (if any); NULL on failure.
static char **string_array(napi_env env, napi_value arr, char *first) {
  uint32_t n = 0;
  if (napi_get_array_length(env, arr, &n) != napi_ok) return NULL;
  uint32_t off = first ? 1 : 0;
  char **out = calloc((size_t)n + off + 1, sizeof(char *));
  if (!out) return NULL;
  if (first) out[0] = first;
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    if (napi_get_element(env, arr, i, &e) != napi_ok || !(out[i + off] = string_arg(env, e))) {
      for (uint32_t k = off; k < i + off; k++) free(out[k]);
      free(out);
      return NULL;
    }
  }
  return out;
}

static void free_array(char **a, int skip_first) {
  if (!a) return;
  for (char **p = a + (skip_first ? 1 : 0); *p; p++) free(*p);
  free(a);
}

// The program to exec: FILE itself when it names a path, else the first executable file in the
// PATH of the program's own environment (as execvp with that environment would search); "" when
// nothing matches (never the bare name: exec would take it as a path from the program's cwd).
static char *resolve(const char *file, char **envp) {
  if (strchr(file, '/')) return strdup(file);
  const char *path = "/usr/local/bin:/usr/bin:/bin";
  for (char **e = envp; *e; e++)
    if (strncmp(*e, "PATH=", 5) == 0) {
      path = *e + 5;  // the first, as getenv would find
      break;
    }
  size_t flen = strlen(file);
  for (const char *p = path; ; ) {
    const char *end = strchr(p, ':');
    size_t dlen = end ? (size_t)(end - p) : strlen(p);
    char *full = malloc(dlen + flen + 2);
    if (!full) return NULL;
    if (dlen == 0) strcpy(full, file);
    else {
      memcpy(full, p, dlen);
      full[dlen] = '/';
      strcpy(full + dlen + 1, file);
    }
    struct stat st;
    if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0) return full;
    free(full);
    if (!end) break;
    p = end + 1;
  }
  return strdup("");
}

static napi_value throw_error(napi_env env, const char *what, int err) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, text, error;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_int32(env, err, &code);
  napi_create_error(env, NULL, text, &error);
  napi_set_named_property(env, error, "errno", code);
  napi_throw(env, error);
  return NULL;
}

static void set_termios(int fd, int utf8, int cols, int rows) {
  // What node-pty gives a new terminal.
  struct termios t;
  memset(&t, 0, sizeof t);
  t.c_iflag = ICRNL | IXON | IXANY | IMAXBEL | BRKINT | (utf8 ? IUTF8 : 0);
  t.c_oflag = OPOST | ONLCR;
  t.c_cflag = CREAD | CS8 | HUPCL;
  t.c_lflag = ICANON | ISIG | IEXTEN | ECHO | ECHOE | ECHOK | ECHOKE | ECHOCTL;
  t.c_cc[VEOF] = 4;
  t.c_cc[VEOL] = (cc_t)-1;
  t.c_cc[VEOL2] = (cc_t)-1;
  t.c_cc[VERASE] = 0x7f;
  t.c_cc[VWERASE] = 23;
  t.c_cc[VKILL] = 21;
  t.c_cc[VREPRINT] = 18;
  t.c_cc[VINTR] = 3;
  t.c_cc[VQUIT] = 0x1c;
  t.c_cc[VSUSP] = 26;
  t.c_cc[VSTART] = 17;
  t.c_cc[VSTOP] = 19;
  t.c_cc[VLNEXT] = 22;
  t.c_cc[VDISCARD] = 15;
  t.c_cc[VMIN] = 1;
  t.c_cc[VTIME] = 0;
  cfsetispeed(&t, B38400);
  cfsetospeed(&t, B38400);
  tcsetattr(fd, TCSANOW, &t);
  struct winsize w = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
  ioctl(fd, TIOCSWINSZ, &w);
}

// A descriptor above 2 for the same file (close-on-exec), closing FD; -1 on failure.
static int above_stdio(int fd) {
  if (fd < 0 || fd > 2) return fd;
  int above = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  close(fd);
  return above;
}

static void set_nonblocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

// The program's file, args, env and cwd, as the child needs them.
struct program {
  char *file, *cwd, *path;
  char **argv, **envp;
};

static int program_args(napi_env env, napi_value *a, struct program *p) {
  memset(p, 0, sizeof *p);
  p->file = string_arg(env, a[0]);
  p->cwd = string_arg(env, a[3]);
  p->argv = p->file ? string_array(env, a[1], p->file) : NULL;
  p->envp = string_array(env, a[2], NULL);
  p->path = p->argv && p->envp ? resolve(p->file, p->envp) : NULL;
  if (p->cwd && p->argv && p->envp && p->path) return 0;
  napi_throw_type_error(env, NULL, "file, args, env and cwd must be strings without NUL bytes");
  return -1;
}

static void program_free(struct program *p) {
  if (!p->argv) free(p->file);
  free(p->path);
  free(p->cwd);
  free_array(p->argv, 0);
  free_array(p->envp, 0);
}

// "cannot start FILE (STEP): <why>", thrown.
static void throw_start_error(napi_env env, const char *file, const char *step, int err) {
  char what[600];
  snprintf(what, sizeof what, "cannot start %.400s (%s)", file, step);
  throw_error(env, what, err);
}

// A user or group id argument: -1 (or undefined) for no change, else 0 to 2^32-2. Never read as
// an int32: an id of 2^31 or more would wrap to a negative number, which means "no change".
static int id_arg(napi_env env, napi_value v, int64_t *out) {
  napi_valuetype t;
  double d;
  *out = -1;
  if (napi_typeof(env, v, &t) != napi_ok) return -1;
  if (t == napi_undefined) return 0;
  if (t != napi_number || napi_get_value_double(env, v, &d) != napi_ok) return -1;
  if (d == -1) return 0;
  if (d != (double)(int64_t)d || d < 0 || d > 4294967294.0) return -1;
  *out = (int64_t)d;
  return 0;
}

// The uid and gid arguments at A[0] and A[1]: 0 with *SET saying whether to switch, or -1 with an
// exception thrown (an id out of range, or one without the other).
static int ids_args(napi_env env, napi_value *a, int *set, uid_t *uid, gid_t *gid) {
  int64_t u, g;
  if (id_arg(env, a[0], &u) != 0 || id_arg(env, a[1], &g) != 0 || (u < 0) != (g < 0)) {
    napi_throw_type_error(env, NULL, "uid and gid must both be -1, or both be ids from 0 to 4294967294");
    return -1;
  }
  *set = u >= 0;
  *uid = (uid_t)(u < 0 ? 0 : u);
  *gid = (gid_t)(g < 0 ? 0 : g);
  // Without root, switching to the ids this process already has changes nothing (and setgroups
  // would fail): the config allows the bastion's own user only when told to.
  if (*set && geteuid() != 0 && *uid == getuid() && *gid == getgid()) *set = 0;
  return 0;
}

// Starts the program; its pid, or -1 with an exception thrown (no child is left behind).
static pid_t start(napi_env env, struct program *p, const int fds[3], int ctty, int setids, uid_t uid, gid_t gid) {
  if (!p->path[0]) {
    throw_start_error(env, p->file, "exec", ENOENT);
    return -1;
  }
  // No descriptor is at or above the soft limit (Linux's own cap, fs.nr_open, is 2^20 unless raised).
  struct rlimit nofile;
  int maxfd = 65535;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur > 0) maxfd = nofile.rlim_cur > (1 << 20) ? (1 << 20) - 1 : (int)nofile.rlim_cur - 1;
  void *stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    throw_error(env, "cannot start the program", errno);
    return -1;
  }
  struct child c = {.path = p->path, .argv = p->argv, .envp = p->envp, .cwd = p->cwd, .fds = {fds[0], fds[1], fds[2]}, .ctty = ctty, .setids = setids, .uid = uid, .gid = gid, .maxfd = maxfd, .err = 0, .step = 0};
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  // Returns once the child has exec'd or exited (CLONE_VFORK).
  pid_t pid = clone(child_main, (char *)stack + CHILD_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &c);
  int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  munmap(stack, CHILD_STACK);
  if (pid < 0) {
    throw_error(env, "cannot start the program", clone_errno);
    return -1;
  }
  if (c.err != 0) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    throw_start_error(env, p->file, STEPS[c.step < 9 ? c.step : 0], c.err);
    return -1;
  }
  return pid;
}

// A thread that waits for PID and then calls ONEXIT(code, signal) on the JS thread; 0, or -1 with
// an exception thrown after killing and reaping the program (nothing would hear of its exit).
static int watch(napi_env env, pid_t pid, napi_value onexit) {
  struct waiter *w = calloc(1, sizeof *w);
  napi_value resource;
  napi_create_string_utf8(env, "spawn.exit", NAPI_AUTO_LENGTH, &resource);
  int err = ENOMEM;
  if (w && napi_create_threadsafe_function(env, onexit, NULL, resource, 0, 1, NULL, NULL, NULL, call_onexit, &w->tsfn) == napi_ok) {
    w->pid = pid;
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    err = pthread_create(&th, &attr, wait_for, w);
    pthread_attr_destroy(&attr);
    if (err == 0) return 0;
    napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
  }
  free(w);
  kill(pid, SIGKILL);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  throw_error(env, "cannot watch the program", err);
  return -1;
}

static void set_int(napi_env env, napi_value obj, const char *name, int value) {
  napi_value v;
  napi_create_int32(env, value, &v);
  napi_set_named_property(env, obj, name, v);
}

static napi_value Fork(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value a[11];
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok || argc != 11) {
    napi_throw_type_error(env, NULL, "Usage: fork(file, args, env, cwd, cols, rows, uid, gid, utf8, helperPath, onexit)");
    return NULL;
  }
  int32_t cols = 80, rows = 24;
  bool utf8 = true;
  napi_get_value_int32(env, a[4], &cols);
  napi_get_value_int32(env, a[5], &rows);
  napi_get_value_bool(env, a[8], &utf8);
  int setids;
  uid_t uid;
  gid_t gid;
  if (ids_args(env, a + 6, &setids, &uid, &gid) != 0) return NULL;

  napi_value result = NULL;
  struct program p;
  int master = -1, slave = -1;
  char name[128];
  if (program_args(env, a, &p) != 0) goto out;
  master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0 || ptsname_r(master, name, sizeof name) != 0) {
    throw_error(env, "cannot open a pty", errno);
    goto out;
  }
  // Never 0-2 itself (a bastion started with one of them closed): dup2 onto itself would keep close-on-exec.
  slave = above_stdio(open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (slave < 0) {
    throw_error(env, "cannot open the pty's terminal", errno);
    goto out;
  }
  set_termios(slave, utf8, cols, rows);
  const int fds[3] = {slave, slave, slave};
  pid_t pid = start(env, &p, fds, 1, setids, uid, gid);
  if (pid < 0) goto out;
  set_nonblocking(master);
  if (watch(env, pid, a[10]) != 0) goto out;

  napi_value v;
  napi_create_object(env, &result);
  set_int(env, result, "fd", master);
  set_int(env, result, "pid", pid);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, result, "pty", v);
  set_int(env, result, "slave", slave);
  master = slave = -1;  // the caller's now

out:
  if (slave >= 0) close(slave);
  if (master >= 0) close(master);
  program_free(&p);
  return result;
}

static napi_value Spawn(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value a[7];
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok || argc != 7) {
    napi_throw_type_error(env, NULL, "Usage: spawn(file, args, env, cwd, uid, gid, onexit)");
    return NULL;
  }
  int setids;
  uid_t uid;
  gid_t gid;
  if (ids_args(env, a + 4, &setids, &uid, &gid) != 0) return NULL;

  napi_value result = NULL;
  struct program p;
  // pairs[i][0] is the parent's end, pairs[i][1] the child's.
  int pairs[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
  if (program_args(env, a, &p) != 0) goto out;
  for (int i = 0; i < 3; i++) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pairs[i]) != 0) {
      throw_error(env, "cannot make the program's pipes", errno);
      goto out;
    }
    pairs[i][1] = above_stdio(pairs[i][1]);
    if (pairs[i][1] < 0) {
      throw_error(env, "cannot make the program's pipes", errno);
      goto out;
    }
  }
  // The parent reads only from stdout and stderr and writes only to stdin; the child, the other way round.
  shutdown(pairs[0][0], SHUT_RD);
  shutdown(pairs[1][0], SHUT_WR);
  shutdown(pairs[2][0], SHUT_WR);
  const int fds[3] = {pairs[0][1], pairs[1][1], pairs[2][1]};
  pid_t pid = start(env, &p, fds, 0, setids, uid, gid);
  if (pid < 0) goto out;
  for (int i = 0; i < 3; i++) set_nonblocking(pairs[i][0]);
  if (watch(env, pid, a[6]) != 0) goto out;

  napi_create_object(env, &result);
  set_int(env, result, "pid", pid);
  set_int(env, result, "stdin", pairs[0][0]);
  set_int(env, result, "stdout", pairs[1][0]);
  set_int(env, result, "stderr", pairs[2][0]);
  for (int i = 0; i < 3; i++) pairs[i][0] = -1;  // the caller's now

out:
  for (int i = 0; i < 3; i++)
    for (int k = 0; k < 2; k++)
      if (pairs[i][k] >= 0) close(pairs[i][k]);
  program_free(&p);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "fork", NAPI_AUTO_LENGTH, Fork, NULL, &fn);
  napi_set_named_property(env, exports, "fork", fn);
  napi_create_function(env, "spawn", NAPI_AUTO_LENGTH, Spawn, NULL, &fn);
  napi_set_named_property(env, exports, "spawn", fn);
  return exports;
}
