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

// RUBICON_EXACT_TYPES selects what Vitis HLS compiles (__SYNTHESIS__): constant tables and counters at
// their exact ap_int widths. Defined alone, it lets g++ compile and run that branch (the ap_types
// headers of the C simulations cannot be compiled with __SYNTHESIS__ itself).
#if defined(__SYNTHESIS__) && !defined(RUBICON_EXACT_TYPES)
#define RUBICON_EXACT_TYPES
#endif

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

// Threshold styles (the node attribute thresholdStyle): both give the same count for sorted
// thresholds; they differ in hardware.
enum ThresholdStyle { THR_PARALLEL = 0, THR_SEARCH = 1 };

constexpr unsigned clog2(unsigned long n) { return n <= 1 ? 0 : 1 + clog2((n + 1) / 2); }

// Binary search over LEVELS sorted thresholds: D = clog2(LEVELS + 1) stages, stage s reading the
// one threshold at (count so far) + 2^s - 1 and comparing once. Pipelined, that is D comparators
// and D single-word reads per output instead of LEVELS of each. Exact for non-decreasing thresholds
// (a probe past the last level counts as not reached).
template <unsigned LEVELS, typename TA, typename TT>
inline int threshold_search(const TA &acc, const TT *thr) {
#pragma HLS INLINE
    constexpr unsigned D = clog2(LEVELS + 1);
    unsigned count = 0;
    for (int s = int(D) - 1; s >= 0; s--) {
#pragma HLS UNROLL
        const unsigned probe = count + (1u << s) - 1;
        if (probe < LEVELS && acc >= thr[probe]) count += 1u << s;
    }
    return int(count);
}

template <unsigned STYLE, unsigned LEVELS, typename TA, typename TT>
inline int threshold(const TA &acc, const TT *thr) {
#pragma HLS INLINE
    return STYLE == THR_SEARCH ? threshold_search<LEVELS>(acc, thr) : threshold_count<LEVELS>(acc, thr);
}

// Packed DSP read-out: a packed weight sum_i w_i 2^(i*G) (a constant the code generator packs)
// times a shared x, or the sum of such products along a DSP chain, holds LANES signed values G bits
// apart. Each lies strictly inside (-2^(G-1), 2^(G-1)), so lane i is the G bits at i*G read as
// signed plus the sign of everything below it (bit i*G - 1): the borrow the lower lanes took.
template <unsigned G>
inline long long packed_lane(long long product, unsigned lane) {
#pragma HLS INLINE
    const long long field = (product >> (lane * G)) & ((1LL << G) - 1);
    const long long value = field >= (1LL << (G - 1)) ? field - (1LL << G) : field;
    return lane == 0 ? value : value + ((product >> (lane * G - 1)) & 1);
}

// A counter over [0, N]: as wide as its range in synthesis (no 32/64-bit counters the estimates
// do not count), a native integer in the C simulations (speed).
#ifdef RUBICON_EXACT_TYPES
template <unsigned long N>
using counter_t = ap_uint<(clog2(N + 1) > 0 ? clog2(N + 1) : 1)>;
#else
template <unsigned long N>
using counter_t = unsigned long;
#endif

// The beats of one chunk: next() counts one and is true at the chunk's last (then starts again).
template <unsigned long BEATS>
struct ChunkBeats {
    counter_t<BEATS> beat = 0;
    bool next() {
#pragma HLS INLINE
        if (++beat < BEATS) return false;
        beat = 0;
        return true;
    }
};

// Nested loop counters of a chunk, innermost first, each wrapping at its limit; true when
// all wrap together, i.e. the iteration just done was the chunk's last.
template <unsigned A, unsigned B, typename CA, typename CB>
inline bool advance(CA &a, CB &b) {
#pragma HLS INLINE
    if (++a < A) return false;
    a = 0;
    if (++b < B) return false;
    b = 0;
    return true;
}

template <unsigned A, unsigned B, unsigned C, typename CA, typename CB, typename CC>
inline bool advance(CA &a, CB &b, CC &c) {
#pragma HLS INLINE
    if (++a < A) return false;
    a = 0;
    return advance<B, C>(b, c);
}

}  // namespace rubicon
#endif
