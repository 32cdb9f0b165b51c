/* The machine's fp32 FMA peak, measured (perf/fma_peak.c). */
#ifndef FRACTAL_PERF_FMA_PEAK_H
#define FRACTAL_PERF_FMA_PEAK_H

/* GFLOP/s of a tight AVX2 FMA loop on `threads` threads at once; 0 where AVX2/FMA are missing. */
double fma_peak_gflops(int threads);

#endif
