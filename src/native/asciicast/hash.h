#ifndef ASCIICAST_HASH_H
#define ASCIICAST_HASH_H
#include <node_api.h>

napi_value HashNew(napi_env env, napi_callback_info info);
napi_value HashUpdate(napi_env env, napi_callback_info info);
napi_value HashDigest(napi_env env, napi_callback_info info);

#endif
