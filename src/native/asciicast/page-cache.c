// dropCache(fd, offset, length): tells the kernel that a spool file's bytes in that range, already
// written and fsynced, will not be read again soon (posix_fadvise POSIX_FADV_DONTNEED), so their
// page-cache pages go back to the allocator at once. Returns 0, or the error number (the advice is
// only advice: the recorder goes on either way). Throws a TypeError for arguments that are not an
// fd and a non-negative range.
//
// Why: a recording is written once and read back later, once or twice (an upload, the final
// gzip), and bulk output is six bytes of asciicast per NUL. Left in the cache, every megabyte
// written takes fresh pages; on this project's VM a fresh page costs several times a recycled one
// (docs/benchmarks.md, ninth round), and the writes of a 500 MB flood took more CPU than the rest
// of the recording put together.
#include <node_api.h>
#include <fcntl.h>
#include <stdint.h>
#include "page-cache.h"

napi_value DropCache(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], result;
  int32_t fd = -1;
  int64_t offset = -1, length = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 ||
      napi_get_value_int64(env, argv[1], &offset) != napi_ok || offset < 0 ||
      napi_get_value_int64(env, argv[2], &length) != napi_ok || length < 0) {
    napi_throw_type_error(env, NULL, "dropCache(fd, offset, length) takes a file descriptor and a non-negative range");
    return NULL;
  }
  int rc = length == 0 ? 0 : posix_fadvise(fd, (off_t)offset, (off_t)length, POSIX_FADV_DONTNEED);
  napi_create_int32(env, rc, &result);
  return result;
}
