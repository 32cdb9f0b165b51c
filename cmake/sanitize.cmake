# Sanitizer and fuzzing builds (docs/fuzzing.md): their flags go on every C and C++ target, next to the
# determinism contract's (fr_contract), which they leave as they are.
#   -DFRACTAL_SANITIZE=address  AddressSanitizer and UndefinedBehaviorSanitizer; any report ends the process
#   -DFRACTAL_SANITIZE=thread   ThreadSanitizer
#   -DFRACTAL_FUZZ=ON           clang: the libFuzzer targets of tests/fuzz, with ASan and UBSan; everything
#                               else is built with coverage instrumentation for them
set(FRACTAL_SANITIZE "" CACHE STRING "Sanitizer build: address (ASan + UBSan), thread (TSan), or empty for none")
set_property(CACHE FRACTAL_SANITIZE PROPERTY STRINGS "" address thread)
option(FRACTAL_FUZZ "Build the libFuzzer targets in tests/fuzz (needs clang; implies ASan + UBSan)" OFF)

if(NOT FRACTAL_SANITIZE MATCHES "^(|address|thread)$")
  message(FATAL_ERROR "FRACTAL_SANITIZE='${FRACTAL_SANITIZE}': want address, thread or nothing")
endif()
if(NOT FRACTAL_SANITIZE AND NOT FRACTAL_FUZZ)
  return()
endif()
if("${CMAKE_C_FLAGS} ${CMAKE_CXX_FLAGS}" MATCHES "-fsanitize")
  message(FATAL_ERROR "CMAKE_C_FLAGS or CMAKE_CXX_FLAGS already hold -fsanitize: use those or "
                      "FRACTAL_SANITIZE/FRACTAL_FUZZ, not both")
endif()
if(FR_HAVE_CUDA AND NOT FR_CUDA_EMU)
  message(FATAL_ERROR "Sanitizer and fuzz builds are for the host code: configure them with -DFRACTAL_CUDA=off or "
                      "emu (nvcc's host code and the CUDA runtime are not instrumented; compute-sanitizer checks the "
                      "device, docs/cuda.md)")
endif()
if(FRACTAL_SANITIZE STREQUAL "thread")
  if(FRACTAL_FUZZ)
    message(FATAL_ERROR "FRACTAL_FUZZ builds with AddressSanitizer; it cannot be combined with FRACTAL_SANITIZE=thread")
  endif()
  if(FR_CUDA_EMU)
    # Its fibers switch stacks by hand (kernels/cuda/emu/emu_fiber.cc); TSan would need __tsan_create_fiber
    # and __tsan_switch_to_fiber at every switch, and the emulator annotates them for ASan only.
    message(FATAL_ERROR "FRACTAL_SANITIZE=thread cannot check the emulated CUDA build (FRACTAL_CUDA=emu): the "
                        "emulator's fibers are not annotated for ThreadSanitizer")
  endif()
endif()

set(FR_SAN_COMPILE -fno-omit-frame-pointer)
if(FRACTAL_SANITIZE STREQUAL "thread")
  list(APPEND FR_SAN_COMPILE -fsanitize=thread)
  set(FR_SAN_LINK -fsanitize=thread)
else() # address, or FRACTAL_FUZZ
  list(APPEND FR_SAN_COMPILE -fsanitize=address,undefined -fno-sanitize-recover=undefined)
  set(FR_SAN_LINK -fsanitize=address,undefined)
endif()
if(FRACTAL_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang" OR (CMAKE_CXX_COMPILER_LOADED AND NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang"))
    message(FATAL_ERROR "FRACTAL_FUZZ needs clang with libFuzzer (the compiler is ${CMAKE_C_COMPILER_ID}): configure "
                        "with -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ (Debian: apt-get install clang)")
  endif()
  include(CheckCSourceCompiles)
  set(CMAKE_REQUIRED_FLAGS -fsanitize=fuzzer)
  check_c_source_compiles("int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }" FR_LIBFUZZER_LINKS)
  unset(CMAKE_REQUIRED_FLAGS)
  if(NOT FR_LIBFUZZER_LINKS)
    message(FATAL_ERROR "clang cannot link -fsanitize=fuzzer: install libFuzzer (Debian: apt-get install "
                        "libclang-rt-dev, or the libclang-rt-N-dev of your clang N)")
  endif()
  list(APPEND FR_SAN_COMPILE -fsanitize=fuzzer-no-link) # coverage for the fuzzer; tests/fuzz links libFuzzer
endif()
add_compile_options("$<$<COMPILE_LANGUAGE:C,CXX>:${FR_SAN_COMPILE}>")
add_link_options(${FR_SAN_LINK})
message(STATUS "Fractal sanitizers: ${FR_SAN_COMPILE}")
