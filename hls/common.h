// Shared types of the kernel library: stream words, the per-cycle status, and the run loop.
//
// Every kernel is a struct whose step() is one iteration of an II=1 loop, i.e. one clock
// cycle: it checks that the words it needs are there (input not empty) and that it may
// emit (output not full), and then either does the whole iteration or nothing. The same
// step() serves two callers: the synthesizable loop that Vitis HLS
// pipelines (flow/codegen writes one `while (k.chunks_done < n) k.step(...)` loop per node),
// and the cycle simulator (hls/sim/), which steps every kernel once per clock against
// bounded FIFOs. A stream is any type with empty(), full(), read(), write().
#ifndef RUBICON_COMMON_H
#define RUBICON_COMMON_H

#include <cstdint>
#include <ap_int.h>
#include <hls_stream.h>

namespace rubicon {

// N elements of type T travelling together in one stream beat (FINN's folded word).
template <typename T, unsigned N>
struct Word {
    T v[N];
};

enum Status { FIRED = 0, STARVED = 1, BLOCKED = 2, FINISHED = 3 };

// Multi-threshold activation: how many of the LEVELS sorted thresholds the accumulator
// reaches, plus the output bias (FINN's MultiThreshold). Unrolled into LEVELS comparators.
template <unsigned LEVELS, typename TA, typename TT>
inline int threshold_count(const TA &acc, const TT *thr) {
#pragma HLS INLINE
    int count = 0;
    for (unsigned l = 0; l < LEVELS; l++) {
#pragma HLS UNROLL
        count += (acc >= thr[l]) ? 1 : 0;
    }
    return count;
}

// Nested loop counters of a chunk, innermost first, each wrapping at its limit; true when
// all wrap together, i.e. the iteration just done was the chunk's last.
template <unsigned A, unsigned B>
inline bool advance(unsigned &a, unsigned &b) {
#pragma HLS INLINE
    if (++a < A) return false;
    a = 0;
    if (++b < B) return false;
    b = 0;
    return true;
}

template <unsigned A, unsigned B, unsigned C>
inline bool advance(unsigned &a, unsigned &b, unsigned &c) {
#pragma HLS INLINE
    if (++a < A) return false;
    a = 0;
    return advance<B, C>(b, c);
}

}  // namespace rubicon
#endif
