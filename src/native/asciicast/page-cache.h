#ifndef ASCIICAST_PAGE_CACHE_H
#define ASCIICAST_PAGE_CACHE_H
#include <node_api.h>

napi_value DropCache(napi_env env, napi_callback_info info);

#endif
