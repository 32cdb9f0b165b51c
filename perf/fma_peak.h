/* The machine's fp32 FMA peak, measured (perf/fma_peak.c). */
#ifndef FRACTAL_PERF_FMA_PEAK_H
#define FRACTAL_PERF_FMA_PEAK_H

/* GFLOP/s of a tight FMA loop on the widest vectors the CPU has (AVX-512F, else AVX2+FMA) on `threads`
 * threads at once; 0 where neither exists. */
double fma_peak_gflops(int threads);
/* The vectors that loop uses: "AVX-512F", "AVX2" or "none". */
const char *fma_peak_isa(void);

#endif
