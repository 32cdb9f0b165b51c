# Compiler flags are part of the determinism contract (docs/numerics.md, "Ground rules"; numerics f32-v1).
# They are set here and attached to every target through fr_contract(); users do not choose them.
#   C:    no contraction of a*b+c into fma, no fast-math, ISO float evaluation (FLT_EVAL_METHOD 0).
#         -fno-trapping-math: floating-point exceptions are never unmasked, so an operation cannot trap,
#         and the compiler may compute both sides of a conditional and select (if-conversion): that is
#         what lets it vectorise the dmath functions. It changes no value: every operation is still the
#         same correctly rounded one, lane by lane (tests/dmath_vector.c compares vectorised and scalar
#         code on every input).
#   C++:  the same (only the emulated CUDA build compiles C++: kernels/cuda/*.cu and the emulator).
#   CUDA: no fmad contraction, no flush-to-zero, IEEE division and square root.
# tests/contract.sh checks that every compile line in compile_commands.json carries these flags.

set(CMAKE_C_STANDARD 11)
set(CMAKE_C_STANDARD_REQUIRED ON)
set(CMAKE_C_EXTENSIONS OFF)

foreach(flag_var CMAKE_C_FLAGS CMAKE_C_FLAGS_RELEASE CMAKE_C_FLAGS_DEBUG CMAKE_C_FLAGS_RELWITHDEBINFO
                 CMAKE_CUDA_FLAGS CMAKE_CUDA_FLAGS_RELEASE CMAKE_CXX_FLAGS CMAKE_CXX_FLAGS_RELEASE
                 CMAKE_CXX_FLAGS_DEBUG CMAKE_CXX_FLAGS_RELWITHDEBINFO)
  if("${${flag_var}}" MATCHES "fast-math|Ofast|use_fast_math|fmad=true|ftz=true|prec-div=false|prec-sqrt=false")
    message(FATAL_ERROR "${flag_var}='${${flag_var}}' breaks the determinism contract (no fast-math style flags)")
  endif()
endforeach()

set(FR_C_CONTRACT_FLAGS -ffp-contract=off -fno-fast-math -fno-math-errno -fno-trapping-math)
if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
  list(APPEND FR_C_CONTRACT_FLAGS -fexcess-precision=standard)
endif()
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|i.86)$")
  list(APPEND FR_C_CONTRACT_FLAGS -msse2 -mfpmath=sse)
endif()
set(FR_CXX_CONTRACT_FLAGS -ffp-contract=off -fno-fast-math -fno-math-errno -fno-trapping-math) # g++: no -fexcess-precision=standard
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|i.86)$")
  list(APPEND FR_CXX_CONTRACT_FLAGS -msse2 -mfpmath=sse)
endif()
set(FR_CUDA_CONTRACT_FLAGS --fmad=false -ftz=false -prec-div=true -prec-sqrt=true)
set(FR_WARN_FLAGS -Wall -Wextra -Wshadow -Wno-unused-parameter)
if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
  list(APPEND FR_WARN_FLAGS -Wno-format-truncation) # names are built with snprintf into ample buffers
endif()

function(fr_contract target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:C>:${FR_C_CONTRACT_FLAGS} ${FR_WARN_FLAGS}>
    $<$<COMPILE_LANGUAGE:CXX>:${FR_CXX_CONTRACT_FLAGS} ${FR_WARN_FLAGS}>
    $<$<COMPILE_LANGUAGE:CUDA>:${FR_CUDA_CONTRACT_FLAGS}>)
endfunction()
