# The native addon behind deadbolt's interprocess locks (src/file/addon.ts is
# its only loader). Build: `npx node-gyp-build` (or `npx node-gyp rebuild`);
# output: build/Release/deadbolt.node. Prebuilt binaries for other targets can
# ship later in prebuilds/<platform>-<arch>/ with no code change.
#
# C++ exceptions are disabled (node-gyp's default -fno-exceptions), so
# node-addon-api is used with NAPI_DISABLE_CPP_EXCEPTIONS: errors are thrown as
# pending JavaScript exceptions and checked explicitly.
# NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS: a worker thread that is terminated
# while it is inside the addon cannot take an exception any more; without it,
# node-addon-api turns that into a fatal error of the whole process.
{
  "targets": [
    {
      "target_name": "deadbolt",
      "sources": [
        "native/addon.cc",
        "native/lock_dir.cc",
        "native/directory.cc",
        "native/wait_pool.cc",
        "native/grant.cc",
        "native/js_error.cc",
        "native/wake_signal.cc",
        "native/thread_locks.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"
      ],
      "cflags": ["-Wall", "-Wextra", "-fvisibility=hidden"],
      "cflags_cc": ["-Wall", "-Wextra", "-fvisibility=hidden"],
      "conditions": [
        ["OS=='linux'", {
          "defines": ["_GNU_SOURCE"],
          "libraries": ["-lpthread"]
        }],
        ["OS=='mac'", {
          "xcode_settings": {
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "MACOSX_DEPLOYMENT_TARGET": "11.0"
          }
        }]
      ]
    }
  ]
}
