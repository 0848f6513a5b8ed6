{
  # The CPU build of the addon: what `npm install` (node-gyp-build) and prebuildify
  # compile. The source list and BLAS flags come from native/gyp/config.cjs, so this file
  # and CMakeLists.txt (the CUDA build) always compile the same native sources.
  "targets": [
    {
      "target_name": "transformer_fusion",
      "sources": ["<!@(node native/gyp/config.cjs sources)"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "<!@(node native/gyp/config.cjs defines)"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags": ["-fexceptions", "-Wno-psabi", "<!@(node native/gyp/config.cjs cflags)"],
      "cflags_cc": ["-fexceptions", "-frtti"],
      "libraries": ["<!@(node native/gyp/config.cjs libs)"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "MACOSX_DEPLOYMENT_TARGET": "11.0"
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "ExceptionHandling": 1 }
      }
    }
  ]
}
